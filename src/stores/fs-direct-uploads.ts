/**
 * Direct uploads into a filesystem store: the browser PUTs the bytes to this app's upload
 * endpoint (`directUploadEndpoint()` of `objection-imageattach/express`) at a URL signed over the
 * upload's id, size, type and expiry; the bytes land in `<root>/.uploads/<id>` (written as
 * `<id>.part`, then linked into place), a dot-folder that `staticServer()`/`serveStore()` never
 * serve and that `listFiles()` never lists as an image.
 */
import { link, mkdir, open, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ImageNotFoundError, InvalidArgumentError, StoreError, UploadError } from '../errors.js';
import { macOf, verifyMac } from '../util/hmac.js';
import { removeIfPresent } from '../util/temp-files.js';
import {
  checkUploadId,
  type DirectUploadOptions,
  type DirectUploads,
  type DirectUploadTarget,
  resolveDirectUploadOptions,
  type StagedUploadStat,
  type UploadInstructions,
} from './direct-uploads.js';

/** A filesystem store's `directUploads` option. */
export interface FileSystemDirectUploadOptions extends DirectUploadOptions {
  /**
   * The URL (a path such as `/uploads/direct`, or absolute) where the app mounts
   * `directUploadEndpoint(store)`; upload URLs are `<endpoint>/<id>?…`. Default `/__uploads__`.
   */
  endpoint?: string;
}

/** The signed query of an upload URL, as the endpoint reads it back. */
export interface UploadUrlQuery {
  size: number;
  type: string;
  /** Epoch seconds. */
  expires: number;
  signature: string;
}

/** What checking an upload URL finds. */
export type UploadUrlCheck = 'valid' | 'forged' | 'expired';

const PURPOSE = 'objection-imageattach fs-upload v1';

export class FileSystemDirectUploads implements DirectUploads {
  readonly tag: string;
  readonly secrets: readonly string[];
  /** The staging folder: `<root>/.uploads`. */
  readonly dir: string;
  /** The endpoint's URL, without a trailing slash. */
  readonly endpoint: string;

  /** @throws InvalidArgumentError naming the bad option */
  constructor(root: string, options: FileSystemDirectUploadOptions) {
    const { secrets, tag } = resolveDirectUploadOptions(options, 'fs', root);
    this.secrets = secrets;
    this.tag = tag;
    this.dir = path.join(root, '.uploads');
    const endpoint = options.endpoint ?? '/__uploads__';
    if (typeof endpoint !== 'string' || !/^(https?:\/\/[^/?#\s]+)?(\/[A-Za-z0-9._~-]+)+\/?$/.test(endpoint)) {
      throw new InvalidArgumentError(
        'options.directUploads.endpoint',
        'a URL path such as "/uploads/direct", or an absolute http(s) URL',
        endpoint,
      );
    }
    this.endpoint = endpoint.replace(/\/$/, '');
  }

  stagingKey(id: string): string {
    checkUploadId(id);
    return `.uploads/${id}`;
  }

  /** The path of upload `id`'s bytes. @throws InvalidArgumentError for a malformed id */
  pathOf(id: string): string {
    checkUploadId(id);
    return path.join(this.dir, id);
  }

  async presign(target: DirectUploadTarget): Promise<UploadInstructions> {
    checkUploadId(target.id);
    const expires = Math.floor(target.expiresAt.getTime() / 1000);
    const signature = macOf(this.secrets[0]!, this.signedFields(target.id, target.size, target.type, expires));
    const query = new URLSearchParams({
      size: String(target.size),
      type: target.type,
      expires: String(expires),
      signature,
    });
    return { method: 'PUT', url: `${this.endpoint}/${target.id}?${query}`, headers: { 'Content-Type': target.type } };
  }

  /** Checks an upload URL's signature (constant time, every secret), then its expiry. */
  checkUploadUrl(id: string, query: UploadUrlQuery, now = Date.now()): UploadUrlCheck {
    const fields = this.signedFields(id, query.size, query.type, query.expires);
    if (!verifyMac(this.secrets, fields, query.signature)) return 'forged';
    return query.expires * 1000 <= now ? 'expired' : 'valid';
  }

  private signedFields(id: string, size: number, type: string, expires: number): string[] {
    return [PURPOSE, id, String(size), type, String(expires)];
  }

  /**
   * Writes `body` as upload `id`'s bytes: into `<id>.part` (created exclusively), then linked as
   * `<id>` (which fails if it exists), so a second upload of one id is refused whether it comes
   * during the first or after it, and a reader never sees a partial file.
   * @throws UploadError `ERR_UPLOAD_ALREADY_RECEIVED` (409) for a second upload, `ERR_UPLOAD_MISMATCH`
   *   (400) when the body is not `size` bytes; StoreError when the disk fails
   */
  async receive(id: string, body: Readable, size: number): Promise<void> {
    const final = this.pathOf(id);
    const part = `${final}.part`;
    if (await exists(final)) {
      body.destroy();
      throw alreadyReceived(id);
    }
    let handle;
    try {
      await mkdir(this.dir, { recursive: true });
      handle = await open(part, 'wx');
    } catch (error) {
      body.destroy();
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw alreadyReceived(id);
      throw writeFailure(part, error);
    }
    try {
      await pipeline(body, handle.createWriteStream());
      const written = (await stat(part)).size;
      if (written !== size) {
        throw new UploadError(
          'ERR_UPLOAD_MISMATCH',
          `Expected an upload body of ${size} bytes (as signed) but ${written} came`,
          { statusCode: 400, data: { id, expected: size, received: written } },
        );
      }
      try {
        await link(part, final);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw alreadyReceived(id);
        throw writeFailure(final, error);
      }
    } finally {
      if (!body.destroyed) body.destroy();
      await removeIfPresent(part);
    }
  }

  async stat(id: string): Promise<StagedUploadStat | null> {
    const file = this.pathOf(id);
    try {
      const info = await stat(file);
      return info.isFile() ? { size: info.size, modifiedAt: info.mtime } : null;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw failure(file, error);
    }
  }

  async open(id: string): Promise<Readable> {
    const file = this.pathOf(id);
    const handle = await open(file, 'r').catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new ImageNotFoundError(`No upload ${id} has arrived`, { cause: error, data: { id } });
      }
      throw failure(file, error);
    });
    return handle.createReadStream();
  }

  async delete(id: string): Promise<void> {
    const file = this.pathOf(id);
    for (const name of [file, `${file}.part`]) {
      try {
        await unlink(name);
      } catch (error) {
        // Idempotent: a file already gone is the state wanted.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw failure(name, error);
      }
    }
  }
}

function alreadyReceived(id: string): UploadError {
  return new UploadError('ERR_UPLOAD_ALREADY_RECEIVED', `Upload ${id} has been received already`, {
    statusCode: 409,
    data: { id },
  });
}

function writeFailure(file: string, error: unknown): StoreError {
  return new StoreError('ERR_STORE_WRITE', `Writing ${file} failed: ${(error as Error).message}`, {
    cause: error,
    data: { path: file },
  });
}

function failure(file: string, error: unknown): StoreError {
  return new StoreError('ERR_STORE_UNAVAILABLE', `Filesystem store failed at ${file}: ${(error as Error).message}`, {
    cause: error,
    data: { path: file },
  });
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw failure(file, error);
  }
}

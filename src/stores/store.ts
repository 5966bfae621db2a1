/**
 * The Store contract: what every storage backend implements, and what callers use.
 *
 * Implementers write four small methods over an {@link ImageKey} (`putFile`, `getFile`, `getUrl`,
 * `deleteFile`) plus `statFile`/`listFiles` for migration and verification; callers use `store`,
 * `open`, `locate` and `delete` over an image (a key plus `original` and `created_at`).
 * Files move as streams, never as whole-file buffers.
 */
import { type FileHandle, open, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ImageNotFoundError, InvalidArgumentError } from '../errors.js';
import * as check from '../util/check.js';
import { removeIfPresent } from '../util/temp-files.js';
import { type ImageKey, type NormalizedKey, normalizeKey, type StoredImage, withTimestamp } from './keys.js';
import type { DirectUploads } from './direct-uploads.js';
import type { StagingArea } from './staging.js';

/** A byte range, both ends inclusive (as `range-parser` and HTTP's `Range` have it). */
export interface ByteRange {
  start: number;
  end: number;
}

export interface PutFileOptions {
  /**
   * True when the file can be made again from another one (a thumbnail): a store may keep it in a
   * cheaper, less durable class. Originals are never reproducible.
   */
  reproducible: boolean;
  /**
   * For `putLocalFile`: the file is the caller's to give away. A store may move it into place
   * rather than copy it (a filesystem store renames a file made at its {@link Store.stagingPath});
   * either way it is gone once the call succeeds. Default false.
   */
  move?: boolean;
  /** For `putLocalFile`: the file's size in bytes, when the caller knows it (the store need not read it then). */
  size?: number;
}

/** What a store knows of a stored file without reading it. */
export interface FileStat {
  size: number;
  /** Last modification, where the backend keeps one. */
  modifiedAt?: Date;
  /**
   * Set when the file was found under another extension of its type than the expected one
   * (`.tif` for `.tiff`): it reads, but its URL names the expected one, which only a server that
   * accepts both names (`staticServer()`, the store middleware) answers with it.
   */
  extension?: string;
}

/**
 * The base of every store. Subclass it and implement the abstract methods; the caller methods
 * are written once, here.
 *
 * Keys are validated before an implementation runs (as SQLAlchemy-ImageAttach's `Store` does):
 * by the caller methods here, and by the library wherever it calls an implementer method itself
 * (see `checked-calls.ts`). A key with a missing or non-integer `objectId`, a bad `objectType`,
 * size or mimetype is refused with `InvalidArgumentError` (`ERR_UNKNOWN_MIMETYPE` for a type
 * outside the table), and the implementation receives the key normalised (`objectId` a `bigint`).
 * An implementer method called directly gets the key as it is given. Every implementer method must
 * reject a missing file with `ImageNotFoundError`, and never leave a partial file visible under the
 * final name.
 */
export abstract class Store {
  /**
   * Writes `stream` as the file of `key`, atomically: a failed or aborted write leaves nothing
   * behind, and an existing file is replaced only once the new one is complete.
   * @throws StoreError when the backend or the input stream fails (the cause attached)
   */
  abstract putFile(key: ImageKey, stream: Readable, options: PutFileOptions): Promise<void>;

  /**
   * Opens the file of `key` for reading, the whole of it or `range`. The promise settles once the
   * file is known to exist.
   * @throws ImageNotFoundError when there is no such file
   */
  abstract getFile(key: ImageKey, range?: ByteRange): Promise<Readable>;

  /** The URL of the file of `key`: computation only, no I/O, no check that the file exists. */
  abstract getUrl(key: ImageKey): string;

  /** Removes the file of `key`. Idempotent: a missing file is not an error. */
  abstract deleteFile(key: ImageKey): Promise<void>;

  /** The size of the file of `key`, or `null` when there is none. */
  abstract statFile(key: ImageKey): Promise<FileStat | null>;

  /** Every image file the store holds (for verification and orphan listing), in no set order. */
  abstract listFiles(): AsyncIterable<NormalizedKey>;

  /**
   * The local path of the file of `key`, for stores that keep files on this machine: image
   * processing then reads the file directly (faster than a stream, and sharp can shrink JPEGs
   * while decoding). Other stores leave it `undefined`. No I/O; the file may not exist.
   */
  localPath(_key: ImageKey): string | undefined {
    return undefined;
  }

  /**
   * A path where a caller may make a file it means to store as the file of `key` with
   * `putLocalFile(key, path, { move: true })`, so that storing it is a rename in place, not a copy:
   * a temp name beside the final file, for stores that keep files on this machine. Others leave
   * it `undefined` (the default). The folder exists once this resolves; the caller removes the
   * file if it does not store it.
   */
  async stagingPath(_key: ImageKey): Promise<string | undefined> {
    return undefined;
  }

  /**
   * Where a replacement of a committed file waits until its transaction commits, so the committed
   * row keeps its bytes at every instant (see `staging.ts`). The built-in stores have one; a store
   * without one (the default) is overwritten in place, the replaced bytes kept aside by the
   * writing process to put back on rollback.
   */
  get staging(): StagingArea | undefined {
    return undefined;
  }

  /**
   * Direct uploads: where a browser may send an upload's bytes straight to the store, and how the
   * claim reads them back (see `direct-uploads.ts`). Present when the store was made with its
   * `directUploads` option; `undefined` (the default) otherwise.
   */
  get directUploads(): DirectUploads | undefined {
    return undefined;
  }

  /**
   * Stores the local file at `file` as the file of `key`, and returns its size. The default
   * streams it through `putFile`; filesystem stores copy it in the kernel. Attaching a local file
   * and migration from a store with local files use this.
   * @throws ImageNotFoundError when there is no file at `file`
   */
  async putLocalFile(key: ImageKey, file: string, options: PutFileOptions): Promise<number> {
    // Opened here, not by the stream: a file gone by now rejects this call, rather than failing
    // the stream's own open later, as an 'error' event no one may be listening to (a `putFile`
    // that throws before reading would leave it so, and the process would crash).
    const handle = await openLocalFile(file);
    let size: number;
    try {
      size = (await handle.stat()).size;
    } catch (error) {
      await handle.close();
      throw error;
    }
    const stream = handle.createReadStream();
    try {
      await this.putFile(key, stream, options);
    } finally {
      // A `putFile` that failed without reading it must not leave the file open.
      if (!stream.destroyed) stream.destroy();
    }
    if (options.move === true) await removeIfPresent(file);
    return size;
  }

  /**
   * Stores the data of `image`: a stream, or a buffer for small in-memory images.
   * @throws InvalidArgumentError for a bad key (a stream given is ended)
   */
  async store(image: StoredImage, data: Readable | Uint8Array): Promise<void> {
    let key: NormalizedKey;
    try {
      key = validKeyOf(image);
    } catch (error) {
      // A stream handed over is the store's to end, whatever happens.
      if (data instanceof Readable) data.destroy();
      throw error;
    }
    await this.putFile(key, toReadable(data), { reproducible: !image.original });
  }

  /** Opens the file of `image`. @throws ImageNotFoundError; InvalidArgumentError for a bad key */
  async open(image: StoredImage, range?: ByteRange): Promise<Readable> {
    return this.getFile(validKeyOf(image), range);
  }

  /** The URL of `image` with the cache-busting `_ts` query appended. @throws InvalidArgumentError for a bad key */
  locate(image: StoredImage): string {
    return withTimestamp(this.getUrl(validKeyOf(image)), image.created_at);
  }

  /** Removes the file of `image` (idempotent). @throws InvalidArgumentError for a bad key */
  async delete(image: StoredImage): Promise<void> {
    return this.deleteFile(validKeyOf(image));
  }
}

/** The key of `image`, validated and normalised. @throws InvalidArgumentError */
export function validKeyOf(image: ImageKey): NormalizedKey {
  return normalizeKey(keyOf(image));
}

/** The five identity fields of an image (an entity's getters included), as a plain key. */
export function keyOf(image: ImageKey): ImageKey {
  check.object(image, 'image', 'an image object');
  const { objectType, objectId, width, height, mimetype } = image;
  return { objectType, objectId, width, height, mimetype };
}

/** A local file opened for reading. @throws ImageNotFoundError when there is none */
function openLocalFile(file: string): Promise<FileHandle> {
  return open(file, 'r').catch((error: unknown) => missingLocalFile(file, error));
}

/**
 * The size of a local file.
 * @throws ImageNotFoundError when there is none
 */
export async function localFileSize(file: string): Promise<number> {
  return (await stat(file).catch((error: unknown) => missingLocalFile(file, error))).size;
}

/** `error` as an ImageNotFoundError when it says `file` is not there; rethrown as it is otherwise. */
function missingLocalFile(file: string, error: unknown): never {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  // The message may reach a page: it names the file, the full path is in data.
  throw new ImageNotFoundError(`No local image file named ${path.basename(file)}`, {
    cause: error,
    data: { path: file },
  });
}

/**
 * Checks a byte range given to `getFile`.
 * @throws InvalidArgumentError naming the bad end
 */
export function validateRange(range: ByteRange): void {
  const { start, end } = range ?? ({} as ByteRange);
  check.integerAtLeast(start, 0, 'range.start');
  if (!Number.isSafeInteger(end) || end < start) {
    throw new InvalidArgumentError('range.end', `an integer >= range.start (${start})`, end);
  }
}

function toReadable(data: Readable | Uint8Array): Readable {
  if (data instanceof Readable) return data;
  if (data instanceof Uint8Array) return Readable.from([data], { objectMode: false });
  throw new InvalidArgumentError('data', 'a Readable stream or a Buffer', data);
}

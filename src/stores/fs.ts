/**
 * Filesystem stores, in SQLAlchemy-ImageAttach's layout: `<root>/<objectType>/<id mod 1000>/<floor(id/1000)>/<id>.<w>x<h><ext>`.
 *
 * - {@link FileSystemStore}: files under a folder that another server (nginx, a CDN) exposes at `baseUrl`.
 * - `HttpExposedFileSystemStore` (`http-exposed-fs.ts`): files this app serves itself under `/<prefix>/`.
 *
 * Every filesystem call goes through {@link FileSystemStoreBase.pathFor}, the one place that turns a
 * key into a path and checks that the path stays inside the root.
 */
import { randomBytes } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import { access, copyFile, type FileHandle, mkdir, open, readdir, rename, rmdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ImageAttachError, ImageNotFoundError, InvalidArgumentError, StoreError } from '../errors.js';
import * as check from '../util/check.js';
import { removeIfPresent } from '../util/temp-files.js';
import { FileSystemDirectUploads, type FileSystemDirectUploadOptions } from './fs-direct-uploads.js';
import { FileSystemStagingArea } from './fs-staging.js';
import { checkHttpUrl } from './http-url.js';
import type { StagingArea } from './staging.js';
import {
  alternateNames,
  fileSystemSegments,
  type ImageKey,
  keyFromFileSystemSegments,
  type NormalizedKey,
} from './keys.js';
import { type ByteRange, type FileStat, localFileSize, type PutFileOptions, Store, validateRange } from './store.js';

/** What the filesystem stores share: the layout, atomic writes, reads, deletes and listing. */
export abstract class FileSystemStoreBase extends Store {
  /** The absolute root folder. */
  readonly root: string;
  private readonly stagingArea: FileSystemStagingArea;
  private readonly uploads: FileSystemDirectUploads | undefined;

  /** @throws InvalidArgumentError for a bad `root` or `directUploads` option */
  constructor(root: unknown, argument: string, directUploads?: FileSystemDirectUploadOptions) {
    super();
    check.folderPath(root, argument);
    this.root = path.resolve(root);
    this.uploads = directUploads === undefined ? undefined : new FileSystemDirectUploads(this.root, directUploads);
    this.stagingArea = new FileSystemStagingArea(this.root, {
      pathFor: (key) => this.pathFor(key),
      writeAt: (file, data) => this.writeAt(file, data),
    });
  }

  /** The path segments of `key` under the root, as URL paths use them. */
  protected segmentsFor(key: ImageKey): string[] {
    return fileSystemSegments(key);
  }

  /**
   * The absolute path of the file of `key`. The key is validated first, and the result is checked
   * to stay inside the root, so no key can name a file elsewhere.
   */
  pathFor(key: ImageKey): string {
    const file = path.join(this.root, ...this.segmentsFor(key));
    if (!file.startsWith(this.root + path.sep)) {
      throw new InvalidArgumentError('key', `a key whose file lies inside ${this.root}`, file);
    }
    return file;
  }

  /**
   * The path of the file of `key`, and then where the same file may lie under another extension
   * of its type (a `.tif` that SQLAlchemy-ImageAttach on Python 3.6 wrote for `.tiff`).
   */
  private candidatePaths(key: ImageKey): string[] {
    const file = this.pathFor(key);
    return [file, ...alternateNames(file, key.mimetype)];
  }

  /** The path of `key`, or of the file under another extension of its type when only that exists. */
  override localPath(key: ImageKey): string {
    const [file, ...others] = this.candidatePaths(key);
    // Synchronous (localPath does no I/O otherwise), and only for the rare types that have others.
    if (others.length === 0 || existsSync(file!)) return file!;
    return others.find((other) => existsSync(other)) ?? file!;
  }

  async putFile(key: ImageKey, stream: Readable, _options: PutFileOptions): Promise<void> {
    let file: string;
    try {
      file = this.pathFor(key);
    } catch (error) {
      // The input is ours to end, a bad key included.
      stream.destroy();
      throw error;
    }
    await this.writeStreamAt(file, stream);
  }

  private async writeStreamAt(file: string, stream: Readable): Promise<void> {
    try {
      await this.writeAtomically(file, async (temp) => {
        const handle = await open(temp, 'wx');
        await pipeline(stream, handle.createWriteStream());
      });
    } finally {
      // The input is ours to end: a stream left open on failure would hold its source open.
      if (!stream.destroyed) stream.destroy();
    }
  }

  /**
   * Copies a local file in the kernel (`copyFile`: no bytes through JavaScript), atomically, unless
   * a subclass refines `putFile`: then that is honoured, through the default.
   */
  override async putLocalFile(key: ImageKey, file: string, options: PutFileOptions): Promise<number> {
    if (this.putFile !== FileSystemStoreBase.prototype.putFile) return super.putLocalFile(key, file, options);
    const final = this.pathFor(key);
    if (options.move === true && path.dirname(path.resolve(file)) === path.dirname(final)) {
      const size = options.size ?? (await localFileSize(file));
      // Made at stagingPath(): a rename in one folder, as atomic as writeAtomically's own.
      try {
        await rename(file, final);
      } catch (error) {
        // A file that is not there is the caller's mistake (ImageNotFoundError), not the store's.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') await localFileSize(file);
        throw new StoreError('ERR_STORE_WRITE', `Writing ${final} failed: ${(error as Error).message}`, {
          cause: error,
          data: { path: final },
        });
      }
      return size;
    }
    const size = await localFileSize(file);
    await this.writeAtomically(final, (temp) => copyFile(file, temp, constants.COPYFILE_EXCL));
    if (options.move === true) await removeIfPresent(file);
    return size;
  }

  /** A temp name beside the file of `key` (its folder made), like the ones writes use: see {@link Store.stagingPath}. */
  override async stagingPath(key: ImageKey): Promise<string> {
    const file = this.pathFor(key);
    await mkdir(path.dirname(file), { recursive: true });
    return tempNameBeside(file);
  }

  /** Staging writes bytes as this class does: a subclass with its own `putFile` gets none. */
  override get staging(): StagingArea | undefined {
    return this.putFile === FileSystemStoreBase.prototype.putFile ? this.stagingArea : undefined;
  }

  /** Uploads sent by browsers to `directUploadEndpoint()`, staged in `<root>/.uploads` (with the `directUploads` option). */
  override get directUploads(): FileSystemDirectUploads | undefined {
    return this.uploads;
  }

  /** Writes `data` (a stream, or a local file's path to copy in the kernel) at `file`, atomically. */
  private async writeAt(file: string, data: Readable | string): Promise<void> {
    if (typeof data !== 'string') return this.writeStreamAt(file, data);
    await localFileSize(data);
    await this.writeAtomically(file, (temp) => copyFile(data, temp, constants.COPYFILE_EXCL));
  }

  /**
   * Runs `write(temp)` to make a temp file beside the final one, then renames it into place. On
   * any failure the temp file, and the folders this call created, are removed.
   */
  private async writeAtomically(file: string, write: (temp: string) => Promise<void>): Promise<void> {
    const dir = path.dirname(file);
    // A temp name in the same folder, so the final rename is atomic (same filesystem).
    const temp = tempNameBeside(file);
    let createdDir: string | undefined;
    try {
      // Two tries: a concurrent delete may prune the fresh folder between mkdir and the write.
      for (let attempt = 1; ; attempt++) {
        createdDir = (await mkdir(dir, { recursive: true })) ?? createdDir;
        try {
          await write(temp);
          break;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt === 2) throw error;
          await removeIfPresent(temp);
        }
      }
      await rename(temp, file);
    } catch (error) {
      await removeIfPresent(temp);
      if (createdDir !== undefined) await this.pruneEmptyFolders(dir, createdDir);
      if (error instanceof ImageAttachError) throw error;
      if (await isReadOnlyFailure(error, dir)) {
        throw new StoreError(
          'ERR_STORE_READ_ONLY',
          `The filesystem store at ${this.root} is read-only for this process (cannot write ${file}: ${(error as Error).message})`,
          {
            cause: error,
            statusCode: 503,
            data: { path: file, root: this.root },
          },
        );
      }
      throw new StoreError('ERR_STORE_WRITE', `Writing ${file} failed: ${(error as Error).message}`, {
        cause: error,
        data: { path: file },
      });
    }
  }

  async getFile(key: ImageKey, range?: ByteRange): Promise<Readable> {
    const [file, ...others] = this.candidatePaths(key);
    if (range !== undefined) validateRange(range);
    let handle;
    try {
      handle = await open(file!, 'r');
    } catch (error) {
      handle = (error as NodeJS.ErrnoException).code === 'ENOENT' ? await openFirst(others) : undefined;
      if (handle === undefined) throw this.normalizeError(error, file!);
    }
    return handle.createReadStream(range === undefined ? {} : { start: range.start, end: range.end });
  }

  async deleteFile(key: ImageKey): Promise<void> {
    let removed = false;
    for (const file of this.candidatePaths(key)) {
      try {
        await unlink(file);
        removed = true;
      } catch (error) {
        // Idempotent delete: a file already gone is the state we wanted.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw this.normalizeError(error, file);
      }
    }
    if (removed)
      await this.pruneEmptyFolders(path.dirname(this.pathFor(key)), path.join(this.root, this.segmentsFor(key)[0]!));
  }

  /** The size of the file of `key` (found under another extension of its type if need be: `extension` says which). */
  async statFile(key: ImageKey): Promise<FileStat | null> {
    for (const file of this.candidatePaths(key)) {
      try {
        const info = await stat(file);
        if (!info.isFile()) return null;
        const found: FileStat = { size: info.size, modifiedAt: info.mtime };
        return file === this.pathFor(key) ? found : { ...found, extension: path.extname(file) };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw this.normalizeError(error, file);
      }
    }
    return null;
  }

  async *listFiles(): AsyncIterable<NormalizedKey> {
    let names: string[];
    try {
      names = await readdir(this.root, { recursive: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw this.normalizeError(error, this.root);
    }
    for (const name of names) {
      const key = keyFromFileSystemSegments(name.split(path.sep));
      if (key !== undefined) yield key;
    }
  }

  /**
   * Removes `from` and its parents while they are empty, up to and including `upTo`, so deletes
   * and failed writes leave no empty folders. A folder another writer just filled stays.
   */
  private async pruneEmptyFolders(from: string, upTo: string): Promise<void> {
    for (let dir = from; dir.startsWith(upTo) && dir.startsWith(this.root + path.sep); dir = path.dirname(dir)) {
      try {
        await rmdir(dir);
      } catch {
        // ENOTEMPTY (still in use) or ENOENT (already pruned): either way, stop here.
        return;
      }
    }
  }

  private normalizeError(error: unknown, file: string): Error {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') {
      // The message may reach a page: it names the file inside the store, the full path is in data.
      return new ImageNotFoundError(`No image file at ${path.relative(this.root, file)} in the store`, {
        cause: error,
        data: { path: file },
      });
    }
    return new StoreError('ERR_STORE_UNAVAILABLE', `Filesystem store failed at ${file}: ${(error as Error).message}`, {
      cause: error,
      data: { path: file },
    });
  }
}

export interface FileSystemStoreOptions {
  /** The folder the files go in; created on the first write. */
  path: string;
  /** The public URL of that folder, e.g. `https://static.example.com/images/`. */
  baseUrl: string;
  /** Accept direct uploads from browsers, through `directUploadEndpoint()` (see docs/direct-uploads.md). */
  directUploads?: FileSystemDirectUploadOptions;
}

/**
 * Files in a local folder that some other server exposes at `baseUrl`.
 * @example new FileSystemStore({ path: '/var/www/images', baseUrl: 'https://static.example.com/images/' })
 */
export class FileSystemStore extends FileSystemStoreBase {
  /** The base URL, always ending in `/`. */
  readonly baseUrl: string;

  constructor(options: FileSystemStoreOptions) {
    super(options?.path, 'options.path', options?.directUploads);
    checkHttpUrl(options.baseUrl, 'options.baseUrl');
    this.baseUrl = options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`;
  }

  getUrl(key: ImageKey): string {
    return this.baseUrl + this.segmentsFor(key).map(encodeURIComponent).join('/');
  }
}

/** `.<name>.<random>.tmp` in the folder of `file`: a dot-name, which the static server never serves. */
function tempNameBeside(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * True when a failed write failed for want of write permission: a read-only filesystem or folder
 * (EROFS, EACCES, EPERM), or a folder that could not be created (ENOENT) under an ancestor this
 * process cannot write to.
 */
async function isReadOnlyFailure(error: unknown, dir: string): Promise<boolean> {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') return true;
  if (code !== 'ENOENT') return false;
  for (let ancestor = dir; ; ancestor = path.dirname(ancestor)) {
    try {
      await access(ancestor, constants.F_OK);
    } catch {
      // Not there: its parent is the one that matters.
      if (path.dirname(ancestor) === ancestor) return false;
      continue;
    }
    return access(ancestor, constants.W_OK).then(
      () => false,
      () => true,
    );
  }
}

/** The first of `files` that opens, or `undefined` when none exists. */
async function openFirst(files: string[]): Promise<FileHandle | undefined> {
  for (const file of files) {
    try {
      return await open(file, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return undefined;
}

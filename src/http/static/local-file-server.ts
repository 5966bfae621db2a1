/**
 * Answering a request with one file under a root folder, once a caller knows which file: the part
 * of `staticServer()` after the URL is mapped to a path, shared with `thumbnailRoute()`, which
 * answers with a stored image's bytes. Containment (`file-opener.ts`), the content cache
 * (`content-cache.ts`) and the response itself (`file-response.ts`) are the same for both, so a
 * file served either way carries the same validators and headers and is checked the same way.
 */
import fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { StoreError } from '../../errors.js';
import type { ContentCache } from './content-cache.js';
import { FileOpener, sameIdentity, type Verified } from './file-opener.js';
import { describeFile, type FileFacts, type NextFunction, respond, respondFromMemory } from './file-response.js';
import { canStatSynchronously } from './local-filesystems.js';

/** What to do when there is no regular file to serve inside the root (one function per server, not one per request). */
export type MissingFile = (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void;

export class LocalFileServer {
  private readonly opener: FileOpener<FileFacts>;

  /**
   * @param root absolute, normalised root folder: no file outside it (symlinks resolved) is served
   * @param cacheControl the `Cache-Control` of every answer
   * @param cache the content cache (may be shared by several servers: it is keyed by real path), or null
   */
  constructor(
    readonly root: string,
    private readonly blockSize: number,
    cacheControl: string,
    private readonly cache: ContentCache | null,
  ) {
    this.opener = new FileOpener<FileFacts>(root, (file, stats) => describeFile(file, stats, cacheControl));
  }

  /**
   * Answers `req` with `file` (absolute, lexically inside the root): 200, 206, 304, 412 or 416,
   * HEAD without a body. Calls `missing(req, res, next)` when there is no regular file there inside the root,
   * and `next(StoreError)` when the filesystem fails.
   */
  serve(req: IncomingMessage, res: ServerResponse, next: NextFunction, file: string, missing: MissingFile): void {
    const known = this.cache === null ? undefined : this.opener.peek(file);
    if (known === undefined) return this.fromDisk(req, res, next, file, missing);
    // A file verified before, whose bytes may be in memory. Why a `stat` of the path is as strong
    // as the `open` + `fstat` of the disk path: both follow the path as it is now, symlinks
    // included, to one inode, and both trust that inode only if its identity (device, inode,
    // size, mtime, ctime) is the one verified inside the root: the disk path then reads that
    // inode, this one sends the bytes read from it under that same identity. A path swapped for
    // a symlink (or a folder for a symlinked folder) leads to another inode, or to the same one
    // through a new link, which moves its ctime; either way the identities differ and the
    // request goes through the full check (`realpath` inside the root, `O_NOFOLLOW`) on disk.
    // On a local disk the stat is synchronous (see local-filesystems.ts), elsewhere through the pool.
    if (!canStatSynchronously(known.dev, known.real)) {
      return void fs.stat(file, (error, stats) =>
        this.fromMemory(req, res, next, file, missing, known, error === null ? stats : undefined),
      );
    }
    let stats: fs.Stats | undefined;
    try {
      stats = fs.statSync(file, { throwIfNoEntry: false });
    } catch {
      // ENOTDIR, EACCES…: the disk path decides what to answer.
    }
    this.fromMemory(req, res, next, file, missing, known, stats);
  }

  /** Answers with the bytes kept for `known` if `stats` (taken for this request) shows them current; else from disk. */
  private fromMemory(
    req: IncomingMessage,
    res: ServerResponse,
    next: NextFunction,
    file: string,
    missing: MissingFile,
    known: Verified<FileFacts>,
    stats: fs.Stats | undefined,
  ): void {
    const body = stats !== undefined && sameIdentity(known, stats) ? this.cache!.get(known.real, stats) : undefined;
    if (body === undefined) return this.fromDisk(req, res, next, file, missing);
    try {
      respondFromMemory(req, res, next, file, known.facts, body);
    } catch (thrown) {
      next(thrown);
    }
  }

  /** Opens `file` through the full check and answers from it (or calls `missing`). */
  private fromDisk(
    req: IncomingMessage,
    res: ServerResponse,
    next: NextFunction,
    file: string,
    missing: MissingFile,
  ): void {
    this.opener
      .open(file)
      .then(
        (opened) => {
          if (opened === null) missing(req, res, next);
          else respond(req, res, next, file, opened, this.blockSize, this.cache);
        },
        (error: Error) =>
          next(
            new StoreError('ERR_STORE_UNAVAILABLE', `Opening ${file} failed: ${error.message}`, {
              cause: error,
              data: { path: file },
            }),
          ),
      )
      // Whatever a handler above (or a `next` it called) throws belongs to the app, not to an
      // unhandled rejection.
      .catch(next);
  }
}

/**
 * Opening a file for a static response: the second half of path containment, and the cache that
 * keeps it cheap.
 *
 * A file is served only once its real path (symlinks resolved) is known to lie inside the real
 * root. Resolving that costs two (native) `realpath` calls and a `stat`, so the verdict is remembered per
 * path, together with what the response headers need (ETag, Last-Modified, type), keyed on the
 * file's identity: device, inode, size, mtime and ctime. Each request still opens the file and
 * `fstat`s the descriptor it will read from, so the identity compared is that of the bytes about to
 * be sent: a file rewritten, replaced, or swapped for a symlink to somewhere else has another
 * identity and goes through the full check again. Nothing is remembered for a time, so nothing is
 * ever stale.
 *
 * Threat model: the client is the adversary. A local user able to rewrite the root's folders while
 * a request is between its checks and its `open` is not (Node has no `openat`/`O_BENEATH`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { BoundedMap } from '../../util/bounded-map.js';

const open = promisify(fs.open);
const stat = promisify(fs.stat);
// The native realpath: one system call, where the JavaScript one lstats each path component in turn.
const realpath = promisify(fs.realpath.native);

const { O_RDONLY, O_NONBLOCK = 0, O_NOFOLLOW = 0 } = fs.constants;
/**
 * O_NONBLOCK: opening a FIFO (or a device) for reading must not hang a libuv thread; a regular
 * file ignores the flag. The file type is checked right after, and anything else is refused.
 */
const READ_FLAGS = O_RDONLY | O_NONBLOCK;

/**
 * A file's identity: any write moves mtime and ctime, a rename or a new link moves ctime, a
 * replacement (rename over, or delete and create) changes the inode.
 */
export interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
}

/** What is remembered about a verified file: its identity, and whatever the caller derives from it. */
export interface Verified<T> extends FileIdentity {
  /** The file's real path (symlinks resolved), inside the real root. */
  readonly real: string;
  readonly facts: T;
}

/** An open descriptor of a verified regular file. The caller owns `fd` and must close it. */
export interface OpenedFile<T> {
  readonly fd: number;
  readonly size: number;
  readonly facts: T;
  /** The `fstat` of `fd`, taken for this request. */
  readonly stats: fs.Stats;
  /** The file's real path, inside the real root. */
  readonly real: string;
}

/** What one try of the full check says when the path was replaced during it. */
const REPLACED = Symbol('replaced');
/** Tries of the full check before a path replaced on every one is refused. */
const MAX_ATTEMPTS = 16;

/** Errors that mean "no such file here" rather than "the server is broken". */
const NOT_FOUND_CODES = new Set(['ENOENT', 'ENOTDIR', 'ENAMETOOLONG', 'ELOOP', 'EISDIR']);

export function isNotFoundError(error: unknown): boolean {
  return NOT_FOUND_CODES.has((error as NodeJS.ErrnoException)?.code ?? '');
}

/** Opens files under one root, checking containment and remembering verdicts by file identity. */
export class FileOpener<T> {
  private readonly cache: BoundedMap<string, Verified<T>>;

  /**
   * @param root absolute, normalised root folder (it may not exist yet)
   * @param describe derives the per-file facts to remember (headers), from the path and its stats
   * @param maxEntries how many verified paths to remember; the oldest is forgotten first
   */
  constructor(
    private readonly root: string,
    private readonly describe: (file: string, stats: fs.Stats) => T,
    maxEntries = 4096,
  ) {
    this.cache = new BoundedMap(maxEntries);
  }

  /**
   * What was verified about `file` the last time it was opened, if it is still remembered. It
   * proves nothing about the file now: the caller must compare identities with a fresh stat.
   */
  peek(file: string): Verified<T> | undefined {
    return this.cache.get(file);
  }

  /** Forgets `file`'s verdict, so its next `open` goes through the full check. */
  forget(file: string): void {
    this.cache.delete(file);
  }

  /**
   * Opens `file` (absolute, lexically inside the root) for reading.
   * @returns the open file, or `null` when there is no regular file there inside the root
   * @throws the filesystem's error for anything other than "not found" (EACCES, EMFILE, EIO…)
   */
  async open(file: string): Promise<OpenedFile<T> | null> {
    const known = this.cache.get(file);
    if (known !== undefined) {
      let fd: number;
      try {
        fd = await open(file, READ_FLAGS);
      } catch (error) {
        if (!isNotFoundError(error)) throw error;
        this.cache.delete(file);
        return null;
      }
      let stats: fs.Stats;
      try {
        // Synchronous on purpose: fstat of an open descriptor reads the in-memory inode and does
        // not wait on the disk, and a trip through libuv's thread pool would cost more than it.
        stats = fs.fstatSync(fd);
      } catch (error) {
        closeDescriptor(fd);
        throw error;
      }
      if (sameIdentity(known, stats)) return { fd, size: stats.size, facts: known.facts, stats, real: known.real };
      // Changed since it was verified: forget it and verify afresh.
      closeDescriptor(fd);
      this.cache.delete(file);
    }
    return this.verifyAndOpen(file);
  }

  /**
   * The full check, tried again when the path was replaced between its steps: stores replace a
   * file by renaming a new one over it, and the path then leads to the new inode while the
   * descriptor holds the old one. Either is a whole file, but the check cannot tell a rename from
   * a swap, so it starts over; a path replaced on every try is, at last, not served.
   */
  private async verifyAndOpen(file: string): Promise<OpenedFile<T> | null> {
    for (let attempt = 1; ; attempt++) {
      const opened = await this.verifyAndOpenOnce(file);
      if (opened !== REPLACED) return opened;
      if (attempt === MAX_ATTEMPTS) return null;
    }
  }

  /** Resolve symlinks, insist on the root, open the resolved path, check its type and that the path still leads there. */
  private async verifyAndOpenOnce(file: string): Promise<OpenedFile<T> | null | typeof REPLACED> {
    let real: string;
    let realRoot: string;
    try {
      [real, realRoot] = await Promise.all([realpath(file), realpath(this.root)]);
    } catch (error) {
      if (isNotFoundError(error)) return null;
      throw error;
    }
    if (!isInside(real, realRoot)) return null;

    let fd: number;
    try {
      // `real` has no symlinks left; O_NOFOLLOW refuses one swapped in at the last component since.
      fd = await open(real, READ_FLAGS | O_NOFOLLOW);
    } catch (error) {
      if (isNotFoundError(error)) return null;
      throw error;
    }
    try {
      const stats = fs.fstatSync(fd);
      if (!stats.isFile()) {
        closeDescriptor(fd);
        return null;
      }
      // The path asked for must still lead to the very file opened (no swap between the checks).
      const current = await stat(file);
      if (current.dev !== stats.dev || current.ino !== stats.ino) {
        closeDescriptor(fd);
        return REPLACED;
      }
      const verified: Verified<T> = {
        real,
        dev: stats.dev,
        ino: stats.ino,
        size: stats.size,
        mtimeMs: stats.mtimeMs,
        ctimeMs: stats.ctimeMs,
        facts: this.describe(file, stats),
      };
      this.cache.set(file, verified);
      return { fd, size: stats.size, facts: verified.facts, stats, real };
    } catch (error) {
      closeDescriptor(fd);
      if (isNotFoundError(error)) return null;
      throw error;
    }
  }
}

/** True when `stats` is a regular file with the identity `known` (see {@link FileIdentity}). */
export function sameIdentity(known: FileIdentity, stats: fs.Stats): boolean {
  return (
    known.ino === stats.ino &&
    known.dev === stats.dev &&
    known.size === stats.size &&
    known.mtimeMs === stats.mtimeMs &&
    known.ctimeMs === stats.ctimeMs &&
    stats.isFile()
  );
}

/** True when `real` lies strictly below `realRoot` (`/srv/root-evil` is not inside `/srv/root`). */
function isInside(real: string, realRoot: string): boolean {
  const base = realRoot.endsWith(path.sep) ? realRoot : realRoot + path.sep;
  return real.startsWith(base) && real.length > base.length;
}

/**
 * Closes a descriptor opened read-only, synchronously: closing one does not wait on the disk, and
 * a round trip through libuv's thread pool costs more than the call (bench/README.md, bench/static.ts).
 */
export function closeDescriptor(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch (error) {
    // A failed close of a read-only descriptor loses nothing (no data was written) and the
    // descriptor is released either way; only a system error is expected here.
    if ((error as NodeJS.ErrnoException).code === undefined) throw error;
  }
}

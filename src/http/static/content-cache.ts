/**
 * The bytes of small, hot files, kept in memory by `staticServer()` so a repeat request costs one
 * `stat` and one `res.end(buffer)`: no `open`, no read, no stream, no `close`.
 *
 * Entries are keyed by the file's real path and carry the identity (device, inode, size, mtime,
 * ctime) the bytes were read under. A lookup hands the bytes out only when the caller's fresh
 * stat shows that same identity, so a rewritten, replaced or re-linked file is read again, never
 * served stale. Least recently used entries go first once the total passes `maxBytes`; the total
 * counts what an entry costs in memory, not only its body (see {@link ENTRY_OVERHEAD_BYTES}).
 */
import type fs from 'node:fs';
import { type FileIdentity, sameIdentity } from './file-opener.js';

/** Limits of the content cache; see {@link StaticServerOptions.cache}. */
export interface ContentCacheOptions {
  /**
   * Memory the cache may use, in bytes: each file counts its size, its path's length and
   * {@link ENTRY_OVERHEAD_BYTES}. Default 33554432 (32 MiB).
   */
  maxBytes?: number;
  /** Files larger than this are always read from disk. Default 1048576 (1 MiB). */
  maxFileBytes?: number;
}

/** What the cache holds and how it has done, for monitoring (and for tests). */
export interface ContentCacheStats {
  /** Files held. */
  readonly entries: number;
  /** Bytes counted against `maxBytes`: content, paths and {@link ENTRY_OVERHEAD_BYTES} per entry. */
  readonly bytes: number;
  /** Requests answered from memory. */
  readonly hits: number;
  /** Requests for a file that could be held but was not (first request, or changed since). */
  readonly misses: number;
}

interface Entry extends FileIdentity {
  readonly body: Buffer;
  /** What this entry counts against `maxBytes`. */
  readonly cost: number;
}

/**
 * What one entry costs besides its body and its path: the Map slot, the entry object and its
 * numbers, the Buffer object and its backing store's bookkeeping. Measured at 1,050–1,100 bytes of
 * RSS per entry (100,000 entries of 100 B and 1,000 B on Node 20); counting only the body let a
 * 10 MB bound hold 75 MB.
 */
export const ENTRY_OVERHEAD_BYTES = 1024;

/**
 * How recent an mtime may be for the bytes to be kept. File timestamps tick coarsely (a kernel
 * tick on Linux, 1 s or 2 s on some filesystems), so a second write in the same tick as the one
 * we read after would leave the identity unchanged and the kept bytes stale. Bytes are kept only
 * once their mtime is older than any tick (git's "racily clean" problem, solved the same way);
 * a freshly written file is served from disk until then.
 */
export const RACY_WINDOW_MS = 2000;

export class ContentCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;

  constructor(
    readonly maxBytes: number,
    readonly maxFileBytes: number,
  ) {}

  /** True when a file of `size` bytes would be kept (the caller then reads it whole). */
  fits(size: number): boolean {
    return size <= this.maxFileBytes;
  }

  /**
   * The bytes kept for `real`, when `stats` (a stat taken for this request) shows the identity
   * they were read under; `undefined` otherwise (and a changed entry is dropped).
   */
  get(real: string, stats: fs.Stats): Buffer | undefined {
    const entry = this.entries.get(real);
    if (entry === undefined) return undefined;
    if (!sameIdentity(entry, stats)) {
      this.drop(real, entry);
      return undefined;
    }
    // Map iterates in insertion order: re-inserting makes this the most recently used.
    this.entries.delete(real);
    this.entries.set(real, entry);
    this.hits++;
    return entry.body;
  }

  /**
   * Keeps `body`, read from `real` between two stats `before` and `after` of the open file: it is
   * kept only if they agree (no write during the read) and the mtime is older than
   * {@link RACY_WINDOW_MS}.
   */
  set(real: string, before: fs.Stats, after: fs.Stats, body: Buffer): void {
    this.misses++;
    if (body.length > this.maxFileBytes || body.length !== before.size || !sameIdentity(before, after)) return;
    if (before.mtimeMs > Date.now() - RACY_WINDOW_MS) return;
    const old = this.entries.get(real);
    if (old !== undefined) this.drop(real, old);
    const { dev, ino, size, mtimeMs, ctimeMs } = before;
    const cost = body.length + real.length + ENTRY_OVERHEAD_BYTES;
    this.entries.set(real, { dev, ino, size, mtimeMs, ctimeMs, body: ownMemory(body), cost });
    this.bytes += cost;
    for (const [oldest, entry] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.drop(oldest, entry);
    }
  }

  stats(): ContentCacheStats {
    return { entries: this.entries.size, bytes: this.bytes, hits: this.hits, misses: this.misses };
  }

  private drop(real: string, entry: Entry): void {
    this.entries.delete(real);
    this.bytes -= entry.cost;
  }
}

/**
 * `body` in memory of its own. A small Buffer is usually a slice of Node's shared 8 KiB pool, and
 * keeping the slice would keep the whole slab alive (up to 8 KiB held for a 100-byte file).
 */
function ownMemory(body: Buffer): Buffer {
  if (body.byteOffset === 0 && body.buffer.byteLength === body.length) return body;
  const copy = Buffer.allocUnsafeSlow(body.length);
  body.copy(copy);
  return copy;
}

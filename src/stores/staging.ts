/**
 * Staged writes: a store that can keep the new bytes of a key beside the committed ones until a
 * transaction's outcome is known, then swap them in with one atomic step. The entity layer uses it
 * to replace a file that a committed row points at (same key), so that row keeps its bytes at
 * every instant, a crash included. Each staged file has a durable note (what it is for, and which
 * row commits it), so a later process can finish or undo the work of one that died.
 *
 * Filesystem stores implement it (a hidden folder under the root, a rename into place), and so
 * do S3 stores (a hidden key prefix, a server-side copy into place); others fall back to
 * overwriting with a backup kept by the writing process.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { Readable } from 'node:stream';
import { isAlive } from '../util/temp-files.js';
import type { ImageKey } from './keys.js';

/** What a staged file is for, kept durably beside it. */
export interface StagedNote {
  /** The key the bytes are for (`objectId` as a decimal string). */
  key: { objectType: string; objectId: string; width: number; height: number; mimetype: string };
  /** The row whose commit makes these bytes the key's: its table, its key columns, its `created_at` (ms). */
  row: { table: string; id: Record<string, unknown>; createdAt: number };
  /** True once the writing process gave it up (the outcome of its commit could not be learnt). */
  abandoned?: boolean;
  /** True for a file that can be made again (a thumbnail): a store may keep it in a cheaper class. */
  reproducible?: boolean;
}

/** A staged write as its name tells it (its note is read apart, only when needed). */
export interface StagedEntry {
  token: string;
  /** The process that staged it: its pid, and a random tag telling it from a later process of the same pid. */
  pid: number;
  processTag: string;
  /**
   * The host that staged it ({@link HOST_TAG}), in stores that hosts share (S3): its pid tells
   * nothing on another host. Absent in a store only one host writes (the filesystem).
   */
  host?: string;
  /** When it was staged, where the store tells it. */
  stagedAt?: Date;
}

/** This process's tag in staging tokens (`<pid>-<tag>-<random>`). */
export const PROCESS_TAG = Math.random().toString(16).slice(2, 10).padEnd(8, '0');

/** This host's tag in the tokens of stores that hosts share: 8 hex digits of its name's hash. */
export const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);

/**
 * A store's staging area, its `staging` property (see {@link Store.staging}): where new bytes for a
 * key wait, with their note, until the transaction that wrote them is known to have committed.
 */
export interface StagingArea {
  /** Writes `data` (a stream or a local file's path) as staged bytes for `key`, with `note`; returns its token. */
  stage(key: ImageKey, data: Readable | string, note: StagedNote): Promise<string>;
  /** Moves the staged bytes into place as the file of `key` (atomically), and forgets the note. */
  promote(key: ImageKey, token: string): Promise<void>;
  /** Removes the staged bytes and their note. Idempotent. */
  discard(token: string): Promise<void>;
  /** Marks a staged write as given up by its process, so any process may settle it. */
  abandon(token: string): Promise<void>;
  /** Every staged write in the store (a listing: no note is read). */
  list(): Promise<StagedEntry[]>;
  /**
   * The note of a staged write, `undefined` when it is gone (settled meanwhile), or `'unreadable'`
   * when it is there but cannot be parsed (damaged on disk): nothing then says what its bytes are for.
   */
  readNote(token: string): Promise<StagedNote | 'unreadable' | undefined>;
  /** The staged bytes, as a local file's path or a stream (for reading them back inside their transaction). */
  open(token: string): Promise<Readable | string>;
  /**
   * Removes what processes that are gone left half made (temp files of notes and bytes, bytes
   * without a note), once older than a few minutes; returns how many. Optional: a store whose
   * writes leave nothing half made has nothing to sweep.
   */
  sweepLeftovers?(): Promise<number>;
}

/**
 * True when the process that staged under `pid` and `processTag` is gone: no process of that pid
 * (on this host), or this pid but another tag (a former process, as happens in containers).
 */
export function stagingProcessGone(pid: number, processTag: string): boolean {
  return pid === process.pid ? processTag !== PROCESS_TAG : !isAlive(pid);
}

/** The note's form of a key. */
export function noteKey(key: {
  objectType: string;
  objectId: bigint | number;
  width: number;
  height: number;
  mimetype: string;
}): StagedNote['key'] {
  return {
    objectType: key.objectType,
    objectId: String(key.objectId),
    width: key.width,
    height: key.height,
    mimetype: key.mimetype,
  };
}

/** True when `note` is for `key`. */
export function noteIsFor(note: StagedNote, key: StagedNote['key']): boolean {
  const k = note.key;
  return (
    k.objectType === key.objectType &&
    k.objectId === key.objectId &&
    k.width === key.width &&
    k.height === key.height &&
    k.mimetype === key.mimetype
  );
}

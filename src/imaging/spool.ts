/**
 * Spooling an input stream to a temp file, so its type and size can be read before anything is
 * stored, with memory flat whatever the size (SQLAlchemy-ImageAttach read whole uploads into memory).
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readdir, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { tooLarge } from './probe.js';

const SPOOL_PREFIX = 'objection-imageattach-';
const SPOOL_NAME = /^objection-imageattach-(\d+)-[0-9a-f]{16}\.spool$/;
/** How old a dead process's spool file must be before it is removed (see sweepDeadSpools). */
const STALE_SPOOL_MS = 10 * 60 * 1000;
const swept = new Set<string>();

export interface SpooledFile {
  path: string;
  size: number;
  /** Removes the temp file; safe to call twice. */
  dispose(): Promise<void>;
}

/**
 * Copies `input` to a new temp file, failing with `ERR_IMAGE_TOO_LARGE` as soon as it passes
 * `maxBytes` (the rest is never read). On any failure the temp file is already gone.
 */
export async function spoolToTempFile(input: Readable, maxBytes: number, dir = tmpdir()): Promise<SpooledFile> {
  if (!swept.has(dir)) {
    swept.add(dir);
    void sweepDeadSpools(dir);
  }
  // The pid in the name says whose it is, so a later process can remove it if this one dies.
  const file = path.join(dir, `${SPOOL_PREFIX}${process.pid}-${randomBytes(8).toString('hex')}.spool`);
  let size = 0;
  const cap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      callback(size > maxBytes ? tooLarge(undefined, maxBytes) : null, chunk);
    },
  });
  const dispose = () => removeIfPresent(file);
  try {
    await pipeline(input, cap, createWriteStream(file, { flags: 'wx' }));
  } catch (error) {
    await dispose();
    throw error;
  }
  return { path: file, size, dispose };
}

export async function removeIfPresent(file: string): Promise<void> {
  try {
    await unlink(file);
  } catch (error) {
    // Already removed (dispose called twice, or the write never created it).
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/**
 * Removes the spool files a killed process left in `dir` (its `finally` never ran): those whose
 * process is gone and that are over 10 minutes old. The age guards against a temp folder shared
 * with another pid namespace (a container), where a live process may show as gone from here.
 * Once per folder per process, in the background; failures change nothing.
 */
export async function sweepDeadSpools(dir: string, now = Date.now()): Promise<number> {
  let removed = 0;
  try {
    for (const name of await readdir(dir)) {
      const pid = Number(SPOOL_NAME.exec(name)?.[1]);
      if (!pid || pid === process.pid || isAlive(pid)) continue;
      const file = path.join(dir, name);
      const info = await stat(file).catch(() => undefined);
      if (info === undefined || now - info.mtimeMs < STALE_SPOOL_MS) continue;
      await removeIfPresent(file).then(() => removed++, () => {});
    }
  } catch {
    // An unreadable temp folder: nothing to sweep.
  }
  return removed;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, and belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

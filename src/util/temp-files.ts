/**
 * The library's temp files (spooled inputs, upload bodies, write backups): one naming scheme that
 * carries the owning process's pid, so a later process can sweep what a killed one left behind
 * (its `finally` never ran).
 */
import { randomBytes } from 'node:crypto';
import { readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';

/** What a temp file holds; the name's suffix (`objection-imageattach-<pid>-<hex>.<kind>`). */
export type TempFileKind = 'spool' | 'upload';

const TEMP_NAME = /^objection-imageattach-(\d+)-[0-9a-f]{16,}\.(spool|upload)$/;
/** How old a dead process's temp file must be before it is removed (see sweepDeadTempFiles). */
export const STALE_TEMP_MS = 10 * 60 * 1000;
const swept = new Set<string>();

/** A new, unused temp file path in `dir` for this process: `objection-imageattach-<pid>-<hex>.<kind>`. */
export function tempFilePath(dir: string, kind: TempFileKind): string {
  // The pid in the name says whose it is, so a later process can remove it if this one dies.
  return path.join(dir, `objection-imageattach-${process.pid}-${randomBytes(8).toString('hex')}.${kind}`);
}

/** Sweeps `dir` once per process, in the background (see {@link sweepDeadTempFiles}). */
export function sweepOnce(dir: string): void {
  if (swept.has(dir)) return;
  swept.add(dir);
  void sweepDeadTempFiles(dir);
}

/** Removes `file`; one that is not there (removed already, or never created) is no error. */
export async function removeIfPresent(file: string): Promise<void> {
  try {
    await unlink(file);
  } catch (error) {
    // Already removed, or never created: the wanted state either way.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/**
 * Removes the temp files a killed process left in `dir`: those whose process is gone and that are
 * over 10 minutes old. The age guards against a temp folder shared with another pid namespace (a
 * container), where a live process may show as gone from here. Failures change nothing.
 * @returns how many files were removed
 */
export async function sweepDeadTempFiles(dir: string, now = Date.now()): Promise<number> {
  let removed = 0;
  try {
    for (const name of await readdir(dir)) {
      const pid = Number(TEMP_NAME.exec(name)?.[1]);
      if (!pid || pid === process.pid || isAlive(pid)) continue;
      const file = path.join(dir, name);
      const info = await stat(file).catch(() => undefined);
      if (info === undefined || now - info.mtimeMs < STALE_TEMP_MS) continue;
      await removeIfPresent(file).then(
        () => removed++,
        () => {},
      );
    }
  } catch {
    // An unreadable temp folder: nothing to sweep.
  }
  return removed;
}

/** True while a process of that pid exists (ours to signal or not). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, and belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

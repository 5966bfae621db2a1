/**
 * The staging area of a filesystem store: `<root>/.staging/<pid>-<random>.stage` holds the bytes,
 * `<pid>-<random>.json` the note (see `staging.ts`). A dot-folder, so it is never served nor
 * listed as an image; under the root, so a staged file renames into place on the same filesystem.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { StoreError } from '../errors.js';
import { removeIfPresent, STALE_TEMP_MS } from '../util/temp-files.js';
import type { ImageKey } from './keys.js';
import { PROCESS_TAG, type StagedEntry, type StagedNote, type StagingArea, stagingProcessGone } from './staging.js';

const ENTRY = /^(\d+)-([0-9a-f]+)-([0-9a-f]+)\.json$/;
/** A note's or staged bytes' name, or its temp file's (`<token>.json.<hex>.tmp`, `.<token>.stage.<hex>.tmp`). */
const LEFTOVER = /^\.?(\d+)-([0-9a-f]+)-([0-9a-f]+)\.(json|stage)(\.[0-9a-f]+\.tmp)?$/;

/** What the area borrows from its store: the path of a key, and the store's atomic write. */
export interface FileSystemWrites {
  pathFor(key: ImageKey): string;
  /** Writes `data` (a stream, or a local file's path to copy) at `file`, atomically. */
  writeAt(file: string, data: Readable | string): Promise<void>;
}

export class FileSystemStagingArea implements StagingArea {
  readonly dir: string;

  constructor(
    root: string,
    private readonly store: FileSystemWrites,
  ) {
    this.dir = path.join(root, '.staging');
  }

  async stage(key: ImageKey, data: Readable | string, note: StagedNote): Promise<string> {
    this.store.pathFor(key);
    const token = this.newToken();
    await this.writeNote(token, note);
    try {
      await this.store.writeAt(this.dataPath(token), data);
    } catch (error) {
      await this.discard(token);
      throw error;
    }
    return token;
  }

  private newToken(): string {
    return `${process.pid}-${PROCESS_TAG}-${randomBytes(8).toString('hex')}`;
  }

  /** The staged bytes' path: a filesystem store reads them in place. */
  async open(token: string): Promise<string> {
    return this.dataPath(token);
  }

  private dataPath(token: string): string {
    return path.join(this.dir, `${token}.stage`);
  }

  private notePath(token: string): string {
    return path.join(this.dir, `${token}.json`);
  }

  /**
   * Writes the note (before the bytes: a note without bytes is harmless, bytes without a note are
   * lost), through a temp file that a failure (a full disk) removes.
   * @throws StoreError `ERR_STORE_WRITE`
   */
  private async writeNote(token: string, note: StagedNote): Promise<void> {
    const file = this.notePath(token);
    const temp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await mkdir(this.dir, { recursive: true });
      await writeFile(temp, JSON.stringify(note));
      await rename(temp, file);
    } catch (error) {
      await removeIfPresent(temp).catch(() => {
        // Left for sweepLeftovers, once this process is gone.
      });
      throw new StoreError('ERR_STORE_WRITE', `Writing the staging note ${file} failed: ${(error as Error).message}`, {
        cause: error,
        data: { path: file },
      });
    }
  }

  /**
   * Renames the staged bytes to the file of `key`, then removes the note. Bytes already gone
   * (another process settled it): nothing to move.
   * @throws StoreError `ERR_STORE_WRITE`
   */
  async promote(key: ImageKey, token: string): Promise<void> {
    const file = this.store.pathFor(key);
    for (let attempt = 1; ; attempt++) {
      try {
        await mkdir(path.dirname(file), { recursive: true });
        await rename(this.dataPath(token), file);
        break;
      } catch (error) {
        const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
        // Either the bytes are gone, or a delete pruned the fresh folder before the rename: again.
        if (missing && !(await exists(this.dataPath(token)))) break;
        if (!missing || attempt === 3)
          throw new StoreError(
            'ERR_STORE_WRITE',
            `Moving staged bytes ${this.dataPath(token)} to ${file} failed: ${(error as Error).message}`,
            { cause: error, data: { path: file } },
          );
      }
    }
    await removeIfPresent(this.notePath(token));
  }

  async discard(token: string): Promise<void> {
    await removeIfPresent(this.dataPath(token));
    await removeIfPresent(this.notePath(token));
  }

  async abandon(token: string): Promise<void> {
    const note = await this.readNote(token);
    if (note !== undefined && note !== 'unreadable') await this.writeNote(token, { ...note, abandoned: true });
  }

  async list(): Promise<StagedEntry[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const entries: StagedEntry[] = [];
    for (const name of names) {
      const match = ENTRY.exec(name);
      if (!match) continue;
      entries.push({ token: `${match[1]}-${match[2]}-${match[3]}`, pid: Number(match[1]), processTag: match[2]! });
    }
    return entries;
  }

  /** The note; `undefined` when it is gone (settled meanwhile); `'unreadable'` when it cannot be parsed. */
  async readNote(token: string): Promise<StagedNote | 'unreadable' | undefined> {
    let text: string;
    try {
      text = await readFile(this.notePath(token), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new StoreError(
        'ERR_STORE_UNAVAILABLE',
        `Reading the staging note ${this.notePath(token)} failed: ${(error as Error).message}`,
        { cause: error },
      );
    }
    try {
      const note = JSON.parse(text) as StagedNote;
      return isNote(note) ? note : 'unreadable';
    } catch {
      // Damaged on disk (notes are renamed into place whole, so no crash cuts one short).
      return 'unreadable';
    }
  }

  /**
   * Removes what processes that are gone left half made: temp files of notes and of staged bytes
   * (a crash or a full disk mid-write), and staged bytes without a note. Only once older than
   * STALE_TEMP_MS: a process of another host (or pid namespace) sharing the folder looks gone from
   * here while it writes. Failures change nothing.
   * @returns how many files were removed
   */
  async sweepLeftovers(now = Date.now()): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return 0;
    }
    const notes = new Set(names.filter((name) => ENTRY.test(name)));
    let removed = 0;
    for (const name of names) {
      const match = LEFTOVER.exec(name);
      if (!match || !stagingProcessGone(Number(match[1]), match[2]!)) continue;
      // A note, or bytes with their note, are an entry: settling decides those.
      const temp = match[5] !== undefined;
      if (!temp && (match[4] === 'json' || notes.has(`${match[1]}-${match[2]}-${match[3]}.json`))) continue;
      const file = path.join(this.dir, name);
      const info = await stat(file).catch(() => undefined);
      if (info === undefined || now - info.mtimeMs < STALE_TEMP_MS) continue;
      await removeIfPresent(file).then(
        () => removed++,
        () => {},
      );
    }
    return removed;
  }
}

/** A parsed note has the shape settling relies on. */
function isNote(note: unknown): note is StagedNote {
  const n = note as Partial<StagedNote> | null;
  return (
    typeof n === 'object' &&
    n !== null &&
    typeof n.key === 'object' &&
    n.key !== null &&
    typeof n.key.objectType === 'string' &&
    typeof n.key.objectId === 'string' &&
    typeof n.row === 'object' &&
    n.row !== null &&
    typeof n.row.table === 'string' &&
    typeof n.row.id === 'object' &&
    n.row.id !== null &&
    typeof n.row.createdAt === 'number'
  );
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/**
 * The staging area of a filesystem store: `<root>/.staging/<pid>-<random>.stage` holds the bytes,
 * `<pid>-<random>.json` the note (see `staging.ts`). A dot-folder, so it is never served nor
 * listed as an image; under the root, so a staged file renames into place on the same filesystem.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { removeIfPresent } from '../util/temp-files.js';
import { PROCESS_TAG, type StagedEntry, type StagedNote } from './staging.js';

const ENTRY = /^(\d+)-([0-9a-f]+)-([0-9a-f]+)\.json$/;

export class FileSystemStagingArea {
  readonly dir: string;

  constructor(root: string) {
    this.dir = path.join(root, '.staging');
  }

  newToken(): string {
    return `${process.pid}-${PROCESS_TAG}-${randomBytes(8).toString('hex')}`;
  }

  dataPath(token: string): string {
    return path.join(this.dir, `${token}.stage`);
  }

  private notePath(token: string): string {
    return path.join(this.dir, `${token}.json`);
  }

  /** Writes the note (before the bytes: a note without bytes is harmless, bytes without a note are lost). */
  async writeNote(token: string, note: StagedNote): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const temp = `${this.notePath(token)}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temp, JSON.stringify(note));
    await rename(temp, this.notePath(token));
  }

  /** Renames the staged bytes to `file`, then removes the note. Bytes already gone (another process settled it): nothing to move. */
  async promote(token: string, file: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await mkdir(path.dirname(file), { recursive: true });
        await rename(this.dataPath(token), file);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        // Either the bytes are gone, or a delete pruned the fresh folder before the rename: again.
        if (!(await exists(this.dataPath(token)))) break;
        if (attempt === 3) throw error;
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
    if (note !== undefined) await this.writeNote(token, { ...note, abandoned: true });
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

  async readNote(token: string): Promise<StagedNote | undefined> {
    try {
      return JSON.parse(await readFile(this.notePath(token), 'utf8')) as StagedNote;
    } catch {
      // Gone (settled meanwhile) or cut short by a crash while it was written: not an entry.
      return undefined;
    }
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

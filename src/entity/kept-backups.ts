/**
 * Putting a replaced file back after a rollback, on a store that cannot stage (a store of your
 * own: the built-in ones stage, so their committed files are never overwritten before a commit).
 * The put is tried a few times; when it still fails, the backup (the only copy of the committed
 * bytes) is not left in the temp spool, which a sweep empties, but moved to a folder of its own
 * with a note, the warning `ERR_RESTORE_FAILED` names it, and {@link restoreKeptBackups} puts it
 * back later, once the store answers again.
 */
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { ImageAttachError } from '../errors.js';
import { type ImageKey, toDate } from '../stores/keys.js';
import type { StagedNote } from '../stores/staging.js';
import type { Store } from '../stores/store.js';
import { removeIfPresent } from '../util/temp-files.js';
import { isSqlite, sqliteWriteLock } from './locks.js';
import { checked } from '../stores/checked-calls.js';

/** Attempts of one put-back, and the pauses between them. */
const PAUSES_MS = [100, 500];

/** Where kept backups wait: beside the temp spool, out of the sweep's reach. */
export function keptBackupsDir(): string {
  return path.join(tmpdir(), 'objection-imageattach-kept');
}

/** A kept backup's note: the staged-write note of the rolled-back row, and the store it is for. */
interface KeptNote extends StagedNote {
  store: string;
}

/** Runs `work`, again after a pause when it fails, up to three times in all. */
export async function withRetries<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= PAUSES_MS.length) throw error;
      await new Promise((resolve) => setTimeout(resolve, PAUSES_MS[attempt]));
    }
  }
}

/**
 * Puts the committed bytes kept at `backup` back as the file of `key`, whose rolled-back write
 * `note` describes (`undefined` for a file of no image row). Never throws: what cannot be put
 * back is kept and reported (`ERR_RESTORE_FAILED`, a process warning).
 */
export async function putBack(
  store: Store,
  key: ImageKey,
  backup: string,
  note: StagedNote | undefined,
): Promise<void> {
  try {
    await withRetries(() => checked(store).putFile(key, createReadStream(backup), { reproducible: false }));
    await removeIfPresent(backup);
    return;
  } catch (error) {
    let where = backup;
    try {
      if (note !== undefined) where = await keep(store, backup, note);
    } catch {
      // It stays in the spool, under the name the warning gives.
    }
    const name = `${key.objectType}/${key.objectId} ${key.width}x${key.height} ${key.mimetype}`;
    process.emitWarning(
      new ImageAttachError(
        'ERR_RESTORE_FAILED',
        `objection-imageattach: putting back the committed file of ${name} after a rollback failed (${PAUSES_MS.length + 1} tries: ${(error as Error).message}); ` +
          `the store holds the rolled-back bytes until it is put back. The committed bytes are kept at ${where}: ` +
          'restoreKeptBackups({ store, knex }) puts them back once the store answers',
        { cause: error, data: { path: where } },
      ),
    );
  }
}

/** Moves the backup into the kept folder, beside its note; returns its new path. */
async function keep(store: Store, backup: string, note: StagedNote): Promise<string> {
  const dir = keptBackupsDir();
  await mkdir(dir, { recursive: true });
  // The time first, so names sort oldest first (see restoreKeptBackups).
  const token = `${Date.now()}-${randomBytes(6).toString('hex')}`;
  const kept = path.join(dir, `${token}.bytes`);
  try {
    await rename(backup, kept);
  } catch {
    // Another filesystem than the spool's: a copy, then the spool's file goes.
    await copyFile(backup, kept);
    await removeIfPresent(backup);
  }
  const full: KeptNote = { ...note, store: storeLabel(store, note) };
  await writeFile(path.join(dir, `${token}.json`), JSON.stringify(full));
  return kept;
}

/** Which store a kept backup is for: its class and where it puts the key, as far as it says. */
function storeLabel(store: Store, note: StagedNote): string {
  let url = '';
  try {
    url = checked(store).getUrl(keyOfNote(note));
  } catch {
    // A store without URLs: its class alone.
  }
  return `${store.constructor.name} ${url}`;
}

/**
 * Puts back the committed bytes that rollbacks could not restore in `store` (see
 * `ERR_RESTORE_FAILED`), asking the database on `knex` first. Each is put back when its row still
 * holds a write older than the rolled-back one (the committed row the bytes belong to); when a
 * newer write committed since, or the row is gone, its bytes are not wanted and are removed.
 * Each runs with its row locked, so a writer of the same image waits.
 * @returns how many were put back, and how many were no longer wanted
 * @throws StoreError when one cannot be put back yet (it stays for the next call)
 */
export async function restoreKeptBackups(options: {
  store: Store;
  knex: Knex;
}): Promise<{ restored: number; discarded: number }> {
  const { store, knex } = options;
  const result = { restored: 0, discarded: 0 };
  // Oldest first: a later rollback of the same key backed up the bytes an earlier one failed to
  // undo, so the first wanted backup of a key holds its committed bytes, and the later ones do not.
  const done = new Set<string>();
  for (const { note, path: bytes } of await listKeptBackups(store)) {
    const id = JSON.stringify(note.key);
    const restored =
      !done.has(id) &&
      (await knex.transaction(async (trx) => {
        if (isSqlite(trx)) await sqliteWriteLock(trx, note.row.table);
        const row = (await trx(note.row.table)
          .where(note.row.id)
          .modify((q) => (isSqlite(trx) ? q : q.forUpdate()))
          .first('created_at')) as { created_at: Date | string | number } | undefined;
        const wanted = row !== undefined && toDate(row.created_at).getTime() < note.row.createdAt;
        if (wanted) await checked(store).putFile(keyOfNote(note), createReadStream(bytes), { reproducible: false });
        return wanted;
      }));
    await removeIfPresent(bytes.replace(/\.bytes$/, '.json'));
    await removeIfPresent(bytes);
    if (restored) {
      done.add(id);
      result.restored++;
    } else result.discarded++;
  }
  return result;
}

/** The backups kept for `store` (see {@link putBack}), oldest first: each one's key, rolled-back row, and file. */
export async function listKeptBackups(store: Store): Promise<Array<{ key: ImageKey; note: StagedNote; path: string }>> {
  const dir = keptBackupsDir();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    // No kept folder: nothing was ever kept.
    return [];
  }
  const kept = [];
  for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
    let note: KeptNote;
    try {
      note = JSON.parse(await readFile(path.join(dir, name), 'utf8')) as KeptNote;
    } catch {
      // Taken by another call meanwhile, or not a note of ours.
      continue;
    }
    if (note.store === storeLabel(store, note))
      kept.push({ key: keyOfNote(note), note, path: path.join(dir, name.replace(/\.json$/, '.bytes')) });
  }
  return kept;
}

function keyOfNote(note: StagedNote): ImageKey {
  return { ...note.key, objectId: BigInt(note.key.objectId) };
}

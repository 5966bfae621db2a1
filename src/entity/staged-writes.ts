/**
 * Settling staged writes (see `stores/staging.ts`) that their process could not finish: it died
 * between staging and promoting, or lost its connection at COMMIT and could not learn the outcome.
 * The database decides: when the row the note names holds the note's `created_at`, that write
 * committed and its bytes go into place; otherwise they are discarded (the committed row keeps the
 * bytes it had). Each is settled in a transaction that locks that row first, so a writer replacing
 * the same image meanwhile is waited for, and its own swap cannot be overtaken.
 */
import type { Knex } from 'knex';
import type { Model } from 'objection';
import { ImageAttachError } from '../errors.js';
import { toDate } from '../stores/keys.js';
import {
  HOST_TAG,
  noteKey,
  PROCESS_TAG,
  type StagedEntry,
  type StagedNote,
  type StagingArea,
  stagingProcessGone,
} from '../stores/staging.js';
import type { Store } from '../stores/store.js';
import { readCreatedAt } from './created-at.js';
import { isSqlite, sqliteWriteLock } from './locks.js';
import { storeTag } from '../util/cache-keys.js';

/** The note of a staged write of `row` (an image entity: its own key). */
export function noteForRow(
  row: Model & {
    objectType: string;
    objectId: bigint;
    width: number;
    height: number;
    mimetype: string;
    created_at: Date;
  },
): StagedNote {
  const cls = row.constructor as typeof Model;
  const columns = ([] as string[]).concat(cls.idColumn);
  const id = Object.fromEntries(columns.map((c) => [c, jsonValue((row as unknown as Record<string, unknown>)[c])]));
  return { key: noteKey(row), row: { table: cls.tableName, id, createdAt: toDate(row.created_at).getTime() } };
}

function jsonValue(value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** What the database says of a write: its row committed, or not. */
export type WriteOutcome = 'committed' | 'not-committed';

/** Reads the committed `created_at` of the note's row in `trx` and compares. */
async function outcomeIn(trx: Knex.Transaction | Knex, note: StagedNote): Promise<WriteOutcome> {
  const createdAt = await readCreatedAt(trx, note.row.table, note.row.id);
  return createdAt?.getTime() === note.row.createdAt ? 'committed' : 'not-committed';
}

/**
 * Asks the database, on a connection of `knex` (not the transaction that wrote), whether the write
 * the note describes committed.
 */
export function committedOutcome(
  knex: Knex,
  note: StagedNote,
  { waitForWriter = false }: { waitForWriter?: boolean } = {},
): Promise<WriteOutcome> {
  if (!waitForWriter || isSqlite(knex)) return outcomeIn(knex, note);
  // A locking read first waits for a writer of the row still at work (MySQL: its uncommitted
  // insert too); the read after it then sees what that writer committed.
  return knex.transaction(async (trx) => {
    await trx(note.row.table).where(note.row.id).forShare().select('created_at');
    return outcomeIn(trx, note);
  });
}

/**
 * Settles one staged write: locks its row (SQLite: the database), checks the note is still there
 * (another settling, in this process or another, may have taken it meanwhile), reads the row again
 * in a statement of its own (PostgreSQL: a fresh snapshot, after any writer that held the lock),
 * then puts the bytes in place or discards them. A note that cannot be read says nothing of what the bytes are for:
 * they are discarded (`'unreadable'`).
 */
async function settle(
  staging: StagingArea,
  knex: Knex,
  entry: StagedEntry,
): Promise<WriteOutcome | 'unreadable' | undefined> {
  const note = await staging.readNote(entry.token);
  // Gone: another process settled it meanwhile.
  if (note === undefined) return undefined;
  if (note === 'unreadable') {
    await staging.discard(entry.token);
    return 'unreadable';
  }
  return knex.transaction(async (trx) => {
    if (isSqlite(trx)) await sqliteWriteLock(trx, note.row.table);
    else await trx(note.row.table).where(note.row.id).forUpdate().select('created_at');
    // Settled by another settling while this one waited for the lock: not this one's to count.
    if ((await staging.readNote(entry.token)) === undefined) return undefined;
    const outcome = await outcomeIn(trx, note);
    const key = { ...note.key, objectId: BigInt(note.key.objectId) };
    if (outcome === 'committed') await staging.promote(key, entry.token);
    else await staging.discard(entry.token);
    return outcome;
  });
}

/** Staged writes this process gave up (an unanswered COMMIT): any settling may take them. */
const abandonedHere = new Set<string>();

/** Notes that this process gave up the staged write of `token`. */
export function markAbandoned(token: string): void {
  abandonedHere.add(token);
}

/**
 * How old another host's staged write must be before this host settles it (a store that hosts
 * share, S3): its pid cannot be checked from here, and no transaction that writes an image runs
 * that long. Settling one whose transaction is still open would be safe anyway (it waits on the row lock).
 */
const FOREIGN_ENTRY_AGE_MS = 15 * 60_000;

/**
 * True when no live process will settle the entry: its process is gone, or it is this process's
 * and was given up, or it is another host's and old. A live process's entries are its own to settle.
 */
function isOrphaned(entry: StagedEntry): boolean {
  if (entry.host !== undefined && entry.host !== HOST_TAG)
    return entry.stagedAt !== undefined && Date.now() - entry.stagedAt.getTime() > FOREIGN_ENTRY_AGE_MS;
  if (entry.pid === process.pid && entry.processTag === PROCESS_TAG) return abandonedHere.has(entry.token);
  return stagingProcessGone(entry.pid, entry.processTag);
}

/** What {@link settleInterruptedWrites} did. */
export interface SettledWrites {
  /** Staged writes whose row is committed: their bytes are in place now. */
  promoted: number;
  /** Staged writes whose row is not committed (or whose note was unreadable): their bytes are gone. */
  discarded: number;
  /** Staged writes that could not be settled this time (the database or the store failed): left as they are, for a later settling. */
  failed: Array<{ token: string; error: Error }>;
}

/**
 * Settles the staged writes in `store` that no live process will finish (their process died, or
 * gave them up), asking the database on `knex` which of them committed, and removes what dead
 * processes left half made in the staging area. Call it when a process starts, before serving, to
 * repair at once what a crash between a commit and its file swap left; the library also runs it in
 * the background after a transaction that wrote an image to a store that stages. An entry that
 * fails does not stop the others: it is reported in `failed`. A note that cannot be read (damaged
 * on disk) cannot say what its bytes are for: they are discarded, with a process warning.
 * @returns how many were put in place and how many discarded, and the entries that failed
 */
export async function settleInterruptedWrites(options: { store: Store; knex: Knex }): Promise<SettledWrites> {
  const { store, knex } = options;
  const result: SettledWrites = { promoted: 0, discarded: 0, failed: [] };
  const staging = store.staging;
  if (staging === undefined) return result;
  for (const entry of await staging.list()) {
    if (!isOrphaned(entry)) continue;
    try {
      const outcome = await settle(staging, knex, entry);
      abandonedHere.delete(entry.token);
      if (outcome === 'committed') result.promoted++;
      else if (outcome !== undefined) result.discarded++;
      if (outcome === 'unreadable') {
        process.emitWarning(
          new ImageAttachError(
            'ERR_FILE_CLEANUP',
            `objection-imageattach: the note of staged write ${entry.token} could not be read: its bytes were discarded (whether its row committed is unknown)`,
          ),
        );
      }
    } catch (error) {
      const cause = error instanceof Error ? error : new Error(String(error));
      result.failed.push({ token: entry.token, error: cause });
    }
  }
  await staging.sweepLeftovers?.();
  return result;
}

const sweeping = new Set<number>();
const lastSweep = new Map<number, number>();
/** How often a store is listed for dead processes' staged writes, at most: a busy server writes many images a second. */
const SWEEP_INTERVAL_MS = 1000;

/**
 * Runs {@link settleInterruptedWrites} in the background for `store`, on the connection of `row`'s
 * model class (when it has one), unless one is running already for that store or one began less
 * than a second ago. It costs a listing of the (small) staging folder when there is nothing to
 * settle. Failures become a warning.
 */
export function sweepInBackground(store: Store, row: Model): void {
  const tag = storeTag(store);
  const now = performance.now();
  if (sweeping.has(tag) || now - (lastSweep.get(tag) ?? -Infinity) < SWEEP_INTERVAL_MS) return;
  let knex: Knex | undefined;
  try {
    knex = (row.constructor as typeof Model).knex();
  } catch {
    // The class is bound to no knex (used through explicit transactions only): no sweep from here.
    return;
  }
  if (!knex) return;
  sweeping.add(tag);
  lastSweep.set(tag, now);
  const run = settleInterruptedWrites({ store, knex })
    .then((settled) => settled.failed.map(({ token, error }) => ({ error, about: `staged write ${token}` })))
    .catch((error: unknown) => [{ error: error as Error, about: 'the staging area' }])
    .then((failures) => {
      for (const { error, about } of failures) {
        process.emitWarning(
          new ImageAttachError(
            'ERR_FILE_CLEANUP',
            `objection-imageattach: settling ${about} failed: ${error.message}`,
            { cause: error },
          ),
        );
      }
    })
    .finally(() => {
      sweeping.delete(tag);
      sweeps.delete(run);
    });
  sweeps.add(run);
}

const sweeps = new Set<Promise<void>>();

/** Resolves when the background settlings running now have ended (for tests and shutdown). */
export async function backgroundSettlingDone(): Promise<void> {
  await Promise.all([...sweeps]);
}

/**
 * Row locks on image sets, so a background worker and an attach never interleave.
 *
 * A worker making a thumbnail holds a *share* lock on the original it reads, from before it reads
 * the file until its transaction commits; replacing or removing the set takes an *update* lock on
 * the set first, in a statement of its own. So a replacement waits for thumbnails being made of
 * the old original (and then deletes them with it), and a worker that comes second sees the new
 * original and makes nothing of the old one. A thumbnail made on demand, in a transaction of its
 * own, takes a share lock on the owner's row instead (the row every writer locks first): it waits
 * for a replacement under way, then reads the new original (see `SetRows.lockOwnerShared`).
 *
 * The update lock must be a statement of its own: under PostgreSQL's READ COMMITTED a DELETE that
 * waited on a lock still works from the snapshot it started with, and would miss the thumbnail the
 * worker committed meanwhile. The statements after the lock get a fresh snapshot and see it.
 *
 * SQLite has no row locks: there the lock is the database's write lock, taken by a write that
 * changes nothing as the transaction's first statement (a transaction that starts by reading and
 * writes later fails with SQLITE_BUSY when another process wrote in between; one that starts by
 * writing waits its turn instead).
 */
import type { Knex } from 'knex';
import type { QueryBuilder, Model } from 'objection';

export type LockMode = 'share' | 'update';

/** True for the SQLite drivers (sqlite3, better-sqlite3). */
export function isSqlite(knex: Knex): boolean {
  const client = knex.client as { dialect?: unknown; config?: { client?: unknown } };
  return /sqlite/i.test(String(client.dialect ?? client.config?.client ?? ''));
}

/**
 * Runs `query` (a select on `table`, in `trx`) as a locking read and returns its rows: shared
 * (`FOR SHARE`) or exclusive (`FOR UPDATE`); on SQLite, takes the database write lock first.
 */
export async function lockedRows<M extends Model>(
  query: QueryBuilder<M, M[]>,
  mode: LockMode,
  trx: Knex.Transaction,
  table: string,
): Promise<M[]> {
  if (isSqlite(trx)) {
    await sqliteWriteLock(trx, table);
    return query;
  }
  return mode === 'share' ? query.forShare() : query.forUpdate();
}

/**
 * On SQLite, takes the database write lock for the rest of `trx` (`table` is an image table);
 * elsewhere does nothing. Call it as the transaction's first statement: after a read, SQLite
 * refuses the lock at once if another process wrote since that read began.
 */
export async function sqliteWriteLock(trx: Knex.Transaction, table: string): Promise<void> {
  if (isSqlite(trx)) await trx.raw('UPDATE ?? SET ?? = ?? WHERE 1 = 0', [table, 'original', 'original']);
}

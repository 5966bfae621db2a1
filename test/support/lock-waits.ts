/**
 * Whether a transaction of this test's database is waiting for another's lock: what a race test
 * waits for before it lets the lock holder go on, so the waiter is known to be waiting (a
 * condition observed in the database, not a guess of how long it takes to get there).
 */
import type { Knex } from 'knex';
import type { DialectName } from './db.js';

/**
 * True when a session of `knex`'s database (PostgreSQL: its schema; MariaDB: its database) waits
 * for a row or table lock (MariaDB: or runs a locking statement, see below, while the test holds
 * the lock); on SQLite, whose one connection is the lock, when a query waits for it.
 */
export async function waitsForLock(knex: Knex, dialect: DialectName): Promise<boolean> {
  if (dialect === 'sqlite') return (knex.client.pool as { numPendingAcquires(): number }).numPendingAcquires() > 0;
  if (dialect === 'postgres') {
    // A waiting backend holds its table locks already: those in this schema make it one of ours.
    const { rows } = await knex.raw(
      `SELECT count(*)::int AS n FROM pg_stat_activity a WHERE a.wait_event_type = 'Lock' AND EXISTS (
         SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace s ON s.oid = c.relnamespace
         WHERE l.pid = a.pid AND s.nspname = current_schema())`,
    );
    return rows[0].n > 0;
  }
  // MariaDB does not always list a transaction waiting in a primary-key lookup's locking read in
  // INNODB_TRX (it waits while the optimizer reads the row): such a statement (or an insert,
  // whose foreign-key check locks the owner) running while the lock holder is stopped waits.
  const [rows] = await knex.raw(
    `SELECT count(*) AS n FROM information_schema.PROCESSLIST p
     WHERE p.DB = database() AND p.ID <> CONNECTION_ID() AND p.COMMAND = 'Query' AND (
       p.INFO LIKE '%lock in share mode%' OR p.INFO LIKE '%for share%' OR p.INFO LIKE '%for update%' OR p.INFO LIKE 'insert%'
       OR EXISTS (SELECT 1 FROM information_schema.INNODB_TRX t WHERE t.trx_mysql_thread_id = p.ID AND t.trx_state = 'LOCK WAIT'))`,
  );
  return Number(rows[0].n) > 0;
}

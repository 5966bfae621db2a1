/**
 * Whether a transaction of this test's database is waiting for another's lock: what a race test
 * waits for before it lets the lock holder go on, so the waiter is known to be waiting (a
 * condition observed in the database, not a guess of how long it takes to get there).
 */
import type { Knex } from 'knex';
import type { DialectName } from './db.js';

/**
 * True when a session of `knex`'s database (PostgreSQL: its schema; MariaDB: its database) waits
 * for a row or table lock; on SQLite, whose one connection is the lock, when a query waits for it.
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
  const [rows] = await knex.raw(
    `SELECT count(*) AS n FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
     WHERE t.trx_state = 'LOCK WAIT' AND p.DB = database()`,
  );
  return Number(rows[0].n) > 0;
}

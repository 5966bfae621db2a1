/**
 * Transactions the database broke a tie in: a deadlock or a serialization failure rolls one of the
 * contenders back, and running it again is the cure the databases prescribe. Only a transaction the
 * library opened itself is run again (a caller's transaction is the caller's to retry).
 */
import { UniqueViolationError } from 'objection';

/** How many times a transaction is run in all before its last error is thrown. */
export const MAX_TRANSACTION_ATTEMPTS = 6;

/**
 * True for the errors a second run of the same transaction can pass: PostgreSQL's deadlock
 * (`40P01`) and serialization failure (`40001`), MySQL/MariaDB's deadlock (1213); with
 * `uniqueRace`, also a unique violation (two writers inserting the same new key, where no row
 * existed yet to lock: the second run sees the first's row and replaces it).
 */
export function isRetryable(error: unknown, uniqueRace: boolean): boolean {
  if (uniqueRace && error instanceof UniqueViolationError) return true;
  for (let e: any = error, depth = 0; e && depth < 4; e = e.nativeError ?? e.cause, depth++) {
    // The same, from a plain knex query (this library's own tables): PostgreSQL, MySQL, SQLite.
    if (
      uniqueRace &&
      (e.code === '23505' || e.errno === 1062 || /^SQLITE_CONSTRAINT_(PRIMARYKEY|UNIQUE)$/.test(e.code))
    )
      return true;
    if (e.code === '40P01' || e.code === '40001' || e.errno === 1213 || e.code === 'ER_LOCK_DEADLOCK') return true;
  }
  return false;
}

/** A short random pause before the next run, growing with the attempt, so contenders spread out. */
export function retryPause(attempt: number): Promise<void> {
  const ms = Math.random() * 10 * 2 ** Math.min(attempt, 5);
  return new Promise((resolve) => setTimeout(resolve, ms));
}

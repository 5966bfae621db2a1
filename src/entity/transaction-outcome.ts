/**
 * How a knex transaction ended, told apart where knex does not: a plain `trx.rollback()` resolves
 * like a commit (doNotRejectOnRollback), and a failure after the COMMIT went out may be a commit
 * whose answer was lost. For that last case, {@link askCommitted} asks the database, once the
 * writer's session holds no transaction: its COMMIT may still be on its way to the server.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Knex } from 'knex';
import type { Model } from 'objection';
import { ImageAttachError } from '../errors.js';
import { committedOutcome, noteForRow } from './staged-writes.js';

type Transaction = Knex.Transaction & { executionPromise?: Promise<unknown> };

/** The PostgreSQL session (backend pid) a transaction ran on, as its connection knows it. */
export interface WriterSession {
  pid: number;
}

/** How long {@link askCommitted} waits for the writer's session to hold no transaction. */
const SESSION_WAIT_MS = 10_000;

/** What became of a transaction, as far as its files are concerned. */
export type TransactionOutcome = 'committed' | 'rolled-back' | 'unknown';

/** How a transaction ended: `commit-unanswered` when it failed after its COMMIT was sent. */
export type TransactionEnd = 'committed' | 'rolled-back' | 'commit-unanswered';

/** How a transaction ended, and (after an unanswered COMMIT on PostgreSQL) the session it ran on. */
export interface TransactionEnding {
  end: TransactionEnd;
  session?: WriterSession;
}

/** A row written in the transaction, whose presence tells whether an unanswered COMMIT committed. */
export type ProbeRow = Parameters<typeof noteForRow>[0];

/**
 * Hooks `trx`'s `commit` and `rollback` (once per transaction object), and resolves with how it
 * ended. `onCommitSent` runs as the COMMIT goes out. Never rejects.
 * @throws ImageAttachError `ERR_INVALID_ARGUMENT` for an object that is no knex transaction
 */
export function watchTransaction(trx: Knex.Transaction, onCommitSent: () => void): Promise<TransactionEnding> {
  const t = trx as Transaction;
  const execution = t.executionPromise;
  if (execution === undefined) {
    throw new ImageAttachError(
      'ERR_INVALID_ARGUMENT',
      'Expected a knex or Objection transaction for trx but received an object without executionPromise',
      { statusCode: 500 },
    );
  }
  let rolledBack = false;
  let commitSent = false;
  const rollback = t.rollback.bind(t);
  t.rollback = ((error?: unknown) => {
    rolledBack = true;
    return rollback(error);
  }) as typeof t.rollback;
  const commit = t.commit.bind(t);
  let session: Promise<WriterSession | undefined> = Promise.resolve(undefined);
  t.commit = ((value?: unknown) => {
    commitSent = true;
    session = sessionOf(t);
    onCommitSent();
    return commit(value);
  }) as typeof t.commit;
  return execution.then(
    () => ({ end: rolledBack ? 'rolled-back' : 'committed' }),
    async () =>
      commitSent && !rolledBack ? { end: 'commit-unanswered', session: await session } : { end: 'rolled-back' },
  );
}

/** The PostgreSQL backend a transaction's connection talks to (a transaction's client hands out its one connection). */
async function sessionOf(trx: Knex.Transaction): Promise<WriterSession | undefined> {
  try {
    const connection = (await trx.client.acquireConnection()) as { processID?: unknown };
    return typeof connection?.processID === 'number' ? { pid: connection.processID } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the transaction that wrote `probe` committed, asked on a fresh connection; `unknown`
 * when the database cannot be asked either (no knex bound, or still unreachable).
 */
export async function askCommitted(probe: ProbeRow, session?: WriterSession): Promise<TransactionOutcome> {
  try {
    const knex = (probe.constructor as typeof Model).knex();
    if (session !== undefined && !(await sessionSettled(knex, session))) return 'unknown';
    return (await committedOutcome(knex, noteForRow(probe), { waitForWriter: true })) === 'committed'
      ? 'committed'
      : 'rolled-back';
  } catch {
    return 'unknown';
  }
}

/**
 * Waits until the PostgreSQL session `session` is gone or idle: its transaction is then over, the
 * COMMIT done or never to be. (A row a running transaction inserted is invisible there, so a
 * lock cannot wait for it; on MySQL, {@link committedOutcome}'s locking read does.) False when it
 * still runs after {@link SESSION_WAIT_MS}, or shows no state (another role's session).
 */
async function sessionSettled(knex: Knex, session: WriterSession): Promise<boolean> {
  const deadline = Date.now() + SESSION_WAIT_MS;
  for (;;) {
    const result = (await knex.raw('select state from pg_stat_activity where pid = ?', [session.pid])) as {
      rows: Array<{ state: string | null }>;
    };
    const state = result.rows[0]?.state;
    if (state === undefined || state === 'idle') return true;
    if (state === null || Date.now() > deadline) return false;
    await sleep(20);
  }
}

/**
 * How a knex transaction ended, told apart where knex does not: a plain `trx.rollback()` resolves
 * like a commit (doNotRejectOnRollback), and a failure after the COMMIT went out may be a commit
 * whose answer was lost. For that last case, {@link askCommitted} asks the database.
 */
import type { Knex } from 'knex';
import type { Model } from 'objection';
import { ImageAttachError } from '../errors.js';
import { committedOutcome, noteForRow } from './staged-writes.js';

type Transaction = Knex.Transaction & { executionPromise?: Promise<unknown> };

/** What became of a transaction, as far as its files are concerned. */
export type TransactionOutcome = 'committed' | 'rolled-back' | 'unknown';

/** How a transaction ended: `commit-unanswered` when it failed after its COMMIT was sent. */
export type TransactionEnd = 'committed' | 'rolled-back' | 'commit-unanswered';

/** A row written in the transaction, whose presence tells whether an unanswered COMMIT committed. */
export type ProbeRow = Parameters<typeof noteForRow>[0];

/**
 * Hooks `trx`'s `commit` and `rollback` (once per transaction object), and resolves with how it
 * ended. `onCommitSent` runs as the COMMIT goes out. Never rejects.
 * @throws ImageAttachError `ERR_INVALID_ARGUMENT` for an object that is no knex transaction
 */
export function watchTransaction(trx: Knex.Transaction, onCommitSent: () => void): Promise<TransactionEnd> {
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
  t.commit = ((value?: unknown) => {
    commitSent = true;
    onCommitSent();
    return commit(value);
  }) as typeof t.commit;
  return execution.then(
    () => (rolledBack ? 'rolled-back' : 'committed'),
    () => (commitSent && !rolledBack ? 'commit-unanswered' : 'rolled-back'),
  );
}

/**
 * Whether the transaction that wrote `probe` committed, asked on a fresh connection; `unknown`
 * when the database cannot be asked either (no knex bound, or still unreachable).
 */
export async function askCommitted(probe: ProbeRow): Promise<TransactionOutcome> {
  try {
    const knex = (probe.constructor as typeof Model).knex();
    return (await committedOutcome(knex, noteForRow(probe))) === 'committed' ? 'committed' : 'rolled-back';
  } catch {
    return 'unknown';
  }
}

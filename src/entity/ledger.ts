/**
 * The file ledger: what a database transaction did to store files, so files follow the
 * transaction's fate. On rollback, files written in it are removed (or, where a write replaced an
 * existing file, the old bytes put back); on commit, files of images deleted in it are removed,
 * unless the same key was written again or a committed row still points at it.
 *
 * SQLAlchemy-ImageAttach kept this state globally, mixing concurrent sessions; here it is one ledger per knex
 * transaction (savepoints get their own, folded into their parent's when released).
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Knex } from 'knex';
import { ImageAttachError } from '../errors.js';
import { spoolToTempFile, removeIfPresent } from '../imaging/spool.js';
import { type ImageKey, normalizeKey } from '../stores/keys.js';
import type { PutFileOptions, Store } from '../stores/store.js';
import { storeTag } from './single-flight.js';

type Transaction = Knex.Transaction & { executionPromise?: Promise<unknown>; parentTransaction?: Knex.Transaction };

interface Written {
  store: Store;
  key: ImageKey;
  /** A temp copy of the file this write replaced, to put back on rollback. */
  backup: string | undefined;
}

interface PendingDelete {
  store: Store;
  key: ImageKey;
  /** Asked after commit: true when a committed row points at the key again, so the file stays. */
  stillReferenced?: () => Promise<boolean>;
}

const ledgers = new WeakMap<Transaction, FileLedger>();
const rolledBack = new WeakSet<Transaction>();
const unsettled = new Set<Promise<void>>();
/** Keys being written by some unfinished transaction in this process: never delete those. */
const liveWrites = new Map<string, number>();

function fileId(store: Store, key: ImageKey): string {
  const k = normalizeKey(key);
  return `${storeTag(store)}:${k.objectType}/${k.objectId}/${k.width}x${k.height}/${k.mimetype}`;
}

export class FileLedger {
  private readonly writes = new Map<string, Written>();
  private readonly deletes = new Map<string, PendingDelete>();
  /** Live-write ids this ledger (and its folded savepoints) hold, released when the root settles. */
  private readonly held: string[] = [];
  /** Resolves once the transaction has ended and its file work is done. Never rejects. */
  readonly settled: Promise<void>;

  private constructor(
    trx: Transaction,
    private readonly parent: FileLedger | undefined,
  ) {
    const execution = trx.executionPromise;
    if (execution === undefined) {
      throw new ImageAttachError('ERR_INVALID_ARGUMENT', 'Expected a knex or Objection transaction for trx but received an object without executionPromise', { statusCode: 500 });
    }
    // knex resolves executionPromise on a plain `trx.rollback()` too (doNotRejectOnRollback), so
    // a rollback is noted where it is asked for, on this transaction object only.
    const rollback = trx.rollback.bind(trx);
    trx.rollback = ((error?: unknown) => {
      rolledBack.add(trx);
      return rollback(error);
    }) as typeof trx.rollback;
    const settled = execution.then(
      () => (rolledBack.has(trx) ? this.undo() : this.finish()),
      () => this.undo(),
    );
    this.settled = settled;
    unsettled.add(settled);
    void settled.finally(() => unsettled.delete(settled));
  }

  /** The ledger of `trx`, made (and hooked on its completion) on first use. */
  static of(trx: Knex.Transaction): FileLedger {
    const t = trx as Transaction;
    let ledger = ledgers.get(t);
    if (ledger === undefined) {
      const parent = t.parentTransaction ? FileLedger.of(t.parentTransaction) : undefined;
      ledger = new FileLedger(t, parent);
      ledgers.set(t, ledger);
    }
    return ledger;
  }

  /**
   * Writes a file as part of this transaction: the write is undone if the transaction rolls back.
   * If the key already holds a file that this ledger did not write (one committed earlier, or one
   * the parent transaction wrote before this savepoint), its bytes are kept aside first, so a
   * rollback can put them back. `data` is a stream, or the path of a local file (which a
   * filesystem store copies in the kernel: one system call, not a stream's many reads and writes).
   */
  async write(store: Store, key: ImageKey, data: Readable | string, options: PutFileOptions): Promise<void> {
    const id = fileId(store, key);
    let backup: string | undefined;
    if (!this.writes.has(id) && (await store.statFile(key)) !== null) {
      backup = (await spoolToTempFile(await store.getFile(key), Number.MAX_SAFE_INTEGER)).path;
    }
    liveWrites.set(id, (liveWrites.get(id) ?? 0) + 1);
    this.root().held.push(id);
    try {
      if (typeof data === 'string') await store.putLocalFile(key, data, options);
      else await store.putFile(key, data, options);
    } catch (error) {
      // The store's write is atomic: the old file is untouched, so the backup is not needed.
      if (backup !== undefined) await removeIfPresent(backup);
      throw error;
    }
    if (!this.writes.has(id)) this.writes.set(id, { store, key, backup });
    else if (backup !== undefined) await removeIfPresent(backup);
  }

  /** Removes the file of `key` once the transaction commits (not at all if it rolls back). */
  scheduleDelete(store: Store, key: ImageKey, stillReferenced?: () => Promise<boolean>): void {
    this.deletes.set(fileId(store, key), { store, key, stillReferenced });
  }

  private root(): FileLedger {
    return this.parent ? this.parent.root() : this;
  }

  /** Committed (or a savepoint released): hand the work up, or do it. */
  private async finish(): Promise<void> {
    if (this.parent) {
      for (const [id, written] of this.writes) {
        if (!this.parent.writes.has(id)) this.parent.writes.set(id, written);
        else if (written.backup !== undefined) await removeIfPresent(written.backup);
      }
      for (const [id, pending] of this.deletes) this.parent.deletes.set(id, pending);
      return;
    }
    await this.report('after commit', async () => {
      for (const written of this.writes.values()) {
        if (written.backup !== undefined) await removeIfPresent(written.backup);
      }
      this.releaseLiveWrites();
      for (const [id, pending] of this.deletes) {
        if (this.writes.has(id) || liveWrites.has(id)) continue;
        if (pending.stillReferenced && (await pending.stillReferenced())) continue;
        await pending.store.deleteFile(pending.key);
      }
    });
  }

  /** Rolled back: remove what was written, putting replaced files back. */
  private async undo(): Promise<void> {
    await this.report('after rollback', async () => {
      for (const written of this.writes.values()) {
        if (written.backup !== undefined) {
          await written.store.putFile(written.key, createReadStream(written.backup), { reproducible: false });
          await removeIfPresent(written.backup);
        } else {
          await written.store.deleteFile(written.key);
        }
      }
      if (!this.parent) this.releaseLiveWrites();
    });
  }

  private releaseLiveWrites(): void {
    for (const id of this.held.splice(0)) {
      const count = (liveWrites.get(id) ?? 1) - 1;
      if (count > 0) liveWrites.set(id, count);
      else liveWrites.delete(id);
    }
  }

  /**
   * Runs cleanup work that happens after the transaction has ended, when there is no caller left
   * to throw to: a failure is reported as a process warning (an orphan file, never a lost one).
   */
  private async report(when: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      process.emitWarning(
        new ImageAttachError('ERR_FILE_CLEANUP', `objection-imageattach: file cleanup ${when} failed: ${(error as Error).message}`, { cause: error }),
      );
    }
  }
}

/**
 * Resolves when the file work of `trx` (or, without an argument, of every transaction that has
 * ended) is done: the removals after a commit, the undoing after a rollback. Useful in tests and
 * before shutting down; the library awaits it itself when it runs its own transaction.
 */
export async function filesSettled(trx?: Knex.Transaction): Promise<void> {
  if (trx !== undefined) {
    await ledgers.get(trx as Transaction)?.settled;
    return;
  }
  await Promise.all([...unsettled]);
}

/**
 * The file ledger: what a database transaction did to store files, so files follow the
 * transaction's fate. On rollback, files written in it are removed; on commit, files of images
 * deleted in it are removed, unless the same key was written again or a committed row still
 * points at it.
 *
 * Replacing a file that is already there (a committed row's, same key): on a store that can stage
 * (the filesystem and S3 stores), the new bytes wait beside the old, with a durable note, and are
 * swapped in after the commit; so the committed row keeps its bytes if the process dies at any
 * instant before, and a later process settles what a death between commit and swap left (see
 * `staged-writes.ts`). Other stores overwrite, keeping a backup in this process to put back (see
 * `kept-backups.ts` for when that fails).
 *
 * When the COMMIT was sent but its answer lost (the connection dropped), the outcome is asked of
 * the database on a fresh connection before any file is touched; if that fails too, no file is
 * removed, staged writes are left for a later settling, and the caller gets ERR_COMMIT_UNKNOWN.
 *
 * SQLAlchemy-ImageAttach kept this state globally, mixing concurrent sessions; here it is one ledger per knex
 * transaction (savepoints get their own, folded into their parent's when released).
 */
import type { Readable } from 'node:stream';
import type { Knex } from 'knex';
import { ImageAttachError } from '../errors.js';
import { spoolToTempFile } from '../util/spool.js';
import { removeIfPresent } from '../util/temp-files.js';
import { checked } from '../stores/checked-calls.js';
import { type ImageKey, normalizeKey } from '../stores/keys.js';
import type { PutFileOptions, Store } from '../stores/store.js';
import { putBack, withRetries } from './kept-backups.js';
import { storeTag } from '../util/cache-keys.js';
import { markAbandoned, noteForRow, sweepInBackground } from './staged-writes.js';
import {
  askCommitted,
  type ProbeRow,
  type TransactionOutcome,
  watchTransaction,
  type WriterSession,
} from './transaction-outcome.js';

export type { TransactionOutcome } from './transaction-outcome.js';

type Transaction = Knex.Transaction & { parentTransaction?: Knex.Transaction };

interface Written {
  store: Store;
  key: ImageKey;
  /** A temp copy of the file this write replaced, to put back on rollback (stores that cannot stage). */
  backup: string | undefined;
  /** The token of the staged bytes, swapped in after the commit (stores that can stage). */
  staged: string | undefined;
}

interface PendingDelete {
  store: Store;
  key: ImageKey;
  /** Asked after commit: true when a committed row points at the key again, so the file stays. */
  stillReferenced?: () => Promise<boolean>;
}

const ledgers = new WeakMap<Transaction, FileLedger>();
/** Staged swaps in the order their transactions committed, one chain per file. */
const promotions = new Map<string, Promise<void>>();
const unsettled = new Set<Promise<void>>();
/** The root ledgers of this process with a write of a file whose work is not settled yet. */
const writers = new Map<string, Set<FileLedger>>();
/** The order in which transactions of this process sent their COMMIT. */
let lastCommitSeq = 0;

function fileId(store: Store, key: ImageKey): string {
  const k = normalizeKey(key);
  return `${storeTag(store)}:${k.objectType}/${k.objectId}/${k.width}x${k.height}/${k.mimetype}`;
}

export class FileLedger {
  private readonly writes = new Map<string, Written>();
  private readonly deletes = new Map<string, PendingDelete>();
  /** Ids this root ledger (and its savepoints) wrote, in `writers` until the root settles. */
  private readonly held: string[] = [];
  /** When this (root) transaction sent its COMMIT, in this process's order. */
  private commitSeq: number | undefined;
  /** Resolves once the transaction has ended and its file work is done. Never rejects. */
  readonly settled: Promise<void>;
  /** Known once `settled` resolves. */
  outcome: TransactionOutcome | undefined;
  /** The first row written in the transaction (the root's), to ask about an unanswered COMMIT. */
  private probe: ProbeRow | undefined;

  private constructor(
    trx: Transaction,
    private readonly parent: FileLedger | undefined,
  ) {
    const ending = watchTransaction(trx, () => {
      if (!parent) this.commitSeq = ++lastCommitSeq;
    });
    // A savepoint's release that fails is undone as a rollback: only the root's COMMIT can be lost.
    const settled = ending.then(({ end, session }) =>
      end === 'committed'
        ? this.finish()
        : end === 'commit-unanswered' && !parent
          ? this.afterUnansweredCommit(session)
          : this.undo(),
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
   * A file already at the key that this transaction did not write is a committed one: it stays in
   * place until the commit (staged stores), or is kept aside to be put back (others). `data` is a
   * stream, or the path of a local file (which a filesystem store copies in the kernel; with
   * `options.move` the file is given away: gone once this succeeds). `key` is the image row itself
   * where there is one: its note lets a later process settle a staged write.
   */
  async write(store: Store, key: ImageKey, data: Readable | string, options: PutFileOptions): Promise<void> {
    const id = fileId(store, key);
    const row = isImageRow(key) ? key : undefined;
    if (row !== undefined) this.root().probe ??= row;
    const prior = this.find(id);
    let backup: string | undefined;
    let staged: string | undefined;
    const root = this.root();
    if (!writers.has(id)) writers.set(id, new Set());
    writers.get(id)!.add(root);
    root.held.push(id);
    // Settle what a dead process left staged in this store (see staged-writes.ts), in the background
    // once this transaction has ended: within it, settling would wait on this transaction's own
    // row locks (SQLite: its one connection).
    const staging = store.staging;
    if (row !== undefined && staging !== undefined) void root.settled.then(() => sweepInBackground(store, row));
    // Whether a file is there already: asked once, for the staging and the backup decisions both.
    let present: Promise<boolean> | undefined;
    const isPresent = () =>
      (present ??= checked(store)
        .statFile(key)
        .then((stat) => stat !== null));
    if (
      row !== undefined &&
      staging !== undefined &&
      (prior === undefined ? await isPresent() : prior.staged !== undefined)
    ) {
      staged = await staging.stage(key, data, {
        ...noteForRow(row),
        ...(options.reproducible ? { reproducible: true } : {}),
      });
      // Staging copied the bytes; a file given away (`move`) is gone once written, as a store's own.
      if (typeof data === 'string' && options.move === true) await removeIfPresent(data);
    } else {
      if (!this.writes.has(id) && (await isPresent())) {
        backup = (await spoolToTempFile(await checked(store).getFile(key), Number.MAX_SAFE_INTEGER)).path;
      }
      try {
        if (typeof data === 'string') await checked(store).putLocalFile(key, data, options);
        else await checked(store).putFile(key, data, options);
      } catch (error) {
        // The store's write is atomic: the old file is untouched, so the backup is not needed.
        if (backup !== undefined) await removeIfPresent(backup);
        throw error;
      }
    }
    const mine = this.writes.get(id);
    if (mine === undefined) {
      this.writes.set(id, { store, key, backup, staged });
      return;
    }
    if (backup !== undefined) await removeIfPresent(backup);
    if (staged !== undefined) {
      if (mine.staged !== undefined) await store.staging?.discard(mine.staged);
      mine.staged = staged;
    }
  }

  /**
   * The bytes this transaction (or an enclosing one) staged for `key`, as a local path or a
   * stream, to read them back before the commit; `undefined` when it staged none.
   */
  pendingSource(store: Store, key: ImageKey): Promise<Readable | string> | undefined {
    const token = this.find(fileId(store, key))?.staged;
    return token !== undefined ? store.staging?.open(token) : undefined;
  }

  /** This ledger's write of `id`, or an enclosing transaction's. */
  private find(id: string): Written | undefined {
    return this.writes.get(id) ?? this.parent?.find(id);
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
        const theirs = this.parent.writes.get(id);
        if (theirs === undefined) {
          this.parent.writes.set(id, written);
          continue;
        }
        if (written.backup !== undefined) await removeIfPresent(written.backup);
        if (written.staged !== undefined) {
          // The savepoint staged newer bytes over the enclosing transaction's staged ones.
          if (theirs.staged !== undefined) await written.store.staging?.discard(theirs.staged);
          theirs.staged = written.staged;
        }
      }
      for (const [id, pending] of this.deletes) this.parent.deletes.set(id, pending);
      return;
    }
    this.outcome = 'committed';
    // Queued now, in commit order: a later transaction's swap of the same file waits for this one.
    const swaps = [...this.writes].filter(([, w]) => w.staged !== undefined).map(([id, w]) => this.promote(id, w));
    await this.report('after commit', async () => {
      const failed = (await Promise.allSettled(swaps)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
      for (const written of this.writes.values()) {
        if (written.backup !== undefined) await removeIfPresent(written.backup);
      }
      for (const [id, pending] of this.deletes) {
        if (this.writes.has(id)) continue;
        const others = [...(writers.get(id) ?? [])].filter((ledger) => ledger !== this);
        // Transactions that wrote this file and committed before this one: their swaps and deletes
        // come first (their commit's answer may be processed after this one's).
        await Promise.all(
          others
            .filter((l) => l.commitSeq !== undefined && l.commitSeq < (this.commitSeq ?? Infinity))
            .map((l) => l.settled),
        );
        // One still uncommitted that wrote it in place: its bytes are at the path; leave them.
        if (others.some((l) => l.commitSeq === undefined && l.writes.get(id)?.staged === undefined)) continue;
        if (pending.stillReferenced && (await pending.stillReferenced())) continue;
        // After any swap of this file still under way, so the swap cannot bring it back.
        await promotions.get(id);
        await checked(pending.store).deleteFile(pending.key);
      }
      if (failed !== undefined) throw failed.reason;
    });
    this.releaseWriters();
  }

  /** Swaps staged bytes into place after the commit; on failure, leaves them for a later settling. */
  private promote(id: string, written: Written): Promise<void> {
    const staging = written.store.staging;
    const token = written.staged!;
    if (staging === undefined) return Promise.resolve();
    const run = (promotions.get(id) ?? Promise.resolve()).then(() =>
      staging.promote(written.key, token).catch(async (error: unknown) => {
        markAbandoned(token);
        await staging.abandon(token).catch(() => {
          // The note stays as it is: a later process settles it once this one is gone.
        });
        throw error;
      }),
    );
    const tail = run.catch(() => {});
    promotions.set(id, tail);
    void tail.then(() => {
      if (promotions.get(id) === tail) promotions.delete(id);
    });
    return run;
  }

  /**
   * Rolled back: remove what was written, putting replaced files back; each file on its own, so
   * one that fails leaves the others' undoing to run. Staged bytes that cannot be discarded are
   * given up to a later settling, which discards them (the committed file was never touched).
   */
  private async undo(): Promise<void> {
    if (!this.parent) this.outcome = 'rolled-back';
    for (const written of this.writes.values()) {
      const { store, key, staged, backup } = written;
      if (backup !== undefined) await putBack(store, key, backup, isImageRow(key) ? noteForRow(key) : undefined);
      else if (staged === undefined)
        await this.report('after rollback', () => withRetries(() => checked(store).deleteFile(key)));
      else if (store.staging !== undefined) {
        const staging = store.staging;
        await this.report('after rollback', () =>
          withRetries(() => staging.discard(staged)).catch((error: unknown) => {
            markAbandoned(staged);
            throw error;
          }),
        );
      }
    }
    if (!this.parent) this.releaseWriters();
  }

  /**
   * The COMMIT went out and the transaction failed after: ask the database, on a fresh
   * connection, whether the rows are there. Committed: as a commit. Not: as a rollback. No answer:
   * touch nothing; staged writes are marked abandoned for a later settling (`settleInterruptedWrites`).
   */
  private async afterUnansweredCommit(session: WriterSession | undefined): Promise<void> {
    const probe = this.probe;
    if (probe === undefined) {
      // Nothing written, only deletes: those check a committed row still points at their file first.
      return this.finish();
    }
    const outcome = await askCommitted(probe, session);
    if (outcome === 'committed') return this.finish();
    if (outcome === 'rolled-back') return this.undo();
    this.outcome = 'unknown';
    await this.report('after an unanswered commit', async () => {
      for (const written of this.writes.values()) {
        const staging = written.store.staging;
        if (written.staged !== undefined && staging !== undefined) {
          markAbandoned(written.staged);
          await staging.abandon(written.staged);
        }
      }
    });
    this.releaseWriters();
    // A backup (stores that cannot stage) is the only copy of the bytes it replaced: it stays, named here.
    const backups = [...this.writes.values()].flatMap((w) => (w.backup === undefined ? [] : [w.backup]));
    process.emitWarning(
      new ImageAttachError(
        'ERR_COMMIT_UNKNOWN',
        'objection-imageattach: the connection failed after COMMIT was sent, and the database could not be asked whether it committed: ' +
          `no file was removed; staged files wait for settleInterruptedWrites${backups.length ? `; replaced bytes kept at ${backups.join(', ')}` : ''}`,
      ),
    );
  }

  private releaseWriters(): void {
    for (const id of this.held.splice(0)) {
      const set = writers.get(id);
      set?.delete(this);
      if (set?.size === 0) writers.delete(id);
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
        new ImageAttachError(
          'ERR_FILE_CLEANUP',
          `objection-imageattach: file cleanup ${when} failed: ${(error as Error).message}`,
          { cause: error },
        ),
      );
    }
  }
}

/** What became of `trx`'s files: known once {@link filesSettled} resolves for it; `undefined` if it wrote nothing. */
export function transactionOutcome(trx: Knex.Transaction): TransactionOutcome | undefined {
  return ledgers.get(trx as Transaction)?.outcome;
}

/** True for an image entity (a model row with its store key), as attach and thumbnails pass to `write`. */
function isImageRow(key: ImageKey): key is ProbeRow {
  return (
    typeof (key as { $id?: unknown }).$id === 'function' && (key as { created_at?: unknown }).created_at !== undefined
  );
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

/**
 * Runs `work` once `trx` has committed (not at all if it rolls back), after its own file work;
 * {@link filesSettled} waits for it too. For files that are no image's (a claimed upload's staged bytes).
 */
export function afterCommit(trx: Knex.Transaction, work: () => Promise<void>): void {
  // A savepoint's release is no commit: the root transaction's is.
  let root = trx as Transaction;
  while (root.parentTransaction !== undefined) root = root.parentTransaction as Transaction;
  const ledger = FileLedger.of(root);
  const done = ledger.settled.then(() => (ledger.outcome === 'committed' ? work() : undefined));
  unsettled.add(done);
  void done.finally(() => unsettled.delete(done));
}

/**
 * The sweep of direct uploads: removes the staged bytes, then the row, of every pending upload
 * past its expiry plus a grace period: uploads never claimed, and the rows of claimed and rejected
 * ones (whose staged key a replayed upload URL may have filled again since).
 *
 * Rows are taken in batches through the `(status, expires_at)` index, each batch in a transaction
 * that locks its rows `FOR UPDATE SKIP LOCKED` where the database has it (PostgreSQL, MySQL 8,
 * MariaDB 10.6+): several sweepers, and claims under way (which lock their row), never take the
 * same row. Elsewhere the locks wait instead (SQLite: the database write lock). A failing store
 * delete keeps its row for the next sweep and is reported; the others go on.
 */
import type { Knex } from 'knex';
import pLimit from 'p-limit';
import { InvalidArgumentError } from '../errors.js';
import { PENDING_UPLOADS_TABLE } from '../schema.js';
import type { DirectUploads } from '../stores/direct-uploads.js';
import type { Store } from '../stores/store.js';
import * as check from '../util/check.js';
import { dialectOf } from './created-at.js';
import { deletePendingUploads, sqliteWriteLock, timestampValue } from './pending-uploads.js';

export interface SweepUploadsOptions {
  /** The database holding `imageattach_pending_uploads`. */
  knex: Knex;
  /** The stores uploads go to (those made with `directUploads`; others are ignored). */
  stores: readonly Store[] | Readonly<Record<string, Store>>;
  /** Milliseconds past expiry before an upload is swept, so a claim started in time can finish. Default 1 hour. */
  grace?: number;
  /** Count what would be removed, remove nothing. Default false. */
  dryRun?: boolean;
  /** Rows per batch (one transaction each). Default 500. */
  batchSize?: number;
  /** Store deletes at once within a batch. Default 16. */
  concurrency?: number;
  /** The current time. Default now. */
  now?: Date;
}

export interface SweepUploadsReport {
  /** Uploads removed, bytes and row (with `dryRun`: that would be). */
  removed: number;
  /** Uploads whose store delete failed: their rows stay for the next sweep. */
  failed: Array<{ id: string; store: string; error: Error }>;
  /** Swept rows of stores not among `stores`, by store tag: left alone. */
  unknownStores: Record<string, number>;
}

export const DEFAULT_SWEEP_GRACE_MS = 3_600_000;

/**
 * Sweeps abandoned direct uploads. Safe to run from several processes at once.
 * @throws InvalidArgumentError for a bad option; the database's error when it fails
 * @example
 * const report = await sweepUploads({ knex, stores: [store] });
 */
export async function sweepUploads(options: SweepUploadsOptions): Promise<SweepUploadsReport> {
  check.object(options, 'options', 'an options object ({ knex, stores })');
  const { knex, grace = DEFAULT_SWEEP_GRACE_MS, dryRun = false, batchSize = 500, concurrency = 16 } = options;
  if (typeof knex !== 'function') throw new InvalidArgumentError('options.knex', 'a knex instance', knex);
  check.integerAtLeast(grace, 0, 'options.grace', 'milliseconds');
  check.integerIn(batchSize, 1, 10_000, 'options.batchSize');
  check.integerIn(concurrency, 1, 256, 'options.concurrency');
  const byTag = uploadsByTag(options.stores);
  const cutoff = timestampValue(knex, new Date((options.now ?? new Date()).getTime() - grace));
  const tags = [...byTag.keys()];
  const swept = (q: Knex.QueryBuilder) =>
    q.whereIn('status', ['pending', 'claimed', 'rejected']).where('expires_at', '<', cutoff);

  const report: SweepUploadsReport = { removed: 0, failed: [], unknownStores: {} };
  const counts = (await swept(knex(PENDING_UPLOADS_TABLE))
    .select('store')
    .count({ n: '*' })
    .groupBy('store')) as Array<{ store: string; n: number | string }>;
  for (const { store, n } of counts) {
    if (!byTag.has(store)) report.unknownStores[store] = Number(n);
    else if (dryRun) report.removed += Number(n);
  }
  if (dryRun || tags.length === 0) return report;

  const skipLocked = await supportsSkipLocked(knex);
  const limit = pLimit(concurrency);
  const failedIds: string[] = [];
  for (;;) {
    const taken = await knex.transaction(async (trx) => {
      await sqliteWriteLock(trx);
      let query = swept(trx(PENDING_UPLOADS_TABLE))
        .select('id', 'store')
        .whereIn('store', tags)
        .orderBy('expires_at')
        .limit(batchSize);
      if (failedIds.length > 0) query = query.whereNotIn('id', failedIds);
      if (dialectOf(trx) !== 'sqlite') query = skipLocked ? query.forUpdate().skipLocked() : query.forUpdate();
      const rows = (await query) as Array<{ id: string; store: string }>;
      const removed: string[] = [];
      await Promise.all(
        rows.map((row) =>
          limit(async () => {
            try {
              await byTag.get(row.store)!.delete(row.id);
              removed.push(row.id);
            } catch (error) {
              failedIds.push(row.id);
              report.failed.push({ id: row.id, store: row.store, error: error as Error });
            }
          }),
        ),
      );
      await deletePendingUploads(trx, removed);
      report.removed += removed.length;
      return rows.length;
    });
    if (taken < batchSize) return report;
  }
}

function uploadsByTag(stores: SweepUploadsOptions['stores']): Map<string, DirectUploads> {
  const list = Array.isArray(stores) ? stores : Object.values(stores ?? {});
  if (stores === null || typeof stores !== 'object') {
    throw new InvalidArgumentError('options.stores', 'a list (or record) of stores', stores);
  }
  const byTag = new Map<string, DirectUploads>();
  for (const store of list as Store[]) {
    const uploads = store?.directUploads;
    if (uploads !== undefined) byTag.set(uploads.tag, uploads);
  }
  return byTag;
}

const skipLockedSupport = new WeakMap<object, Promise<boolean>>();

/** True for PostgreSQL, MySQL 8+ and MariaDB 10.6+, which lock with `SKIP LOCKED`. */
function supportsSkipLocked(knex: Knex): Promise<boolean> {
  const dialect = dialectOf(knex);
  if (dialect === 'postgres') return Promise.resolve(true);
  if (dialect !== 'mysql') return Promise.resolve(false);
  let known = skipLockedSupport.get(knex.client);
  if (known === undefined) {
    known = knex.raw('SELECT VERSION() AS v').then((result: unknown) => {
      const version = String((result as Array<Array<{ v: string }>>)[0]?.[0]?.v ?? '');
      const [major = 0, minor = 0] = version.split(/[.-]/).map(Number);
      return /mariadb/i.test(version) ? major > 10 || (major === 10 && minor >= 6) : major >= 8;
    });
    skipLockedSupport.set(knex.client, known);
  }
  return known;
}

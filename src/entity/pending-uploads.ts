/**
 * The rows of `imageattach_pending_uploads` (made by `pendingUploadsTable()`): one per presigned
 * direct upload, from presign to claim (or rejection) to the sweep that removes it with its
 * staged bytes. Timestamps go in as each database compares them (SQLite: SQLAlchemy's UTC text,
 * which sorts as it reads; elsewhere a `Date`), so expiry is decided in SQL, through the index.
 */
import type { Knex } from 'knex';
import type { Model } from 'objection';
import { InvalidArgumentError } from '../errors.js';
import { parseDatabaseTimestamp, sqliteText } from '../stores/database-timestamp.js';
import { PENDING_UPLOADS_TABLE } from '../schema.js';
import { dialectOf } from './created-at.js';
import type { ImageSet } from './image-set.js';

export type PendingUploadStatus = 'pending' | 'claimed' | 'rejected';

/** A pending upload's row, as read back (timestamps as `Date`s, the size as a number). */
export interface PendingUploadRow {
  id: string;
  purpose: string;
  owner: string;
  principal: string | null;
  store: string;
  object_key: string;
  declared_size: number;
  declared_type: string;
  status: PendingUploadStatus;
  created_at: Date;
  expires_at: Date;
}

/** Records a new pending upload (`status` 'pending'). */
export async function insertPendingUpload(
  knex: Knex,
  row: Omit<PendingUploadRow, 'status' | 'created_at'> & { created_at?: Date },
): Promise<void> {
  await knex(PENDING_UPLOADS_TABLE).insert({
    ...row,
    status: 'pending',
    created_at: timestampValue(knex, row.created_at ?? new Date()),
    expires_at: timestampValue(knex, row.expires_at),
  });
}

/**
 * The row of upload `id`, or `undefined`. With `lock`, locked `FOR UPDATE` until `knex` (a
 * transaction) ends; on SQLite, which has no row locks, the database write lock is taken instead,
 * so run it as the transaction's first statement there.
 */
export async function findPendingUpload(
  knex: Knex,
  id: string,
  options: { lock?: boolean } = {},
): Promise<PendingUploadRow | undefined> {
  let query = knex(PENDING_UPLOADS_TABLE).where({ id }).first();
  if (options.lock === true) {
    if (dialectOf(knex) === 'sqlite') await sqliteWriteLock(knex);
    else query = query.forUpdate();
  }
  const row = (await query) as Record<string, unknown> | undefined;
  return row === undefined ? undefined : readRow(row);
}

/** Sets the status of upload `id` (in the claim's transaction). */
export async function setPendingUploadStatus(knex: Knex, id: string, status: PendingUploadStatus): Promise<void> {
  await knex(PENDING_UPLOADS_TABLE).where({ id }).update({ status });
}

/** Deletes the rows of `ids`. */
export async function deletePendingUploads(knex: Knex, ids: readonly string[]): Promise<void> {
  if (ids.length > 0) await knex(PENDING_UPLOADS_TABLE).whereIn('id', ids).delete();
}

/** The database's value of `date` for a pending-upload timestamp column, also for comparing against one. */
export function timestampValue(knex: Knex, date: Date): Date | string {
  return dialectOf(knex) === 'sqlite' ? sqliteText(date) : date;
}

/** On SQLite, takes the database write lock for the rest of `trx`; elsewhere nothing. */
export async function sqliteWriteLock(trx: Knex): Promise<void> {
  if (dialectOf(trx) === 'sqlite')
    await trx.raw('UPDATE ?? SET ?? = ?? WHERE 1 = 0', [PENDING_UPLOADS_TABLE, 'id', 'id']);
}

/** A row as the drivers give it, normalised: Dates for timestamps, a number for the size. */
export function readRow(row: Record<string, unknown>): PendingUploadRow {
  return {
    ...(row as unknown as PendingUploadRow),
    declared_size: Number(row.declared_size),
    created_at: readTimestamp(row.created_at),
    expires_at: readTimestamp(row.expires_at),
  };
}

function readTimestamp(value: unknown): Date {
  if (value instanceof Date) return value;
  if (typeof value === 'number') return new Date(value);
  const parsed = typeof value === 'string' ? parseDatabaseTimestamp(value, 'utc') : undefined;
  if (parsed === undefined) throw new InvalidArgumentError('timestamp', 'a database timestamp', value);
  return parsed;
}

/**
 * The owner of `set` as pending rows and tokens record it: canonical JSON of the owner's id
 * (every part as text, so `5` and `'5'` from different drivers agree) and the subset, keys sorted.
 * @throws InvalidArgumentError when the owner has no id yet, or the text is over 255 characters
 */
export function ownerText(set: ImageSet): string {
  const raw = (set.owner as Model).$id() as unknown;
  const ids = Array.isArray(raw) ? raw : [raw];
  if (ids.length === 0 || ids.some((v) => v === undefined || v === null)) {
    throw new InvalidArgumentError('owner', 'an owner with its id (save it first)', raw);
  }
  const subset = Object.keys(set.subset)
    .sort()
    .map((k) => [k, String((set.subset as Record<string, unknown>)[k])]);
  const text = JSON.stringify({ id: ids.map(String), subset });
  if (text.length > 255)
    throw new InvalidArgumentError('owner', 'an owner key of 255 characters or fewer as JSON', text);
  return text;
}

/** The purpose of uploads to `set` when none is given: `<owner table>.<relation>` (64 characters at most). */
export function defaultPurpose(set: ImageSet): string {
  const table = (set.owner.constructor as typeof Model).tableName;
  return `${table}.${set.relationName}`.slice(0, 64);
}

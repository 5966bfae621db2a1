/**
 * The `<table>_meta` row of an image set: which original it describes (its `created_at` and
 * upright size), the focal point and crop the user chose for it, and its placeholder. One row per
 * set, keyed as the set is (owner columns + subset columns), in this library's table beside
 * SQLAlchemy-ImageAttach's, which stays as it is.
 *
 * A row describes the original whose `created_at` it holds: when the original is replaced (by us
 * or by Python), the row no longer matches and nothing in it is used until it is written again.
 */
import type { Knex } from 'knex';
import type { Model } from 'objection';
import type { CropRect, FocalPoint } from '../imaging/variant-recipe.js';
import { variantTableNames } from '../schema.js';
import { type DatabaseTimestamp, parseDatabaseTimestamp, type TextZone } from '../stores/database-timestamp.js';
import { toDate } from '../stores/keys.js';
import { createdAtColumnValue, dialectOf, exactTimestampOptions, sessionTimeZone, textZoneOf } from './created-at.js';
import type { ImageEntity } from './image.js';
import { SetRows, type Subset } from './set-rows.js';

/** A set's placeholder, as the `placeholder: 'thumbhash'` option computes it at attach. */
export interface Placeholder {
  /** The ThumbHash, base64. */
  hash: string;
  /** A tiny image of it as a `data:` URI. */
  dataUri: string;
  /** The average colour, `#rrggbb`. */
  color: string;
  /** Whether the picture has transparent parts. */
  alpha: boolean;
}

/** A set's meta row, decoded. */
export interface SetMeta {
  /** The `created_at` of the original this row describes. */
  sourceCreatedAt: Date;
  /** The original's upright size (EXIF orientation applied). */
  sourceWidth: number;
  sourceHeight: number;
  focal: FocalPoint | undefined;
  crop: CropRect | undefined;
  placeholder: Placeholder | undefined;
}

/** The fields of a meta row a write sets; `null` clears one, a field left out is kept. */
export interface MetaFields {
  focal?: FocalPoint | null;
  crop?: CropRect | null;
  placeholder?: Placeholder | null;
}

/** What identifies a set: a `SetRows`, or anything with the `ImageSet` constructor's arguments. */
export type SetLike = SetRows | { owner: Model; relationName: string; subset: Subset };

export function setRowsOf(set: SetLike): SetRows {
  return set instanceof SetRows ? set : new SetRows(set.owner, set.relationName, set.subset);
}

/** The name of the meta table beside `rows`' image table. */
export function metaTable(rows: SetRows): string {
  return variantTableNames(rows.info.imageClass.tableName).meta;
}

/** The set's key in this library's tables: the owner's key columns and the subset columns. */
export function setKey(rows: SetRows): Record<string, unknown> {
  const key: Record<string, unknown> = {};
  rows.info.ownerColumns.forEach((column, i) => (key[column] = (rows.owner as any)[rows.info.ownerProps[i]!]));
  for (const column of rows.info.subsetColumns) key[column] = rows.subset[column];
  return key;
}

/** Two `created_at`s naming the same instant, to the microsecond where both know it. */
export function sameInstant(a: Date, b: Date): boolean {
  if (a === b) return true;
  if (a.getTime() !== b.getTime()) return false;
  // Texts of one zone read from the database: their digits say it (the page-render fast path).
  const [da, db] = [a as Partial<DatabaseTimestamp>, b as Partial<DatabaseTimestamp>];
  if (da.digits !== undefined && db.digits !== undefined && da.offsetMinutes === db.offsetMinutes)
    return da.digits.slice(14, 20) === db.digits.slice(14, 20);
  const micros = (d: Date) => (d as { exactDigits?: () => string | undefined }).exactDigits?.()?.slice(17, 20);
  const [ma, mb] = [micros(a), micros(b)];
  return ma === undefined || mb === undefined || ma === mb;
}

/** A timestamp of this library's tables as a query or a JSON column gives it: exact where the text is. */
export function stampOf(value: unknown, zone: TextZone, memo?: Map<string, Date>): Date {
  if (typeof value !== 'string') return toDate(value as Date | number);
  let date = memo?.get(value);
  if (date === undefined) {
    date = parseDatabaseTimestamp(value, zone) ?? toDate(value);
    memo?.set(value, date);
  }
  return date;
}

/** Runs `query` on our tables with the timestamp parsers image queries use (microseconds kept). */
export async function withExactStamps<T>(knex: Knex, query: Knex.QueryBuilder): Promise<T> {
  if (dialectOf(knex) === 'postgres') await sessionTimeZone(knex);
  const options = exactTimestampOptions(knex);
  if (options !== undefined) query.options(options);
  return (await query) as T;
}

/** A meta row as the database (or the eager JSON column) gives it, decoded. */
export function decodeMeta(raw: Record<string, any>, zone: TextZone): SetMeta {
  const num = (v: unknown) => (v === null || v === undefined ? undefined : Number(v));
  const fx = num(raw.focal_x);
  const fy = num(raw.focal_y);
  const [left, top, width, height] = [raw.crop_left, raw.crop_top, raw.crop_width, raw.crop_height].map(num);
  return {
    sourceCreatedAt: stampOf(raw.source_created_at, zone),
    sourceWidth: Number(raw.source_width),
    sourceHeight: Number(raw.source_height),
    focal: fx !== undefined && fy !== undefined ? { x: fx, y: fy } : undefined,
    crop:
      left !== undefined && top !== undefined && width !== undefined && height !== undefined
        ? { left, top, width, height }
        : undefined,
    placeholder:
      raw.placeholder_hash === null || raw.placeholder_hash === undefined
        ? undefined
        : {
            hash: String(raw.placeholder_hash),
            dataUri: String(raw.placeholder_data_uri ?? ''),
            color: String(raw.placeholder_color ?? ''),
            alpha: Boolean(Number(raw.placeholder_alpha ?? 0)),
          },
  };
}

/** The set's meta row (whatever original it describes), or `undefined` when it has none. */
export async function readMeta(knex: Knex, set: SetLike): Promise<SetMeta | undefined> {
  const rows = setRowsOf(set);
  const [raw] = await withExactStamps<Record<string, any>[]>(knex, knex(metaTable(rows)).where(setKey(rows)));
  return raw === undefined ? undefined : decodeMeta(raw, textZoneOf(knex));
}

/** The set's meta row when it describes `original`, else `undefined`. */
export async function readCurrentMeta(knex: Knex, set: SetLike, original: ImageEntity): Promise<SetMeta | undefined> {
  const meta = await readMeta(knex, set);
  return meta !== undefined && sameInstant(meta.sourceCreatedAt, toDate(original.created_at)) ? meta : undefined;
}

function fieldColumns(fields: MetaFields): Record<string, unknown> {
  const columns: Record<string, unknown> = {};
  if (fields.focal !== undefined) {
    columns.focal_x = fields.focal?.x ?? null;
    columns.focal_y = fields.focal?.y ?? null;
  }
  if (fields.crop !== undefined) {
    columns.crop_left = fields.crop?.left ?? null;
    columns.crop_top = fields.crop?.top ?? null;
    columns.crop_width = fields.crop?.width ?? null;
    columns.crop_height = fields.crop?.height ?? null;
  }
  if (fields.placeholder !== undefined) {
    columns.placeholder_hash = fields.placeholder?.hash ?? null;
    columns.placeholder_data_uri = fields.placeholder?.dataUri ?? null;
    columns.placeholder_color = fields.placeholder?.color ?? null;
    columns.placeholder_alpha = fields.placeholder === null ? null : fields.placeholder.alpha;
  }
  return columns;
}

const CLEARED: Required<MetaFields> = { focal: null, crop: null, placeholder: null };

/**
 * Writes the set's meta row for `original` (of upright size `source`): a row describing another
 * original (or none) is replaced, every field cleared but those given; a row describing this one
 * gets the given fields, the others kept.
 * @returns the row as written
 */
export async function upsertMeta(
  trx: Knex.Transaction,
  set: SetLike,
  original: ImageEntity,
  source: { width: number; height: number },
  fields: MetaFields,
): Promise<SetMeta> {
  const rows = setRowsOf(set);
  const key = setKey(rows);
  const current = await readCurrentMeta(trx, rows, original);
  const table = metaTable(rows);
  if (current === undefined) {
    const row = {
      ...key,
      source_created_at: createdAtColumnValue(toDate(original.created_at), trx),
      source_width: source.width,
      source_height: source.height,
      ...fieldColumns({
        focal: fields.focal ?? CLEARED.focal,
        crop: fields.crop ?? CLEARED.crop,
        placeholder: fields.placeholder ?? CLEARED.placeholder,
      }),
    };
    // Replaces a row of another original (one Python's replacement left behind).
    await trx(table)
      .insert(row)
      .onConflict(Object.keys(key))
      .merge(Object.keys(row).filter((c) => !(c in key)));
    return {
      sourceCreatedAt: toDate(original.created_at),
      sourceWidth: source.width,
      sourceHeight: source.height,
      focal: fields.focal ?? undefined,
      crop: fields.crop ?? undefined,
      placeholder: fields.placeholder ?? undefined,
    };
  }
  const columns = fieldColumns(fields);
  if (Object.keys(columns).length > 0) await trx(table).where(key).update(columns);
  return {
    ...current,
    ...(fields.focal !== undefined ? { focal: fields.focal ?? undefined } : {}),
    ...(fields.crop !== undefined ? { crop: fields.crop ?? undefined } : {}),
    ...(fields.placeholder !== undefined ? { placeholder: fields.placeholder ?? undefined } : {}),
  };
}

/**
 * Writes `placeholder` in the meta row of `set`'s `original` (the row is made if need be, of the
 * original's stored size when it has none: pass the upright size as `source` when known).
 */
export async function writePlaceholder(
  trx: Knex.Transaction,
  set: SetLike,
  original: ImageEntity,
  placeholder: Placeholder,
  source: { width: number; height: number } = { width: original.width, height: original.height },
): Promise<SetMeta> {
  const rows = setRowsOf(set);
  const current = await readCurrentMeta(trx, rows, original);
  return upsertMeta(
    trx,
    rows,
    original,
    current ? { width: current.sourceWidth, height: current.sourceHeight } : source,
    {
      placeholder,
    },
  );
}

/** Deletes the set's meta row. */
export async function deleteMeta(trx: Knex.Transaction, set: SetLike): Promise<void> {
  const rows = setRowsOf(set);
  await trx(metaTable(rows)).where(setKey(rows)).delete();
}

/**
 * The `<table>_variants` rows of an image set: one per rendered output (variant name, srcset
 * descriptor, format), saying which recipe made it (`digest`, also in its file key) and of which
 * original (`source_created_at`). Their files are ordinary store files under a variant object type
 * (`<objectType>.<variant>.<digest>`), so every store and the file ledger handle them as they do
 * an image row's.
 */
import type { Knex } from 'knex';
import type { Model } from 'objection';
import type { ConcreteVariantFormat } from '../imaging/variant-recipe.js';
import { variantTableNames } from '../schema.js';
import type { TextZone } from '../stores/database-timestamp.js';
import { type StoredImage, toDate, variantObjectType } from '../stores/keys.js';
import type { Store } from '../stores/store.js';
import { createdAtColumnValue, createdAtForInsert, textZoneOf } from './created-at.js';
import type { ImageEntity } from './image.js';
import { FileLedger } from './ledger.js';
import { type SetLike, setKey, setRowsOf, stampOf, withExactStamps } from './set-meta.js';
import type { SetRows } from './set-rows.js';

/** One variant output's row, decoded. */
export interface VariantRow {
  name: string;
  /** `1x`, `2x`, `640w`. */
  descriptor: string;
  format: ConcreteVariantFormat;
  width: number;
  height: number;
  mimetype: string;
  /** The recipe digest (12 hex), part of the file key. */
  digest: string;
  /** The `created_at` of the original it was made of. */
  sourceCreatedAt: Date;
  createdAt: Date;
}

/** The name of the variants table beside `rows`' image table. */
export function variantsTable(rows: SetRows): string {
  return variantTableNames(rows.info.imageClass.tableName).variants;
}

/** A variant row as the database (or the eager JSON column) gives it, decoded. */
export function decodeVariantRow(raw: Record<string, any>, zone: TextZone, memo?: Map<string, Date>): VariantRow {
  return {
    name: String(raw.name),
    descriptor: String(raw.descriptor),
    format: String(raw.format) as ConcreteVariantFormat,
    width: Number(raw.width),
    height: Number(raw.height),
    mimetype: String(raw.mimetype),
    digest: String(raw.digest),
    // A set's rows share their source's stamp: `memo` parses it once.
    sourceCreatedAt: stampOf(raw.source_created_at, zone, memo),
    createdAt: stampOf(raw.created_at, zone),
  };
}

/** The set's variant rows (of the variants `names`, or all), whatever original they were made of. */
export async function readVariantRows(knex: Knex, set: SetLike, names?: readonly string[]): Promise<VariantRow[]> {
  const rows = setRowsOf(set);
  const query = knex(variantsTable(rows)).where(setKey(rows));
  if (names !== undefined) query.whereIn('name', [...names]);
  const raws = await withExactStamps<Record<string, any>[]>(knex, query.orderBy(['name', 'format', 'descriptor']));
  const zone = textZoneOf(knex);
  return raws.map((raw) => decodeVariantRow(raw, zone));
}

/** An output about to be stored: its row, less the `created_at` the insert stamps. */
export type NewVariantRow = Omit<VariantRow, 'createdAt'>;

/**
 * Inserts the row of one output. With `replace`, a row of the same output (name, descriptor,
 * format) is overwritten; without, such a row makes the insert fail with a unique violation
 * (how concurrent makers of one output learn that another was first).
 */
export async function insertVariantRow(
  trx: Knex.Transaction,
  set: SetLike,
  row: NewVariantRow,
  options: { replace?: boolean } = {},
): Promise<VariantRow> {
  const rows = setRowsOf(set);
  const table = variantsTable(rows);
  const key = setKey(rows);
  const createdAt = await createdAtForInsert(trx, table);
  const values = {
    ...key,
    name: row.name,
    descriptor: row.descriptor,
    format: row.format,
    width: row.width,
    height: row.height,
    mimetype: row.mimetype,
    digest: row.digest,
    source_created_at: createdAtColumnValue(toDate(row.sourceCreatedAt), trx),
    created_at: createdAtColumnValue(createdAt, trx),
  };
  const insert = trx(table).insert(values);
  if (options.replace) {
    const pk = [...Object.keys(key), 'name', 'descriptor', 'format'];
    await insert.onConflict(pk).merge(Object.keys(values).filter((c) => !pk.includes(c)));
  } else await insert;
  return { ...row, createdAt };
}

/** Deletes `which` of the set's rows (by their output), or all of them. @returns the rows deleted */
export async function deleteVariantRows(
  trx: Knex.Transaction,
  set: SetLike,
  which: readonly VariantRow[] | 'all',
): Promise<VariantRow[]> {
  const rows = setRowsOf(set);
  const table = variantsTable(rows);
  const key = setKey(rows);
  if (which === 'all') {
    const all = await readVariantRows(trx, rows);
    if (all.length > 0) await trx(table).where(key).delete();
    return all;
  }
  for (const row of which) {
    await trx(table)
      .where({ ...key, name: row.name, descriptor: row.descriptor, format: row.format })
      .delete();
  }
  return [...which];
}

/**
 * An image of the set's class holding only its key (owner and subset columns): what names its
 * files (`objectType`, `objectId`) when no row of it is at hand (Python removed the set, say).
 */
export function keyImage(set: SetLike): ImageEntity {
  const rows = setRowsOf(set);
  const image = new rows.info.imageClass();
  const key = setKey(rows);
  Object.assign(image, key, { width: 1, height: 1 });
  return image;
}

const objectTypes = new Map<string, string>();

/** {@link variantObjectType}, checked once per class, variant and recipe (a page names every output). */
function cachedObjectType(objectType: string, name: string, digest: string): string {
  const id = `${objectType}\0${name}\0${digest}`;
  let made = objectTypes.get(id);
  if (made === undefined) {
    made = variantObjectType(objectType, name, digest);
    if (objectTypes.size >= 4096) objectTypes.clear();
    objectTypes.set(id, made);
  }
  return made;
}

/** The store key of a variant output's file: the set's object id, the variant's object type. */
export function variantFileKey(keyOf: Pick<ImageEntity, 'objectType' | 'objectId'>, row: VariantRow): StoredImage {
  return {
    objectType: cachedObjectType(keyOf.objectType, row.name, row.digest),
    objectId: keyOf.objectId,
    width: row.width,
    height: row.height,
    mimetype: row.mimetype,
    original: false,
    created_at: row.createdAt,
  };
}

/**
 * Has the files of the deleted variant rows removed once `trx` commits (kept if it rolls back, or
 * if a committed row names the same file by then: an output made again in a later transaction).
 */
export function scheduleVariantFileDeletes(
  trx: Knex.Transaction,
  set: SetLike,
  deleted: readonly VariantRow[],
  store: Store,
): void {
  if (deleted.length === 0) return;
  const rows = setRowsOf(set);
  const image = keyImage(rows);
  const ledger = FileLedger.of(trx);
  for (const row of deleted) {
    ledger.scheduleDelete(store, variantFileKey(image, row), () => stillReferenced(rows, row));
  }
}

/** True when a committed variant row of the set names the same file as `row`. */
async function stillReferenced(rows: SetRows, row: VariantRow): Promise<boolean> {
  let knex: Knex | undefined;
  try {
    knex = (rows.info.imageClass as unknown as typeof Model).knex();
  } catch {
    return false;
  }
  if (!knex) return false;
  const found = await knex(variantsTable(rows))
    .where({
      ...setKey(rows),
      name: row.name,
      digest: row.digest,
      width: row.width,
      height: row.height,
      mimetype: row.mimetype,
    })
    .first('name');
  return found !== undefined;
}

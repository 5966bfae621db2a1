/**
 * Eager loading of a set's variant rows and meta row with its images: a relation that declares
 * variants or a placeholder adds two JSON columns to the finds of its image rows (the eager
 * `withGraphFetched`, `$relatedQuery`, `load()`), filled on the original's row only, so a page of
 * owners still costs two queries (the owners, their images). Timestamps go through as text, so
 * `?_ts=` keeps its microseconds.
 *
 * The columns are taken off the row as it is read (`takeVariantData`, from the image model's
 * `$parseDatabaseJson`) and kept beside the model, never on it: they are never written back.
 * Writes (delete, update, insert, locking reads) never get them.
 */
import type { Knex } from 'knex';
import type { Model, QueryBuilder } from 'objection';
import { variantTableNames } from '../schema.js';
import { dialectOf, textZoneOf } from './created-at.js';
import type { ImageEntity, ImageEntityClass } from './image.js';
import { decodeMeta, type SetMeta } from './set-meta.js';
import { decodeVariantRow, type VariantRow } from './variant-rows.js';

export const VARIANTS_COLUMN = 'imageattach_variants';
export const META_COLUMN = 'imageattach_meta';

/** What an original's row brought of this library's tables. */
export interface LoadedVariantData {
  variants: VariantRow[];
  meta: SetMeta | undefined;
}

type Stash = { raw: { variants: unknown; meta: unknown } } | { decoded: LoadedVariantData };
const stashes = new WeakMap<object, Stash>();

const LOCKS = /^(forUpdate|forShare|forNoKeyUpdate|forKeyShare|skipLocked|noWait)$/;

/**
 * The relation mapping's `modify` for a relation with variants: on a find of the image rows that
 * selects whole rows, adds the two JSON columns.
 */
export function variantDataModifier(
  imageClass: () => ImageEntityClass,
  ownerColumns: () => string[],
): (builder: QueryBuilder<Model, Model[]>) => void {
  return (builder) => {
    if (!builder.isFind() || builder.hasSelects() || builder.has(LOCKS) || builder.has(/count/i)) return;
    const cls = imageClass();
    const knex = builder.knex();
    const table = builder.tableRefFor(cls as unknown as typeof Model);
    const subset = ([] as string[])
      .concat(cls.idColumn)
      .filter((c) => c !== 'width' && c !== 'height' && !ownerColumns().includes(c));
    const keyColumns = [...ownerColumns(), ...subset];
    const names = variantTableNames(cls.tableName);
    builder.select(
      `${table}.*`,
      knex.raw('? AS ??', [variantsSubquery(knex, names.variants, table, keyColumns), VARIANTS_COLUMN]),
      knex.raw('? AS ??', [metaSubquery(knex, names.meta, table, keyColumns), META_COLUMN]),
    );
  };
}

const VARIANT_FIELDS = ['name', 'descriptor', 'format', 'width', 'height', 'mimetype', 'digest'];
const VARIANT_STAMPS = ['source_created_at', 'created_at'];
const META_FIELDS = [
  'source_width',
  'source_height',
  'focal_x',
  'focal_y',
  'crop_left',
  'crop_top',
  'crop_width',
  'crop_height',
  'placeholder_hash',
  'placeholder_data_uri',
  'placeholder_color',
  'placeholder_alpha',
];
const META_STAMPS = ['source_created_at'];

/** `json_object('a', v.a, …)` in the dialect's words, timestamps as exact text. */
function jsonObject(knex: Knex, alias: string, fields: string[], stamps: string[]): Knex.Raw {
  const dialect = dialectOf(knex);
  const parts: string[] = [];
  const bindings: string[] = [];
  // The keys are this file's own constants (plain names), written as literals: PostgreSQL cannot
  // type a bound parameter there.
  for (const field of fields) {
    parts.push(`'${field}', ??`);
    bindings.push(`${alias}.${field}`);
  }
  for (const field of stamps) {
    const text =
      dialect === 'postgres' ? '??::text' : dialect === 'mysql' ? "DATE_FORMAT(??, '%Y-%m-%d %H:%i:%s.%f')" : '??';
    parts.push(`'${field}', ${text}`);
    bindings.push(`${alias}.${field}`);
  }
  const fn = dialect === 'postgres' ? 'json_build_object' : dialect === 'mysql' ? 'JSON_OBJECT' : 'json_object';
  return knex.raw(`${fn}(${parts.join(', ')})`, bindings);
}

/** `v.k1 = t.k1 AND … AND t.original`: the rows of the set of the image row, on its original only. */
function joinCondition(knex: Knex, alias: string, table: string, keyColumns: string[]): Knex.Raw {
  const parts = keyColumns.map(() => '?? = ??');
  const bindings = keyColumns.flatMap((c) => [`${alias}.${c}`, `${table}.${c}`]);
  return knex.raw(`${parts.join(' AND ')} AND ??`, [...bindings, `${table}.original`]);
}

function variantsSubquery(knex: Knex, variantsTable: string, table: string, keyColumns: string[]): Knex.Raw {
  const dialect = dialectOf(knex);
  const object = jsonObject(knex, 'oia_v', VARIANT_FIELDS, VARIANT_STAMPS);
  const agg = dialect === 'postgres' ? 'json_agg' : dialect === 'mysql' ? 'JSON_ARRAYAGG' : 'json_group_array';
  return knex.raw(`(SELECT ${agg}(?) FROM ?? AS oia_v WHERE ?)`, [
    object,
    variantsTable,
    joinCondition(knex, 'oia_v', table, keyColumns),
  ]);
}

function metaSubquery(knex: Knex, metaTable: string, table: string, keyColumns: string[]): Knex.Raw {
  const object = jsonObject(knex, 'oia_m', META_FIELDS, META_STAMPS);
  return knex.raw(`(SELECT ? FROM ?? AS oia_m WHERE ?)`, [
    object,
    metaTable,
    joinCondition(knex, 'oia_m', table, keyColumns),
  ]);
}

/**
 * Takes the JSON columns off a row being read into `image` (its `$parseDatabaseJson`) and keeps
 * them for {@link loadedVariantData}.
 */
export function takeVariantData(image: object, json: Record<string, any>): void {
  if (!(VARIANTS_COLUMN in json) && !(META_COLUMN in json)) return;
  const raw = { variants: json[VARIANTS_COLUMN], meta: json[META_COLUMN] };
  delete json[VARIANTS_COLUMN];
  delete json[META_COLUMN];
  if (json.original === false || json.original === 0 || json.original === '0') return;
  stashes.set(image, { raw });
}

/** Records what is now in the tables for `original` (after a write), as a load would have brought it. */
export function rememberVariantData(original: ImageEntity, data: LoadedVariantData): void {
  stashes.set(original, { decoded: data });
}

/**
 * The variant and meta rows that came with `original`'s row, or `undefined` when it was read
 * without them (by a query of its own class, or with a `select`).
 */
export function loadedVariantData(original: ImageEntity): LoadedVariantData | undefined {
  const stash = stashes.get(original);
  if (stash === undefined) return undefined;
  if ('decoded' in stash) return stash.decoded;
  let knex: Knex | undefined;
  try {
    knex = (original.constructor as typeof Model).knex();
  } catch {
    knex = undefined;
  }
  const zone = textZoneOf(knex);
  const parse = (value: unknown): any =>
    typeof value === 'string' ? JSON.parse(value) : Buffer.isBuffer(value) ? JSON.parse(value.toString()) : value;
  const variants = (parse(stash.raw.variants) ?? []) as Record<string, any>[];
  const memo = new Map<string, Date>();
  const meta = parse(stash.raw.meta) as Record<string, any> | null | undefined;
  const decoded: LoadedVariantData = {
    variants: variants.map((row) => decodeVariantRow(row, zone, memo)),
    meta: meta == null ? undefined : decodeMeta(meta, zone),
  };
  stashes.set(original, { decoded });
  return decoded;
}

/**
 * Reading the rows of an image class's `<table>_variants` (this library's table beside the image
 * table: one row per variant output made) as the files they point to. Migration copies those
 * files, and the CLI checks them (`verify --variants`) and keeps them from `--orphans` and
 * `clean --superseded`.
 *
 * A variant output's file has an ordinary key: the original's object type with the variant name
 * and recipe digest appended (`user-picture.avatar.3f2a9c0b1d4e`), the original's object id, and
 * the output's own size and type.
 */
import type { Knex } from 'knex';
import type { Model } from 'objection';
import type { ImageEntity, ImageEntityClass } from '../entity/index.js';
import { variantTableNames } from '../schema.js';
import { type ImageKey, variantObjectType } from '../stores/keys.js';
import { knexFor, pagedTableRows } from './rows.js';

/** One variant output's file: the row that points to it, and its key in a store. */
export interface VariantFile {
  imageClass: ImageEntityClass;
  /** The image set's key columns (the owner's and any subset columns), as the row holds them. */
  set: Record<string, unknown>;
  /** The variant's declared name (`avatar`). */
  name: string;
  /** Its srcset descriptor: `1x`, `2x`, `640w`. */
  descriptor: string;
  format: string;
  /** The recipe digest (12 hex digits), part of the file's key. */
  digest: string;
  key: ImageKey;
}

export interface VariantRowOptions {
  /** The connection; default the class's bound knex. */
  knex?: Knex;
  /** Rows per query. */
  pageSize: number;
}

/** The image set's key columns: the image table's key minus width and height. */
function setColumns(cls: ImageEntityClass): string[] {
  return ([] as string[]).concat(cls.idColumn).filter((c) => c !== 'width' && c !== 'height');
}

/** The name of `cls`'s variants table (`user_picture_variants`). */
export function variantTableOf(cls: ImageEntityClass): string {
  return variantTableNames(cls.tableName).variants;
}

/**
 * Whether `cls` has a variants table: an image class whose relations declare no variants has none,
 * and then holds no variant files either.
 */
export async function hasVariantTable(cls: ImageEntityClass, knex: Knex | undefined): Promise<boolean> {
  return knexFor(cls, knex).schema.hasTable(variantTableOf(cls));
}

/** How many variant rows `cls` has (0 without a variants table). */
export async function countVariantRows(cls: ImageEntityClass, knex: Knex | undefined): Promise<number> {
  if (!(await hasVariantTable(cls, knex))) return 0;
  const row = (await knexFor(cls, knex)(variantTableOf(cls)).count({ n: '*' }).first()) as
    { n: number | string | bigint } | undefined;
  return Number(row?.n ?? 0);
}

/**
 * Every variant row of `cls` as the file it points to, in key order, one page per query (nothing
 * without a variants table).
 */
export async function* pagedVariantFiles(
  cls: ImageEntityClass,
  options: VariantRowOptions,
): AsyncGenerator<VariantFile> {
  if (!(await hasVariantTable(cls, options.knex))) return;
  const knex = knexFor(cls, options.knex);
  const columns = [...setColumns(cls), 'name', 'descriptor', 'format'];
  for await (const row of pagedTableRows(knex, variantTableOf(cls), columns, options)) yield variantFileOf(cls, row);
}

/** The file a variants row points to. */
export function variantFileOf(cls: ImageEntityClass, row: Record<string, unknown>): VariantFile {
  const set = Object.fromEntries(setColumns(cls).map((column) => [column, row[column]]));
  const width = Number(row.width);
  const height = Number(row.height);
  const mimetype = String(row.mimetype);
  // The original's object type and id, as its model computes them from the set's key columns
  // (overrides included), without reading the original's row.
  const original = (cls as unknown as typeof Model).fromDatabaseJson({
    ...set,
    width,
    height,
    mimetype,
    original: true,
  }) as unknown as ImageEntity;
  const name = String(row.name);
  const digest = String(row.digest);
  return {
    imageClass: cls,
    set,
    name,
    descriptor: String(row.descriptor),
    format: String(row.format),
    digest,
    key: {
      objectType: variantObjectType(original.objectType, name, digest),
      objectId: original.objectId,
      width,
      height,
      mimetype,
    },
  };
}

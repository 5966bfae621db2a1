/**
 * Reading every row of an image table in pages, by keyset pagination on its key columns: each
 * page starts after the last key of the one before, so memory holds one page at a time and rows
 * inserted or deleted meanwhile never shift a page (as OFFSET would).
 */
import type { Knex } from 'knex';
import type { Model } from 'objection';
import type { ImageEntity, ImageEntityClass } from '../entity/index.js';
import { ImageAttachError } from '../errors.js';

export interface RowQueryOptions {
  /** The connection; default the class's bound knex. */
  knex?: Knex;
  /** Rows per query. */
  pageSize: number;
  /** Narrows the rows (e.g. originals only). */
  where?: (query: Knex.QueryBuilder) => void;
}

/** The knex to read `cls` with: the given one, else the one bound to the class. */
export function knexFor(cls: ImageEntityClass, knex: Knex | undefined): Knex {
  if (knex) return knex;
  let bound: Knex | undefined;
  try {
    bound = (cls as unknown as typeof Model).knex();
  } catch {
    // Objection throws when no knex is bound; the message below says what to do instead.
  }
  if (!bound) {
    throw new ImageAttachError(
      'ERR_NO_KNEX',
      `${cls.name} has no knex bound: call Model.knex(knex) or pass { knex } in the options`,
    );
  }
  return bound;
}

function keyColumns(cls: ImageEntityClass): string[] {
  return ([] as string[]).concat(cls.idColumn);
}

/** How many rows `cls` has (narrowed by `where`). */
export async function countRows(cls: ImageEntityClass, options: Omit<RowQueryOptions, 'pageSize'>): Promise<number> {
  const query = knexFor(cls, options.knex)(cls.tableName).count({ n: '*' });
  options.where?.(query);
  const row = (await query.first()) as { n: number | string | bigint } | undefined;
  return Number(row?.n ?? 0);
}

/**
 * Every row of `cls` as a model instance, in key order, one page per query.
 * Rows are read with plain knex and turned into models with `fromDatabaseJson`, so the keyset
 * compares the database's own values, whatever a model's `$parseDatabaseJson` makes of them.
 */
export async function* pagedRows(cls: ImageEntityClass, options: RowQueryOptions): AsyncGenerator<ImageEntity> {
  const knex = knexFor(cls, options.knex);
  const fromDatabaseJson = (cls as unknown as typeof Model).fromDatabaseJson.bind(cls as unknown as typeof Model);
  for await (const row of pagedTableRows(knex, cls.tableName, keyColumns(cls), options))
    yield fromDatabaseJson(row) as unknown as ImageEntity;
}

/** Every row of `table` as the driver returns it, in the order of its key `columns`, one page per query. */
export async function* pagedTableRows(
  knex: Knex,
  table: string,
  columns: string[],
  options: Omit<RowQueryOptions, 'knex'>,
): AsyncGenerator<Record<string, unknown>> {
  let last: unknown[] | undefined;
  for (;;) {
    const query = knex(table)
      .select('*')
      .orderBy(columns.map((column) => ({ column, order: 'asc' })));
    options.where?.(query);
    if (last !== undefined) afterKey(query, columns, last);
    const page = (await query.limit(options.pageSize)) as Record<string, unknown>[];
    yield* page;
    if (page.length < options.pageSize) return;
    const lastRow = page[page.length - 1]!;
    last = columns.map((column) => lastRow[column]);
  }
}

/**
 * `(c1, c2, …) > (v1, v2, …)` spelled as `c1 > v1 OR (c1 = v1 AND c2 > v2) OR …`: the same on
 * every dialect (row-value comparisons are not).
 */
function afterKey(query: Knex.QueryBuilder, columns: string[], values: unknown[]): void {
  query.where(function () {
    columns.forEach((column, i) => {
      this.orWhere(function () {
        for (let j = 0; j < i; j++) this.where(columns[j]!, values[j] as Knex.Value);
        this.where(column, '>', values[i] as Knex.Value);
      });
    });
  });
}

/**
 * Knex schema helpers for users' migrations.
 */
import type { Knex } from 'knex';
import { InvalidArgumentError } from './errors.js';

/**
 * Adds the image columns every image table has, with SQLAlchemy-ImageAttach's names and types: `width`,
 * `height`, `mimetype`, `original`, `created_at` (microsecond precision, so `?_ts=` changes with
 * every new image). Add the owner's key yourself and make the primary key
 * `[ownerKey…, 'width', 'height']`.
 * @example
 * await knex.schema.createTable('user_picture', (table) => {
 *   table.integer('user_id').notNullable().references('users.id').onDelete('CASCADE');
 *   imageColumns(table);
 *   table.primary(['user_id', 'width', 'height']);
 * });
 */
export function imageColumns(table: Knex.CreateTableBuilder): void {
  table.integer('width').notNullable();
  table.integer('height').notNullable();
  table.string('mimetype', 255).notNullable();
  table.boolean('original').notNullable().defaultTo(false);
  table.datetime('created_at', { precision: 6, useTz: true }).notNullable();
}

/** The table of direct uploads presigned and not yet claimed or swept (see {@link pendingUploadsTable}). */
export const PENDING_UPLOADS_TABLE = 'imageattach_pending_uploads';

/**
 * Creates `imageattach_pending_uploads`, this library's table of direct uploads: one row per
 * presigned upload (a random 128-bit id, what it is for, whose it is, the staging key chosen, the
 * declared size and type, its expiry and status), read by the claim and by the sweep, which finds
 * expired rows through the `(status, expires_at)` index. One table serves every image relation.
 * @example
 * export async function up(knex) { await pendingUploadsTable(knex); }
 * export async function down(knex) { await knex.schema.dropTable('imageattach_pending_uploads'); }
 */
export async function pendingUploadsTable(knex: Knex): Promise<void> {
  await knex.schema.createTable(PENDING_UPLOADS_TABLE, (table) => {
    // 128 random bits as 32 hex digits: the id is the staging key's last part, never guessable.
    table.specificType('id', 'char(32)').notNullable().primary();
    table.string('purpose', 64).notNullable();
    // The owner's id and subset as canonical JSON: a claim for another owner finds no match.
    table.string('owner', 255).notNullable();
    table.string('principal', 255).nullable();
    // The store's directUploads tag, so the claim and the sweep know where the bytes went.
    table.string('store', 64).notNullable();
    table.string('object_key', 512).notNullable();
    table.bigInteger('declared_size').notNullable();
    table.string('declared_type', 64).notNullable();
    // 'pending', 'claimed' or 'rejected'.
    table.string('status', 16).notNullable();
    table.datetime('created_at', { precision: 6, useTz: true }).notNullable();
    table.datetime('expires_at', { precision: 6, useTz: true }).notNullable();
    table.index(['status', 'expires_at'], `${PENDING_UPLOADS_TABLE}_status_expires_at`);
  });
}

/** The names of the tables {@link variantTables} makes beside the image table `imageTable`. */
export function variantTableNames(imageTable: string): { variants: string; meta: string } {
  return { variants: `${imageTable}_variants`, meta: `${imageTable}_meta` };
}

/**
 * Creates this library's tables beside SQLAlchemy-ImageAttach's image table `imageTable`, which
 * stays as it is: `<imageTable>_variants` (one row per rendered variant output) and
 * `<imageTable>_meta` (one row per image set: the original it describes, its focal point, crop
 * and placeholder). `ownerKey` adds the owner's key columns, the same ones the image table has
 * minus width/height; reference the owner with `onDelete('CASCADE')`, so that deleting an owner
 * (from Python too) deletes these rows with it.
 * @example
 * await variantTables(knex, 'user_picture', (t) => {
 *   t.integer('user_id').notNullable().references('users.id').onDelete('CASCADE');
 * });
 */
export async function variantTables(
  knex: Knex,
  imageTable: string,
  ownerKey: (table: Knex.CreateTableBuilder) => void,
): Promise<void> {
  const names = variantTableNames(imageTable);
  await knex.schema.createTable(names.variants, (table) => {
    const key = ownerColumns(table, ownerKey);
    table.string('name', 32).notNullable();
    // `1x`, `2x`, `640w`: the srcset descriptor.
    table.string('descriptor', 16).notNullable();
    table.string('format', 8).notNullable();
    table.integer('width').notNullable();
    table.integer('height').notNullable();
    table.string('mimetype', 255).notNullable();
    // The recipe digest, part of the file key: a changed recipe gives another file.
    table.string('digest', 16).notNullable();
    // The original's created_at when this output was made of it: another one means another picture.
    table.datetime('source_created_at', { precision: 6, useTz: true }).notNullable();
    table.datetime('created_at', { precision: 6, useTz: true }).notNullable();
    table.primary([...key, 'name', 'descriptor', 'format']);
  });
  await knex.schema.createTable(names.meta, (table) => {
    const key = ownerColumns(table, ownerKey);
    table.datetime('source_created_at', { precision: 6, useTz: true }).notNullable();
    table.integer('source_width').notNullable();
    table.integer('source_height').notNullable();
    // Fractions (0–1) of the upright picture.
    table.double('focal_x').nullable();
    table.double('focal_y').nullable();
    table.double('crop_left').nullable();
    table.double('crop_top').nullable();
    table.double('crop_width').nullable();
    table.double('crop_height').nullable();
    table.string('placeholder_hash', 64).nullable();
    table.text('placeholder_data_uri').nullable();
    table.string('placeholder_color', 16).nullable();
    table.boolean('placeholder_alpha').nullable();
    table.primary(key);
  });
}

/** Adds the owner's key columns through `ownerKey`, and returns their names (for the primary key). */
function ownerColumns(table: Knex.CreateTableBuilder, ownerKey: (table: Knex.CreateTableBuilder) => void): string[] {
  const names: string[] = [];
  const recording = new Proxy(table, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        // Column builders take the column's name first; foreign(), index() and the like take a list.
        const result = value.apply(target, args);
        if (typeof args[0] === 'string' && result !== target && COLUMN_TYPES.has(String(property))) names.push(args[0]);
        return result;
      };
    },
  });
  ownerKey(recording);
  if (names.length === 0) {
    throw new InvalidArgumentError(
      'ownerKey',
      "a function adding the owner's key columns (t.integer('user_id')…)",
      ownerKey,
    );
  }
  return names;
}

const COLUMN_TYPES: ReadonlySet<string> = new Set([
  'integer',
  'bigInteger',
  'bigint',
  'tinyint',
  'smallint',
  'mediumint',
  'string',
  'text',
  'uuid',
  'specificType',
  'decimal',
  'float',
  'double',
  'binary',
  'date',
  'datetime',
  'timestamp',
  'boolean',
]);

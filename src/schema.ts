/**
 * Knex schema helpers for users' migrations.
 */
import type { Knex } from 'knex';

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

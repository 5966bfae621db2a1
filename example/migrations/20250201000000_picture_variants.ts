/**
 * The avatar variant's tables, beside user_picture (which stays as SQLAlchemy-ImageAttach made
 * it): `user_picture_variants` (one row per output file) and `user_picture_meta` (focal point).
 * Their owner columns are the image table's key minus width and height; ON DELETE CASCADE, so a
 * user deleted by another app (Python) takes these rows along.
 */
import type { Knex } from 'knex';
import { variantTables } from 'objection-imageattach';

export async function up(knex: Knex): Promise<void> {
  await variantTables(knex, 'user_picture', (table) => {
    table.integer('user_id').unsigned().notNullable().references('users.id').onDelete('CASCADE');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('user_picture_meta');
  await knex.schema.dropTable('user_picture_variants');
}

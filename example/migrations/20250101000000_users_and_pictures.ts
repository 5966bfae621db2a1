/**
 * The schema: users, and their pictures' images. `imageColumns()` adds width, height, mimetype,
 * original and created_at; the primary key is the owner's key plus width and height.
 */
import type { Knex } from 'knex';
import { imageColumns } from 'objection-imageattach';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (table) => {
    table.increments('id');
    table.string('name', 100).notNullable();
  });
  await knex.schema.createTable('user_picture', (table) => {
    // No ON DELETE CASCADE: the database would drop rows behind the library's back and leave their
    // files orphaned. The User model's ImageOwner mixin deletes the images first instead.
    table.integer('user_id').unsigned().notNullable().references('users.id');
    imageColumns(table);
    table.primary(['user_id', 'width', 'height']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('user_picture');
  await knex.schema.dropTable('users');
}

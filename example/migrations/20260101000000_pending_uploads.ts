/**
 * Direct uploads (the picture form, with JavaScript on): the library's table of uploads presigned
 * and not yet claimed or swept.
 */
import type { Knex } from 'knex';
import { PENDING_UPLOADS_TABLE, pendingUploadsTable } from 'objection-imageattach';

export async function up(knex: Knex): Promise<void> {
  await pendingUploadsTable(knex);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable(PENDING_UPLOADS_TABLE);
}

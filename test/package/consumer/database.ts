// What both consumer programs share: a SQLite file in a temp folder with the two tables, bound to
// Objection, and a small JPEG to attach.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { Model } from 'objection';
import { imageColumns } from 'objection-imageattach';

export const JPEG_64x48 = Buffer.from(
  '/9j/2wBDAAoHBwgHBgoICAgLCgoLDhgQDg0NDh0VFhEYIx8lJCIfIiEmKzcvJik0KSEiMEExNDk7Pj4+JS5ESUM8SDc9Pjv/2wBDAQoLCw4NDhwQEBw7KCIoOzs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozv/wAARCAAwAEADASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAAAAT/xAAUEAEAAAAAAAAAAAAAAAAAAAAA/8QAFQEBAQAAAAAAAAAAAAAAAAAAAAb/xAAUEQEAAAAAAAAAAAAAAAAAAAAA/9oADAMBAAIRAxEAPwCEBPrIAAAAAAAAAAAAAAAAAAAAAB//2Q==',
  'base64',
);

export interface Workspace {
  dir: string;
  knex: Knex;
  close(): Promise<void>;
}

export async function openWorkspace(label: string): Promise<Workspace> {
  const dir = await mkdtemp(path.join(tmpdir(), `oia-consumer-${label}-`));
  const knex = knexFactory({
    client: 'better-sqlite3',
    connection: { filename: path.join(dir, 'db.sqlite') },
    useNullAsDefault: true,
  });
  Model.knex(knex);
  await knex.schema.createTable('product', (t) => {
    t.increments('id');
    t.string('title');
  });
  await knex.schema.createTable('photo', (t) => {
    t.integer('product_id').notNullable().references('product.id');
    imageColumns(t);
    t.primary(['product_id', 'width', 'height']);
  });
  return {
    dir,
    knex,
    async close() {
      await knex.destroy();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A database the CLI's child process can open too, on each dialect: SQLite in a file (an in-memory
 * database exists per connection), MariaDB and PostgreSQL as test/support/db.ts opens them, and the
 * knex settings to write into a CLI config for it.
 */
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import type { Dialect } from './db.js';

export interface CliDatabase {
  knex: Knex;
  /** The knex settings, as JSON for `knexFactory(…)` in a config module. */
  settings: string;
  close(): Promise<void>;
}

export async function openCliDatabase(dialect: Dialect, work: string): Promise<CliDatabase> {
  if (dialect.name === 'sqlite') {
    const settings = {
      client: 'better-sqlite3',
      connection: { filename: path.join(work, 'images.sqlite') },
      useNullAsDefault: true,
    };
    const knex = knexFactory(settings);
    return { knex, settings: JSON.stringify(settings), close: () => knex.destroy() };
  }
  const knex = await dialect.open();
  const { client, connection, searchPath } = knex.client.config as Knex.Config;
  return {
    knex,
    settings: JSON.stringify({ client, connection, searchPath, pool: { min: 0, max: 4 } }),
    close: () => dialect.close(knex),
  };
}

/**
 * The database: SQLite in the data folder by default, MariaDB/MySQL or PostgreSQL from a URL.
 * Migrations (example/migrations) run on start, so a fresh checkout needs no setup step.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import knexFactory, { type Knex } from 'knex';

const MIGRATIONS = fileURLToPath(new URL('./migrations', import.meta.url));

/** A knex for `databaseUrl` (`mysql://…`, `mariadb://…`, `postgres://…`), else SQLite in `dataDir`. */
export function connect(dataDir: string, databaseUrl?: string): Knex {
  if (databaseUrl === undefined) {
    return knexFactory({
      client: 'better-sqlite3',
      connection: { filename: path.join(dataDir, 'example.sqlite') },
      useNullAsDefault: true,
      pool: {
        // WAL: readers do not wait for the writer. synchronous = NORMAL: a commit no longer waits
        // for an fsync (better-sqlite3 is synchronous, so that wait would stall every request);
        // a crash of the app loses nothing, a power cut at most the last commits.
        afterCreate(conn: { pragma(sql: string): unknown }, done: (error: Error | null, conn: unknown) => void) {
          conn.pragma('journal_mode = WAL');
          conn.pragma('synchronous = NORMAL');
          conn.pragma('foreign_keys = ON');
          done(null, conn);
        },
      },
    });
  }
  const url = new URL(databaseUrl);
  if (url.protocol === 'mysql:' || url.protocol === 'mariadb:') {
    url.protocol = 'mysql:';
    // UTC in and out, so created_at (and the ?_ts= of image URLs) round-trips exactly.
    return knexFactory({
      client: 'mysql2',
      connection: { uri: url.href, timezone: 'Z', supportBigNumbers: true } as Knex.MySql2ConnectionConfig,
    });
  }
  if (url.protocol === 'postgres:' || url.protocol === 'postgresql:') {
    return knexFactory({ client: 'pg', connection: databaseUrl });
  }
  throw new Error(`DATABASE_URL must start with mysql://, mariadb:// or postgres:// (got ${url.protocol}//…)`);
}

/** Brings the schema up to date. */
export async function migrate(knex: Knex): Promise<void> {
  // The migrations are TypeScript, run by tsx like the rest of the example.
  await knex.migrate.latest({ directory: MIGRATIONS, loadExtensions: ['.ts'] });
}

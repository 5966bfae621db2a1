/**
 * Mounting the example app in tests: a temp DATA_DIR, and a throw-away database on each dialect
 * the run covers (SQLite in the data folder always; MariaDB and PostgreSQL when MYSQL_URL/PG_URL
 * are set), reached through DATABASE_URL as the example's users would.
 */
import { randomBytes } from 'node:crypto';
import knexFactory from 'knex';
import { type AppOptions, createApp, type ExampleApp } from '../../example/app.js';
import { removeDir, tempDir } from '../support/tmp.js';

export interface ExampleDatabase {
  name: 'sqlite' | 'mysql' | 'postgres';
  /** A fresh database's URL (undefined: SQLite in the data folder), and how to drop it. */
  create(): Promise<{ url: string | undefined; drop(): Promise<void> }>;
}

function serverDatabase(name: 'mysql' | 'postgres', adminUrl: string): ExampleDatabase {
  return {
    name,
    async create() {
      const admin = knexFactory({
        client: name === 'mysql' ? 'mysql2' : 'pg',
        connection: adminUrl,
        pool: { min: 0, max: 1 },
      });
      const database = `oia_example_${randomBytes(5).toString('hex')}`;
      await admin.raw(`CREATE DATABASE ${database}`);
      const url = new URL(adminUrl);
      url.pathname = `/${database}`;
      return {
        url: url.href,
        async drop() {
          await admin.raw(`DROP DATABASE IF EXISTS ${database}`);
          await admin.destroy();
        },
      };
    },
  };
}

export const exampleDatabases: readonly ExampleDatabase[] = [
  { name: 'sqlite', create: async () => ({ url: undefined, drop: async () => {} }) },
  ...(process.env.MYSQL_URL ? [serverDatabase('mysql', process.env.MYSQL_URL)] : []),
  ...(process.env.PG_URL ? [serverDatabase('postgres', process.env.PG_URL)] : []),
];

export interface MountedExample extends ExampleApp {
  dataDir: string;
  /** Its DATABASE_URL (undefined: SQLite in `dataDir`), for another process on the same data. */
  databaseUrl: string | undefined;
  /** Closes the app and removes its data folder and database. */
  dispose(): Promise<void>;
}

/** The example app on a temp DATA_DIR (and the given database), not listening. */
export async function mountExample(
  database: ExampleDatabase = exampleDatabases[0]!,
  options: Partial<AppOptions> = {},
): Promise<MountedExample> {
  const dataDir = await tempDir(`example-${database.name}`);
  const db = await database.create();
  let example: ExampleApp;
  try {
    example = await createApp({ dataDir, databaseUrl: db.url, ...options });
  } catch (error) {
    await db.drop();
    await removeDir(dataDir);
    throw error;
  }
  return {
    ...example,
    dataDir,
    databaseUrl: db.url,
    async dispose() {
      await example.close();
      await db.drop();
      await removeDir(dataDir);
    },
  };
}

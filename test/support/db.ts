/**
 * The database harness: each suite gets a fresh knex on every configured dialect, each in its own
 * throw-away database (MariaDB) or schema (PostgreSQL). SQLite always runs; MariaDB runs when
 * MYSQL_URL is set, PostgreSQL when PG_URL is set.
 */
import { randomBytes } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';

export type DialectName = 'sqlite' | 'mysql' | 'postgres';

export interface Dialect {
  name: DialectName;
  /** A knex on a fresh, empty database of this dialect. */
  open(): Promise<Knex>;
  /** Destroys that knex and drops its database. */
  close(knex: Knex): Promise<void>;
}

const sqlite: Dialect = {
  name: 'sqlite',
  async open() {
    return knexFactory({
      client: 'better-sqlite3',
      connection: { filename: ':memory:' },
      useNullAsDefault: true,
      // One connection: an in-memory database exists per connection.
      pool: { min: 1, max: 1 },
    });
  },
  async close(knex) {
    await knex.destroy();
  },
};

function mysql(url: string): Dialect {
  const owned = new WeakMap<Knex, { admin: Knex; database: string }>();
  const connection = (database?: string) => {
    const u = new URL(url);
    return {
      host: u.hostname,
      port: Number(u.port || 3306),
      user: decodeURIComponent(u.username || 'root'),
      password: decodeURIComponent(u.password),
      ...(database ? { database } : {}),
      // UTC in and out, and exact BIGINTs: what the library expects of a MySQL connection.
      timezone: 'Z',
      supportBigNumbers: true,
    };
  };
  return {
    name: 'mysql',
    async open() {
      const admin = knexFactory({ client: 'mysql2', connection: connection(), pool: { min: 0, max: 1 } });
      const database = `oia_test_${randomBytes(5).toString('hex')}`;
      await admin.raw('CREATE DATABASE ??', [database]);
      const knex = knexFactory({ client: 'mysql2', connection: connection(database), pool: { min: 0, max: 10 } });
      owned.set(knex, { admin, database });
      return knex;
    },
    async close(knex) {
      await knex.destroy();
      const own = owned.get(knex);
      if (!own) return;
      await own.admin.raw('DROP DATABASE IF EXISTS ??', [own.database]);
      await own.admin.destroy();
    },
  };
}

function postgres(url: string): Dialect {
  const owned = new WeakMap<Knex, { admin: Knex; schema: string }>();
  return {
    name: 'postgres',
    async open() {
      const admin = knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 1 } });
      const schema = `oia_test_${randomBytes(5).toString('hex')}`;
      await admin.raw('CREATE SCHEMA ??', [schema]);
      const knex = knexFactory({ client: 'pg', connection: url, searchPath: [schema], pool: { min: 0, max: 10 } });
      owned.set(knex, { admin, schema });
      return knex;
    },
    async close(knex) {
      await knex.destroy();
      const own = owned.get(knex);
      if (!own) return;
      await own.admin.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [own.schema]);
      await own.admin.destroy();
    },
  };
}

/** The dialects this run covers, from the environment. */
export const dialects: readonly Dialect[] = [
  sqlite,
  ...(process.env.MYSQL_URL ? [mysql(process.env.MYSQL_URL)] : []),
  ...(process.env.PG_URL ? [postgres(process.env.PG_URL)] : []),
];

const skipped = [
  process.env.MYSQL_URL ? undefined : 'MariaDB/MySQL (MYSQL_URL not set)',
  process.env.PG_URL ? undefined : 'PostgreSQL (PG_URL not set)',
].filter(Boolean);
console.log(
  `database dialects: ${dialects.map((d) => d.name).join(', ')}` +
    (skipped.length ? `; skipped: ${skipped.join(', ')}` : ''),
);

/**
 * Declares `suite` once per dialect, with a fresh database for each: `db()` returns its knex.
 * @example forEachDialect('image table', (db) => { it('…', async () => { await db().schema… }) })
 */
export function forEachDialect(title: string, suite: (db: () => Knex, dialect: DialectName) => void): void {
  for (const dialect of dialects) {
    describe(`${title} [${dialect.name}]`, function () {
      let knex: Knex | undefined;
      before(async function () {
        knex = await dialect.open();
      });
      after(async function () {
        if (knex) await dialect.close(knex);
      });
      suite(() => {
        if (!knex) throw new Error('the database is not open yet: use db() inside hooks and tests');
        return knex;
      }, dialect.name);
    });
  }
}

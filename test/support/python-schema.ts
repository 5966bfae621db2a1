/**
 * Tables and rows as SQLAlchemy-ImageAttach 1.1.0 (SQLAlchemy 1.3) writes them, for the
 * compatibility tests: the DDL its `Image` columns produce on each dialect, and rows inserted with
 * the values its `created_at` default gives (text on SQLite, whole seconds in MySQL's DATETIME,
 * microseconds with a zone on PostgreSQL).
 */
import type { Knex } from 'knex';
import type { DialectName } from './db.js';

/** `users` and `user_picture` (the models of test/entity/models.ts), as SQLAlchemy creates them. */
export async function createPythonSchema(knex: Knex, dialect: DialectName): Promise<void> {
  const createdAt = { sqlite: 'DATETIME', mysql: 'DATETIME', postgres: 'TIMESTAMP WITH TIME ZONE' }[dialect];
  const serial = { sqlite: 'INTEGER NOT NULL', mysql: 'INTEGER NOT NULL AUTO_INCREMENT', postgres: 'SERIAL NOT NULL' }[
    dialect
  ];
  await knex.raw(`CREATE TABLE users (id ${serial}, name VARCHAR(100) NOT NULL, PRIMARY KEY (id))`);
  await knex.raw(
    `CREATE TABLE user_picture (
      user_id INTEGER NOT NULL,
      width INTEGER NOT NULL,
      height INTEGER NOT NULL,
      mimetype VARCHAR(255) NOT NULL,
      original BOOLEAN NOT NULL,
      created_at ${createdAt} NOT NULL,
      PRIMARY KEY (user_id, width, height),
      FOREIGN KEY (user_id) REFERENCES users (id)${dialect === 'postgres' ? '' : ',\n      CHECK (original IN (0, 1))'}
    )`,
  );
}

/** One image row as the Python library inserts it. */
export interface PythonRow {
  user_id: number;
  width: number;
  height: number;
  mimetype: string;
  original: boolean;
  /** The instant, as the text SQLAlchemy sends: `'2026-12-02 11:04:43.123456'` (UTC). */
  created_at: string;
}

/**
 * Inserts `row` with the value each dialect keeps of it: SQLite the text as given, MySQL's
 * DATETIME whole seconds (SQLAlchemy makes it without fractional seconds), PostgreSQL the
 * microseconds, in UTC.
 */
export async function insertPythonRow(knex: Knex, dialect: DialectName, row: PythonRow): Promise<void> {
  const createdAt = dialect === 'postgres' ? knex.raw('?::timestamptz', [`${row.created_at}+00`]) : row.created_at;
  await knex('user_picture').insert({
    ...row,
    original: dialect === 'postgres' ? row.original : row.original ? 1 : 0,
    created_at: createdAt,
  });
}

/**
 * What the benches share: a SQLite database with the test models, a temp store, and the one
 * JSON line each bench ends with.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { Model } from 'objection';
import { FileSystemStore } from '../src/index.js';
import { createSchema } from '../test/entity/models.js';

export interface BenchWorld {
  knex: Knex;
  store: FileSystemStore;
  dir: string;
  close(): Promise<void>;
}

/** A fresh SQLite file database (as an app would use) with the test schema, and a temp store. */
export async function benchWorld(name: string): Promise<BenchWorld> {
  const dir = await mkdtemp(path.join(tmpdir(), `bench-${name}-`));
  const knex = sqliteKnex(path.join(dir, 'db.sqlite'));
  Model.knex(knex);
  await createSchema(knex);
  const store = new FileSystemStore({ path: path.join(dir, 'store'), baseUrl: 'http://static.example.com/' });
  return {
    knex,
    store,
    dir,
    async close() {
      await knex.destroy();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A knex on a SQLite file, set up as a production app runs SQLite. */
export function sqliteKnex(filename: string): Knex {
  return knexFactory({
    client: 'better-sqlite3',
    connection: { filename },
    useNullAsDefault: true,
    // WAL, so a commit does not wait on two fsyncs.
    pool: {
      afterCreate(conn: { pragma(sql: string): unknown }, done: (err: Error | null, conn: unknown) => void) {
        conn.pragma('journal_mode = WAL');
        conn.pragma('synchronous = NORMAL');
        done(null, conn);
      },
    },
  });
}

/** The last line of every bench: the figure its issue's target speaks of. */
export function report(bench: string, metric: string, value: number, target: string, extra: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ bench, metric, value: Number(value.toFixed(3)), target, ...extra }));
}

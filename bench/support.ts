/**
 * What the benches share: a SQLite database with the test models, a temp store, and the one
 * JSON line each bench ends with.
 */
import { fork } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
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
export function report(
  bench: string,
  metric: string,
  value: number,
  target: string,
  extra: Record<string, unknown> = {},
): void {
  console.log(JSON.stringify({ bench, metric, value: Number(value.toFixed(3)), target, ...extra }));
}

/** Resident memory of a process now, in bytes (Linux). */
export async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/** CPU time used so far, in ms (Linux; user + system, clock ticks of 10 ms): the process, or its main thread. */
export async function cpuOf(pid: number, mainThreadOnly = false): Promise<number> {
  const file = mainThreadOnly ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`;
  const fields = (await readFile(file, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** A bench server running in a child process of its own (see {@link startServer}). */
export interface ServerProcess {
  port: number;
  pid: number;
  /** Disconnects it (it finishes and exits) and waits for the exit. */
  stop(): Promise<void>;
}

/**
 * Starts `script` (a file of bench/servers, run from the sources through tsx) with `args`, its
 * temp files in `dataDir`, and resolves once it reports `{ port }` over IPC.
 */
export async function startServer(script: URL, args: string[], dataDir: string): Promise<ServerProcess> {
  const child = fork(script, args, {
    execArgv: ['--conditions=objection-imageattach-source', '--import', 'tsx'],
    env: { ...process.env, TMPDIR: dataDir },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) =>
      reject(new Error(`${path.basename(script.pathname)} ${args[0] ?? ''} exited with ${code}`)),
    );
  });
  return {
    port,
    pid: child.pid!,
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.disconnect();
      await exited;
    },
  };
}

/**
 * Migration throughput: 2,000 images (500 owners × an original and 3 thumbnails) copied
 * FileSystemStore → FileSystemStore by `migrate()`, against `cp -r` of the same tree, in the same
 * run on the same disk: three rounds, each going first in turn after a `sync`, and the medians.
 * Prints the ratio of the two times; the target is at most 3× `cp -r`. The library's default
 * concurrency (4) is used unless `--concurrency N` says otherwise.
 *
 * Run: npx tsx bench/migrate.ts [--concurrency N]
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import knexFactory from 'knex';
import { Model } from 'objection';
import sharp from 'sharp';
import { FileSystemStore, Image, imageAttachment, imageColumns } from '../src/index.js';
import { migrate } from '../src/migration.js';

const OWNERS = 500;
const ROUNDS = 3;
const THUMBNAILS = [
  { width: 100, height: 75 },
  { width: 200, height: 150 },
  { width: 400, height: 300 },
];
const concurrencyArg = process.argv.indexOf('--concurrency');
const CONCURRENCY = concurrencyArg > 0 ? Number(process.argv[concurrencyArg + 1]) : 4;

class Photo extends Image(Model) {
  static override tableName = 'photo';
  static override idColumn = ['album_id', 'width', 'height'];
}

class Album extends Model {
  static override tableName = 'albums';
  static override relationMappings = () => ({
    photo: imageAttachment(() => Photo, { join: { from: 'albums.id', to: 'photo.album_id' } }),
  });
}

function noise(width: number, height: number): Promise<Buffer> {
  return sharp({
    create: { width, height, channels: 3, background: '#777', noise: { type: 'gaussian', mean: 128, sigma: 40 } },
  })
    .jpeg({ quality: 80 })
    .toBuffer();
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Runs a command to its end (`sync` before each timing, so dirty pages of one step do not slow the next). */
function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}`))));
  });
}

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(tmpdir(), 'bench-migrate-'));
  const knex = knexFactory({
    client: 'better-sqlite3',
    connection: { filename: path.join(work, 'db.sqlite') },
    useNullAsDefault: true,
  });
  try {
    Model.knex(knex);
    await knex.schema.createTable('albums', (t) => t.increments('id'));
    await knex.schema.createTable('photo', (t) => {
      t.integer('album_id').notNullable();
      imageColumns(t);
      t.primary(['album_id', 'width', 'height']);
    });
    const source = new FileSystemStore({ path: path.join(work, 'source'), baseUrl: 'http://static.example.com/' });
    const original = await noise(800, 600);
    const thumbnails = await Promise.all(THUMBNAILS.map((s) => noise(s.width, s.height)));
    const sizes = [{ width: 800, height: 600 }, ...THUMBNAILS];
    const bytes = [original, ...thumbnails];
    await knex.batchInsert(
      'albums',
      Array.from({ length: OWNERS }, (_, i) => ({ id: i + 1 })),
      500,
    );
    const rows = Array.from({ length: OWNERS }, (_, i) =>
      sizes.map((s, j) => ({
        album_id: i + 1,
        ...s,
        mimetype: 'image/jpeg',
        original: j === 0,
        created_at: new Date(),
      })),
    ).flat();
    await knex.batchInsert('photo', rows, 500);
    for (const row of rows) {
      const key = {
        objectType: 'photo',
        objectId: row.album_id,
        width: row.width,
        height: row.height,
        mimetype: 'image/jpeg',
      };
      await source.putFile(key, Readable.from([bytes[sizes.findIndex((s) => s.width === row.width)]!]), {
        reproducible: !row.original,
      });
    }
    const total = bytes.reduce((n, b) => n + b.length, 0) * OWNERS;
    console.log(`${rows.length} images, ${(total / 1e6).toFixed(1)} MB, in ${path.join(work, 'source')}`);

    // Three rounds, each cp -r then migrate into fresh folders, and the medians: the machine is
    // shared, and one slow moment should not decide the figure.
    const cpTimes: number[] = [];
    const migrateTimes: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const copy = path.join(work, `copy-${round}`);
      const destination = new FileSystemStore({
        path: path.join(work, `destination-${round}`),
        baseUrl: 'http://static.example.com/',
      });
      const timeCp = async () => {
        await run('sync', []);
        const started = process.hrtime.bigint();
        await run('cp', ['-r', source.root, copy]);
        cpTimes.push(Number(process.hrtime.bigint() - started) / 1e9);
      };
      const timeMigrate = async () => {
        await run('sync', []);
        const started = process.hrtime.bigint();
        const report = await migrate([Album], source, destination, { concurrency: CONCURRENCY }).execute();
        migrateTimes.push(Number(process.hrtime.bigint() - started) / 1e9);
        if (report.done !== rows.length || report.failed.length > 0 || report.bytes !== total) {
          throw new Error(
            `the migration did not copy everything: ${JSON.stringify({ ...report, failed: report.failed.length })}`,
          );
        }
      };
      // Each goes first in turn, so neither always pays for the other's writeback.
      if (round % 2 === 1) await timeCp().then(timeMigrate);
      else await timeMigrate().then(timeCp);
      await Promise.all([rm(copy, { recursive: true }), rm(destination.root, { recursive: true })]);
    }
    const cpSeconds = median(cpTimes);
    const migrateSeconds = median(migrateTimes);
    const ms = (times: number[]) => times.map((t) => `${(t * 1000).toFixed(0)}`).join(', ');
    console.log(`cp -r:        ${ms(cpTimes)} ms`);
    console.log(
      `migrate (concurrency ${CONCURRENCY}): ${ms(migrateTimes)} ms (median ${(rows.length / migrateSeconds).toFixed(0)} images/s)`,
    );

    const ratio = migrateSeconds / cpSeconds;
    console.log(`ratio of the medians, migrate / cp -r: ${ratio.toFixed(2)}`);
    console.log(
      JSON.stringify({
        bench: 'migrate',
        metric: 'migrate() time / cp -r time, 2,000 images FileSystemStore → FileSystemStore',
        value: Number(ratio.toFixed(2)),
        target: '<= 3.0',
      }),
    );
  } finally {
    await knex.destroy();
    await rm(work, { recursive: true, force: true });
  }
}

await main();

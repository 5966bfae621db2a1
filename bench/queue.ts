/**
 * 500 thumbnails through the queue (Redis, 2 worker processes, one job at a time each) against
 * the same 500 made in this process (findOrCreateThumbnail, 2 at a time), in one run of 5
 * alternating rounds of 100 each way, on the bench's SQLite file database (WAL) and a FileSystemStore.
 *
 * Target: the queue keeps >= 0.8 of in-process throughput. It is not there to be faster: on 2
 * cores, in-process generation already keeps both busy (sharp works off the main thread). On
 * SQLite a worker's transaction holds the database's single write lock (its lock on the
 * original), so a worker renders ahead, before that transaction, and holds the lock only for a
 * row and a file copy; rendering under the lock, two processes took turns and the queue kept
 * 0.54-0.58 of in-process throughput. What the queue buys is taking the work out of web requests
 * and surviving crashes; this bench checks that it costs little.
 */
import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Model } from 'objection';
import sharp from 'sharp';
import { FileSystemStore, imageSet, withStore } from '../src/index.js';
import { type ThumbnailRequest, thumbnailQueue } from '../src/queue.js';
import { User } from '../test/entity/models.js';
import { benchWorld, report, sqliteKnex } from './support.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const OWNERS = 50;
const WIDTHS = [60, 80, 100, 120, 160, 200, 240, 320, 400, 480]; // 50 × 10 = 500 thumbnails
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2); // BENCH_WORKERS=1 shows what a second process adds
const ROUNDS = 5;

if (process.argv[2] === 'worker') {
  const [dbFile, storeRoot, queueName] = process.argv.slice(3);
  const knex = sqliteKnex(dbFile!);
  Model.knex(knex);
  const store = new FileSystemStore({ path: storeRoot!, baseUrl: 'http://static.example.com/' });
  const queue = thumbnailQueue({
    connection: REDIS_URL,
    queueName: queueName!,
    models: { User },
    stores: { default: store },
  });
  const worker = await queue.worker({
    concurrency: 1,
    onCompleted: (event) => process.send!({ completed: event.result.status }),
    onFailed: (event) => process.send!({ failed: event.error.message, final: event.final }),
  });
  process.send!({ ready: true });
  process.on('message', async () => {
    await worker.close();
    await queue.close();
    await knex.destroy();
    process.exit(0);
  });
} else {
  const world = await benchWorld('queue');
  const queueName = `oia-bench-${process.pid}`;
  const queue = thumbnailQueue({
    connection: REDIS_URL,
    queueName,
    models: { User },
    stores: { default: world.store },
  });
  const children: ChildProcess[] = [];
  try {
    // A photo-sized original, as in bench/thumbnail.ts (a little smaller: 500 of them must fit).
    const photo = await sharp({
      create: {
        width: 1600,
        height: 1067,
        channels: 3,
        background: '#777',
        noise: { type: 'gaussian', mean: 120, sigma: 25 },
      },
    })
      .jpeg({ quality: 85 })
      .toBuffer();
    const owners = async () =>
      withStore(world.store, async () => {
        const made: User[] = [];
        for (let i = 0; i < OWNERS; i++) {
          const user = await User.query().insert({ name: `bench ${i}` });
          await imageSet(user, 'picture').fromBlob(photo);
          made.push(user);
        }
        return made;
      });
    const [inProcessOwners, queuedOwners, warmOwners] = [await owners(), await owners(), await owners()];
    console.log(
      `${OWNERS} owners × ${WIDTHS.length} widths = ${OWNERS * WIDTHS.length} thumbnails each way; original 1600×1067 JPEG, ${(photo.length / 1024).toFixed(0)} KiB`,
    );

    // The worker processes, started (and warmed up) before any clock runs.
    const script = fileURLToPath(import.meta.url);
    let completed = 0;
    let failures = 0;
    const onMessage = (message: { ready?: boolean; completed?: string; failed?: string; final?: boolean }) => {
      if (message.completed) completed++;
      if (message.failed) {
        failures++;
        if (message.final) console.error(`a job failed for good: ${message.failed}`);
      }
    };
    const ready = Array.from({ length: WORKERS }, () => {
      const child = fork(
        script,
        ['worker', path.join(world.dir, 'db.sqlite'), path.join(world.dir, 'store'), queueName],
        {
          execArgv: ['--import', 'tsx', '--conditions=objection-imageattach-source'],
        },
      );
      children.push(child);
      child.on('message', onMessage);
      return new Promise<void>((resolve) => child.on('message', (m: { ready?: boolean }) => m.ready && resolve()));
    });
    await Promise.all(ready);
    const until = async (count: number) => {
      while (completed < count) await new Promise((resolve) => setTimeout(resolve, 5));
    };
    for (const user of warmOwners.slice(1, 1 + WORKERS * 2)) await queue.enqueue(user, 'picture', [{ width: 50 }]);
    await until(WORKERS * 2);
    await withStore(world.store, () => imageSet(warmOwners[0]!, 'picture').findOrCreateThumbnail({ width: 50 }));
    completed = 0;

    // Rounds of 100 thumbnails each way, alternating, so both see the same load on the machine.
    const requests: ThumbnailRequest[] = WIDTHS.map((width) => ({ width }));
    const perRound = OWNERS / ROUNDS;
    let inProcessMs = 0;
    let queueMs = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // In process: 2 at a time, as 2 workers would.
      const tasks = inProcessOwners
        .slice(round * perRound, (round + 1) * perRound)
        .flatMap((user) => WIDTHS.map((width) => () => imageSet(user, 'picture').findOrCreateThumbnail({ width })));
      let start = performance.now();
      await withStore(world.store, () =>
        Promise.all(
          Array.from({ length: WORKERS }, async () => {
            for (let task = tasks.shift(); task; task = tasks.shift()) await task();
          }),
        ),
      );
      inProcessMs += performance.now() - start;
      // Through the queue: enqueueing included.
      start = performance.now();
      for (const user of queuedOwners.slice(round * perRound, (round + 1) * perRound))
        await queue.enqueue(user, 'picture', requests);
      await until((round + 1) * perRound * WIDTHS.length);
      queueMs += performance.now() - start;
    }

    const count = OWNERS * WIDTHS.length;
    const inProcessRate = (count * 1000) / inProcessMs;
    const queueRate = (count * 1000) / queueMs;
    console.log(
      `in process (2 at a time): ${inProcessRate.toFixed(1)} thumbnails/s (${(inProcessMs / 1000).toFixed(1)} s)`,
    );
    console.log(
      `queue (${WORKERS} worker processes): ${queueRate.toFixed(1)} thumbnails/s (${(queueMs / 1000).toFixed(1)} s, enqueueing included; ${failures} failed attempts retried)`,
    );
    const made = await world.knex('user_picture').where('original', false).count({ n: '*' });
    console.log(`thumbnail rows: ${made[0]!.n} (expected ${2 * count + 1 + WORKERS * 2})`);
    report('queue', 'throughput_ratio_queue_vs_in_process', queueRate / inProcessRate, '>= 0.8', {
      queuePerSecond: Number(queueRate.toFixed(1)),
      inProcessPerSecond: Number(inProcessRate.toFixed(1)),
    });
  } finally {
    for (const child of children) child.send('stop');
    await Promise.all(
      children.map(
        (child) => new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(null))),
      ),
    );
    await (await queue.bullQueue()).obliterate({ force: true });
    await queue.close();
    await world.close();
  }
}

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import knexFactory, { type Knex } from 'knex';
import { Model } from 'objection';
import sharp from 'sharp';
import { FileSystemStore, imageSet, withStore } from '../../src/index.js';
import { type ThumbnailQueue, thumbnailQueue } from '../../src/queue.js';
import { createSchema, User, UserPicture } from '../entity/models.js';
import { until } from '../support/hooked-store.js';
import { listTree, removeDir, tempDir } from '../support/tmp.js';
import { disposeQueue, queueIsEmpty, recordingWorker, REDIS_URL, solid, uniqueQueueName, useRedis } from './support.js';

const workerScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'worker-process.ts');

describe('thumbnail queue: worker processes [sqlite file]', function () {
  useRedis();
  this.timeout(60_000);
  let dir: string;
  let knex: Knex;
  let queue: ThumbnailQueue | undefined;
  let child: ChildProcess | undefined;

  beforeEach(async function () {
    dir = await tempDir('queue-kill');
    // A file database: the child process opens the same one.
    knex = knexFactory({
      client: 'better-sqlite3',
      connection: { filename: path.join(dir, 'db.sqlite') },
      useNullAsDefault: true,
    });
    Model.knex(knex);
    await createSchema(knex);
  });
  afterEach(async function () {
    child?.kill('SIGKILL');
    await disposeQueue(queue);
    queue = undefined;
    await knex.destroy();
    await removeDir(dir);
  });

  const spawnWorker = (mode?: string) =>
    spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--conditions=objection-imageattach-source',
        workerScript,
        path.join(dir, 'db.sqlite'),
        path.join(dir, 'store'),
        queue!.name,
        ...(mode ? [mode] : []),
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );

  it('on SIGTERM, a worker finishes its job, closes and exits by itself', async function () {
    const store = new FileSystemStore({ path: path.join(dir, 'store'), baseUrl: 'http://static.example.com/' });
    const user = await User.query().insert({ name: 'Ann' });
    const red = await solid(400, 200, 'red');
    await withStore(store, () => imageSet(user, 'picture').fromBlob(red));
    queue = thumbnailQueue({
      connection: REDIS_URL,
      queueName: uniqueQueueName('term'),
      models: { User },
      stores: { default: store },
    });
    await queue.enqueue(user, 'picture', [{ width: 100 }]);
    child = spawnWorker('graceful');
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    await until(() => output.includes('writing'), 30_000, 'the child to start writing');
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    child = undefined;
    assert.match(output, /closed/);
    assert.deepEqual(
      (await UserPicture.query().orderBy('width')).map((i) => i.width),
      [100, 400],
    );
    assert.ok(await queueIsEmpty(queue));
  });

  it('killed mid-job, a worker leaves the job to another, and no half-written file at any image path', async function () {
    const root = path.join(dir, 'store');
    const store = new FileSystemStore({ path: root, baseUrl: 'http://static.example.com/' });
    const user = await User.query().insert({ name: 'Ann' });
    const red = await solid(400, 200, 'red');
    await withStore(store, () => imageSet(user, 'picture').fromBlob(red));
    queue = thumbnailQueue({
      connection: REDIS_URL,
      queueName: uniqueQueueName('kill'),
      models: { User },
      stores: { default: store },
    });
    const [entry] = await queue.enqueue(user, 'picture', [{ width: 100 }]);

    // A worker in another process takes the job and stalls halfway through writing the file.
    child = spawnWorker();
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    await until(() => output.includes('half-written'), 30_000, 'the child to stall mid-write');
    const partial = (await listTree(root)).filter((f) => f.endsWith('.tmp'));
    assert.equal(partial.length, 1, 'the child is writing one temp file');
    assert.ok((await stat(path.join(root, partial[0]!))).size > 0);
    const bull = await queue.bullQueue();
    assert.equal(await (await bull.getJob(entry!.jobId!))!.getState(), 'active');

    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    child = undefined;

    // Another worker finds the job stalled (its lock expired) and does it again.
    const { completions } = await recordingWorker(queue, { lockDuration: 1000, stalledInterval: 300 });
    const [done] = await completions(1);
    assert.deepEqual(done!.result, { status: 'created', width: 100, height: 50, mimetype: 'image/jpeg' });

    // Every image path holds a whole image, and each has its row.
    const images = await UserPicture.query().orderBy('width');
    assert.deepEqual(
      images.map((i) => `${i.width}x${i.height}`),
      ['100x50', '400x200'],
    );
    const listed: string[] = [];
    for await (const key of store.listFiles()) listed.push(`${key.width}x${key.height}`);
    assert.deepEqual(listed.sort(), ['100x50', '400x200']);
    const meta = await sharp(await images[0]!.makeBlob({ store })).metadata();
    assert.deepEqual([meta.width, meta.height], [100, 50]);
    // The killed write's temp file is all that is left of it: a dot-file beside the image, never
    // at an image's path, never listed or served (removing it is a sweep's job).
    const left = (await listTree(root)).filter((f) => !f.endsWith('/'));
    assert.deepEqual(left.filter((f) => !f.endsWith('.tmp')).sort(), [
      `user-picture/${user.id}/0/${user.id}.100x50.jpe`,
      `user-picture/${user.id}/0/${user.id}.400x200.jpe`,
    ]);
    assert.deepEqual(
      left.filter((f) => f.endsWith('.tmp')),
      partial,
    );
    assert.match(path.basename(partial[0]!), /^\.\d+\.100x50\.jpe\.[0-9a-f]+\.tmp$/);
  });
});

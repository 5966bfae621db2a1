import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import request from 'supertest';
import { imageSet, withStore } from '../../src/index.js';
import { User, UserPicture } from '../../example/models.js';
import { UPLOAD_THUMBNAILS } from '../../example/routes/pictures.js';
import { disposeQueue, REDIS_URL, uniqueQueueName, useRedis } from '../queue/support.js';
import { until } from '../support/hooked-store.js';
import { jpeg } from '../support/images.js';
import { exampleDatabases, type MountedExample, mountExample } from './harness.js';

interface WorkerProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

/** `example/worker.ts` in a process of its own, as `npm run worker` runs it, with `env` over ours. */
function runWorker(env: NodeJS.ProcessEnv): WorkerProcess {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=objection-imageattach-source', 'example/worker.ts'],
    {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

for (const database of exampleDatabases) {
  describe(`the example app with a thumbnail queue [${database.name}]`, function () {
    useRedis();
    this.timeout(60_000);
    let example: MountedExample;
    let worker: WorkerProcess | undefined;
    let queueName: string;
    let photo: Buffer;

    before(async function () {
      photo = await jpeg(1600, 1200);
      queueName = uniqueQueueName(`example-${database.name}`);
      example = await mountExample(database, { redisUrl: REDIS_URL, queueName });
    });
    after(async function () {
      worker?.child.kill('SIGKILL');
      await disposeQueue(example?.queue);
      await example?.dispose();
    });

    it('has a queue when REDIS_URL is set, on app.locals for the routes', function () {
      assert.ok(example.queue);
      assert.equal(example.queue.name, queueName);
      assert.equal(example.app.locals.queue, example.queue);
    });

    it("says on a user's page that thumbnails are queued for the workers", async function () {
      const created = await request(example.app).post('/users').type('form').send({ name: 'Hint' }).expect(303);
      const page = await request(example.app).get(created.headers.location!).expect(200);
      assert.match(page.text, /wide are queued for the workers \(npm run worker\)/);
    });

    it('shows the original at the thumbnail size while the job waits, and the thumbnail once `npm run worker` made it', async function () {
      const created = await request(example.app).post('/users').type('form').send({ name: 'Queued' }).expect(303);
      const id = Number(/(\d+)$/.exec(created.headers.location!)![1]);
      const user = (await User.query().findById(id))!;
      // What the upload route does with a queue: attach the original, then queue the thumbnails.
      await withStore(example.store, () => imageSet(user, 'picture').fromBlob(Buffer.from(photo)));
      const queued = await example.queue!.enqueue(user, 'picture', [...UPLOAD_THUMBNAILS]);
      assert.deepEqual(
        queued.map((q) => q.status),
        ['queued', 'queued', 'queued'],
      );

      // The user page's picture (the gallery shows the avatar, made at upload even with a queue).
      const pictureImg = async () =>
        /<figure class="hero">[\s\S]*?(<img [^>]+>)/.exec(
          (await request(example.app).get(`/users/${id}`).expect(200)).text,
        )![1]!;
      const pending = await pictureImg();
      assert.match(
        pending,
        new RegExp(
          `^<img src="[^"]*/${id}\\.1600x1200\\.jpe\\?_ts=\\d+" srcset="[^"]+ 1600w" [^>]*width="400" height="300"`,
        ),
      );

      worker = runWorker({
        DATA_DIR: example.dataDir,
        DATABASE_URL: example.databaseUrl ?? '',
        REDIS_URL,
        THUMBNAIL_QUEUE: queueName,
      });
      await until(
        () => worker!.output().includes('thumbnail worker on'),
        30_000,
        `the worker to start (output: ${worker.output()})`,
      );
      await until(
        async () => (await UserPicture.query().where({ user_id: id, original: false })).length === 3,
        30_000,
        'three thumbnails',
      );
      assert.deepEqual(
        (await UserPicture.query().where('user_id', id).orderBy('width')).map(
          (i) => `${i.width}x${i.height} ${i.mimetype}`,
        ),
        ['100x75 image/jpeg', '400x300 image/jpeg', '800x600 image/webp', '1600x1200 image/jpeg'],
      );
      await until(() => (worker!.output().match(/^created /gm) ?? []).length === 3, 5_000, 'a log line per thumbnail');
      assert.match(
        worker.output(),
        new RegExp(`^created 100x75 image/jpeg for User ${id} picture \\(width 100\\)$`, 'm'),
      );

      const ready = await pictureImg();
      assert.match(
        ready,
        new RegExp(
          `^<img src="[^"]*/${id}\\.400x300\\.jpe\\?_ts=\\d+" srcset="[^"]+ 100w, [^"]+ 400w, [^"]+ 1600w" [^>]*width="400" height="300"`,
        ),
      );
      const thumbnailUrl = /src="(?:https?:\/\/[^/]+)?([^"]+)"/.exec(ready)![1]!.replace(/&amp;/g, '&');
      await request(example.app).get(thumbnailUrl).expect(200).expect('Content-Type', 'image/jpeg');
    });

    it('queues a thumbnail a page asks for and the set lacks, so the next view has it', async function () {
      assert.ok(worker, 'the worker of the test before');
      const user = await User.query().insert({ name: 'Unqueued' });
      await withStore(example.store, () => imageSet(user, 'picture').fromBlob(Buffer.from(photo)));
      // No enqueue here: the user page's pictureTag(set, { width: 400 }) does it.
      await request(example.app).get(`/users/${user.id}`).expect(200);
      await until(
        async () => (await UserPicture.query().where({ user_id: user.id, width: 400 })).length === 1,
        30_000,
        'the 400-wide thumbnail',
      );
    });

    it('an upload through the form queues its thumbnails, and the worker makes them', async function () {
      assert.ok(worker, 'the worker of the test before');
      const created = await request(example.app).post('/users').type('form').send({ name: 'Uploaded' }).expect(303);
      const id = Number(/(\d+)$/.exec(created.headers.location!)![1]);
      await request(example.app)
        .post(`/users/${id}/picture`)
        .attach('picture', Buffer.from(photo), 'photo.jpg')
        .expect(303);
      await until(
        async () => (await UserPicture.query().where({ user_id: id, original: false })).length === 3,
        30_000,
        'three thumbnails',
      );
      await until(
        () => (worker!.output().match(new RegExp(`^created .* for User ${id} picture`, 'gm')) ?? []).length === 3,
        5_000,
        'the worker made them',
      );
    });

    it('the worker closes and exits 0 on SIGTERM', async function () {
      assert.ok(worker, 'the worker of the test before');
      worker.child.kill('SIGTERM');
      assert.equal(await worker.exited, 0);
      assert.match(worker.output(), /thumbnail worker closed\n$/);
      worker = undefined;
    });
  });
}

describe('npm run worker without REDIS_URL', function () {
  this.timeout(30_000);
  it('exits with code 2 and says what is missing', async function () {
    const worker = runWorker({ REDIS_URL: '' });
    assert.equal(await worker.exited, 2);
    assert.match(
      worker.output(),
      /^npm run worker needs REDIS_URL \(e\.g\. REDIS_URL=redis:\/\/127\.0\.0\.1:6379 npm run worker\)/,
    );
  });
});

import assert from 'node:assert/strict';
import { Model } from 'objection';
import sharp from 'sharp';
import {
  FileSystemStore,
  filesSettled,
  ImageAttachError,
  imageSet,
  renderSlots,
  StoreError,
  withStore,
} from '../../src/index.js';
import { type ThumbnailQueue, thumbnailQueue } from '../../src/queue.js';
import { inRenderSlot, renderLoad } from '../../src/imaging/render-slots.js';
import { createSchema, Product, User, UserPicture } from '../entity/models.js';
import { forEachDialect } from '../support/db.js';
import { fsStore } from '../support/fs-store.js';
import { gate, HookedStore, until } from '../support/hooked-store.js';
import { listTree } from '../support/tmp.js';
import {
  colourOf,
  disposeQueue,
  queueIsEmpty,
  recordingWorker,
  REDIS_URL,
  sleep,
  solid,
  uniqueQueueName,
  useRedis,
} from './support.js';

forEachDialect('thumbnail queue', (db, dialect) => {
  useRedis();
  let root: string;
  let store: HookedStore;
  let cleanup: () => Promise<void>;
  let queue: ThumbnailQueue | undefined;
  let user: User;
  const files = () => listTree(root).then((all) => all.filter((f) => !f.endsWith('/')));
  const rows = async () =>
    (await UserPicture.query().where('user_id', user.id).orderBy('width')).map(
      (r) => `${r.width}x${r.height} ${r.mimetype}${r.original ? ' original' : ''}`,
    );
  const makeQueue = (options: Partial<Parameters<typeof thumbnailQueue>[0]> = {}) =>
    (queue = thumbnailQueue({
      connection: REDIS_URL,
      queueName: uniqueQueueName(dialect),
      models: { User, Product },
      stores: { default: store },
      attempts: 3,
      backoff: 20,
      ...options,
    }));
  const attach = (bytes: Buffer) => withStore(store, () => imageSet(user, 'picture').fromBlob(bytes));
  const thumbnailBytes = async (width: number) => {
    const image = (await UserPicture.query().where({ user_id: user.id, width, original: false }))[0];
    assert.ok(image, `a ${width}px thumbnail`);
    return image.makeBlob({ store });
  };

  before(async function () {
    Model.knex(db());
    await createSchema(db());
  });
  beforeEach(async function () {
    const inner = await fsStore(`queue-${dialect}`);
    ({ dir: root, cleanup } = inner);
    store = new HookedStore(inner.store);
    user = await User.query().insert({ name: 'Ann' });
  });
  afterEach(async function () {
    await disposeQueue(queue);
    queue = undefined;
    await filesSettled();
    await cleanup();
  });

  it('enqueue, then a worker makes the thumbnails, in the formats asked for', async function () {
    await attach(await solid(400, 200, 'red'));
    const q = makeQueue();
    const queued = await q.enqueue(user, 'picture', [{ width: 100 }, { width: 50, format: 'webp' }]);
    assert.deepEqual(
      queued.map((e) => [e.status, e.width, e.height]),
      [
        ['queued', 100, 50],
        ['queued', 50, 25],
      ],
    );
    const { completions } = await recordingWorker(q);
    const done = await completions(2);
    assert.deepEqual(
      done.map((e) => e.result.status),
      ['created', 'created'],
    );
    assert.deepEqual(await rows(), ['50x25 image/webp', '100x50 image/jpeg', '400x200 image/jpeg original']);
    assert.equal((await files()).length, 3);
    const meta = await sharp(await thumbnailBytes(100)).metadata();
    assert.deepEqual([meta.width, meta.height, meta.format], [100, 50, 'jpeg']);
  });

  it('flattens a transparent original onto the background a request asks for, in a JPEG thumbnail', async function () {
    await attach(
      await sharp({ create: { width: 80, height: 40, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
        .png()
        .toBuffer(),
    );
    const q = makeQueue();
    await q.enqueue(user, 'picture', [
      { width: 40, format: 'jpeg', background: '#dc1414' },
      { width: 20, format: 'jpeg' },
    ]);
    const { completions } = await recordingWorker(q);
    await completions(2);
    assert.equal(await colourOf(await thumbnailBytes(40)), 'red');
    const [r, g, b] = await sharp(await thumbnailBytes(20))
      .raw()
      .toBuffer();
    assert.deepEqual([r, g, b], [255, 255, 255], 'white by default, not black');
    await assert.rejects(q.enqueue(user, 'picture', [{ width: 10, background: 'red' }]), {
      message: /for requests\[\]\.background but received "red"/,
    });
  });

  it('the same thumbnail enqueued 50 times is made once', async function () {
    await attach(await solid(400, 200, 'red'));
    const q = makeQueue();
    const ids = new Set<string | undefined>();
    for (let i = 0; i < 25; i++) ids.add((await q.enqueue(user, 'picture', [{ width: 100 }]))[0]!.jobId);
    const concurrent = await Promise.all(
      Array.from({ length: 25 }, () => q.enqueue(user, 'picture', [{ width: 100 }])),
    );
    for (const [entry] of concurrent) ids.add(entry!.jobId);
    assert.equal(ids.size, 1);
    assert.equal(await (await q.bullQueue()).count(), 1);
    const { completed, completions } = await recordingWorker(q);
    await completions(1);
    await until(() => queueIsEmpty(q), 5000, 'an empty queue');
    assert.equal(completed.length, 1);
    assert.equal(store.puts.filter((key) => key.width === 100).length, 1);
  });

  it('leaves out sizes the set already has, unless forced; a forced job finds the thumbnail', async function () {
    await attach(await solid(400, 200, 'red'));
    await withStore(store, () => imageSet(user, 'picture').generateThumbnail({ width: 100 }));
    const q = makeQueue();
    assert.deepEqual(
      (await q.enqueue(user, 'picture', [{ width: 100 }])).map((e) => [e.status, e.jobId]),
      [['exists', undefined]],
    );
    assert.equal((await q.enqueue(user, 'picture', [{ width: 100 }], { force: true }))[0]!.status, 'queued');
    const [done] = await (await recordingWorker(q)).completions(1);
    assert.deepEqual(done!.result, { status: 'existing', width: 100, height: 50, mimetype: 'image/jpeg' });
  });

  it('a job whose owner is gone completes as a no-op, saying so', async function () {
    await attach(await solid(400, 200, 'red'));
    const q = makeQueue();
    await q.enqueue(user, 'picture', [{ width: 100 }]);
    await withStore(store, async () => void (await User.query().deleteById(user.id)));
    const [done] = await (await recordingWorker(q)).completions(1);
    assert.deepEqual(done!.result, { status: 'skipped', reason: 'owner-gone' });
    await filesSettled();
    assert.deepEqual(await files(), []);
  });

  it('a job whose original is gone completes as a no-op, saying so', async function () {
    await attach(await solid(400, 200, 'red'));
    const q = makeQueue();
    await q.enqueue(user, 'picture', [{ width: 100 }]);
    await withStore(store, () => imageSet(user, 'picture').remove());
    const [done] = await (await recordingWorker(q)).completions(1);
    assert.deepEqual(done!.result, { status: 'skipped', reason: 'original-gone' });
    assert.deepEqual(await rows(), []);
    assert.deepEqual(await files(), []);
  });

  it('replacing the original while its jobs wait: they make nothing, and the new original gets its own jobs', async function () {
    // Same size and type: the new original's file takes the old one's path.
    await attach(await solid(400, 200, 'red'));
    const q = makeQueue();
    const old = await q.enqueue(user, 'picture', [{ width: 100 }, { width: 50, format: 'webp' }]);
    // Into the next second, so the originals differ even to a database that keeps whole seconds.
    await sleep(1001 - (Date.now() % 1000));
    await attach(await solid(400, 200, 'blue'));
    const fresh = await q.enqueue(user, 'picture', [{ width: 100 }]);
    assert.notEqual(fresh[0]!.jobId, old[0]!.jobId);
    const done = await (await recordingWorker(q)).completions(3);
    const byId = new Map(done.map((e) => [e.jobId, e.result]));
    assert.deepEqual(byId.get(old[0]!.jobId!), { status: 'skipped', reason: 'original-replaced' });
    assert.deepEqual(byId.get(old[1]!.jobId!), { status: 'skipped', reason: 'original-replaced' });
    assert.equal(byId.get(fresh[0]!.jobId!)!.status, 'created');
    assert.deepEqual(await rows(), ['100x50 image/jpeg', '400x200 image/jpeg original']);
    assert.equal(await colourOf(await thumbnailBytes(100)), 'blue');
    assert.equal((await files()).length, 2);
  });

  for (const [label, width, height] of [
    ['of another size', 300, 300],
    ['of the same size', 400, 200],
  ] as const) {
    it(`replacing the original (${label}) while its thumbnail is being made: the thumbnail goes with the old original`, async function () {
      await attach(await solid(400, 200, 'red'));
      const atWrite = gate();
      store.onPut = async (key) => (key.width === 100 ? atWrite.wait() : undefined);
      const q = makeQueue();
      await q.enqueue(user, 'picture', [{ width: 100 }]);
      const { completions } = await recordingWorker(q);
      await atWrite.reached; // the worker is mid-job: the thumbnail row inserted, its file being written
      store.onPut = undefined;
      const replacement = attach(await solid(width, height, 'blue'));
      await sleep(200); // time for the replacement to reach the database and wait there
      atWrite.open();
      await replacement;
      const [done] = await completions(1);
      await filesSettled();
      assert.ok(done!.result.status === 'created' || done!.result.status === 'skipped', JSON.stringify(done!.result));
      // Whichever went first, no thumbnail of the red original is left beside the blue one.
      assert.deepEqual(await rows(), [`${width}x${height} image/jpeg original`]);
      assert.deepEqual(await files(), [`user-picture/${user.id}/0/${user.id}.${width}x${height}.jpe`]);
      const [entry] = await q.enqueue(user, 'picture', [{ width: 100 }]);
      await completions(2);
      assert.equal(await colourOf(await thumbnailBytes(100)), 'blue');
      assert.equal(entry!.height, Math.trunc(height * (100 / width)));
    });
  }

  it('an original replaced while the worker renders ahead (before any lock): the render is thrown away', async function () {
    await attach(await solid(400, 200, 'red'));
    const slots = renderSlots();
    renderSlots(1);
    // Hold the only render slot, so the worker's head start waits for it, holding no lock.
    const slot = gate();
    const holder = inRenderSlot(() => slot.wait());
    try {
      const q = makeQueue();
      await q.enqueue(user, 'picture', [{ width: 100 }]);
      const { completions } = await recordingWorker(q);
      await until(() => renderLoad().waiting === 1, 15_000, 'the worker to wait for a render slot');
      // Not held up by the worker: it has no transaction yet. Same size, so the new file takes
      // the old one's path (the head start then reads blue bytes under the red original's name).
      await sleep(1001 - (Date.now() % 1000));
      await attach(await solid(400, 200, 'blue'));
      slot.open();
      await holder;
      const [done] = await completions(1);
      await filesSettled();
      assert.deepEqual(done!.result, { status: 'skipped', reason: 'original-replaced' });
      assert.deepEqual(await rows(), ['400x200 image/jpeg original']);
      assert.equal((await files()).length, 1);
    } finally {
      slot.open();
      renderSlots(slots);
    }
  });

  it('deleting the owner while its thumbnail is being made leaves neither rows nor files', async function () {
    await attach(await solid(400, 200, 'red'));
    const atWrite = gate();
    store.onPut = async (key) => (key.width === 100 ? atWrite.wait() : undefined);
    const q = makeQueue();
    await q.enqueue(user, 'picture', [{ width: 100 }]);
    const { completions } = await recordingWorker(q);
    await atWrite.reached;
    const deletion = withStore(store, async () => void (await User.query().deleteById(user.id)));
    await sleep(200); // time for the delete to reach the database and wait there
    atWrite.open();
    await deletion;
    await completions(1);
    await filesSettled();
    assert.deepEqual(await rows(), []);
    assert.deepEqual(await files(), []);
  });

  it('a failing store is retried with growing delays, then the job is reported failed', async function () {
    await attach(await solid(400, 200, 'red'));
    let failing = true;
    store.onPut = async (key) => {
      if (failing && key.width === 100) throw new StoreError('ERR_STORE_WRITE', 'the disk is full');
    };
    const q = makeQueue({ attempts: 3, backoff: 40 });
    const [entry] = await q.enqueue(user, 'picture', [{ width: 100 }]);
    const { failed, completions } = await recordingWorker(q);
    await until(() => failed.some((f) => f.final), 10_000, 'the final failure');
    assert.deepEqual(
      failed.map((f) => [f.attemptsMade, f.final, f.error.message]),
      [
        [1, false, 'the disk is full'],
        [2, false, 'the disk is full'],
        [3, true, 'the disk is full'],
      ],
    );
    // Exponential backoff: 40 ms, then 80 ms (lower bounds only: a slow machine waits longer).
    assert.ok(failed[1]!.at - failed[0]!.at >= 40 && failed[2]!.at - failed[1]!.at >= 80);
    const job = await (await q.bullQueue()).getJob(entry!.jobId!);
    assert.equal(await job!.getState(), 'failed');
    assert.equal(job!.failedReason, 'the disk is full');
    assert.deepEqual(await rows(), ['400x200 image/jpeg original']);
    assert.equal((await files()).length, 1);
    // The same thumbnail enqueued again replaces the failed job.
    failing = false;
    assert.equal((await q.enqueue(user, 'picture', [{ width: 100 }]))[0]!.jobId, entry!.jobId);
    const [done] = await completions(1);
    assert.equal(done!.result.status, 'created');
  });

  it('an error no retry can cure fails the job at once', async function () {
    await attach(await solid(400, 200, 'red'));
    const other = new FileSystemStore({ path: root, baseUrl: 'http://other.example.com/' });
    const producer = makeQueue({ stores: { default: store, other } });
    await producer.enqueue(user, 'picture', [{ width: 100 }], { store: 'other' });
    // A worker deployed without the "other" store.
    const consumer = thumbnailQueue({
      connection: REDIS_URL,
      queueName: producer.name,
      models: { User },
      stores: { default: store },
    });
    const { failed } = await recordingWorker(consumer, {});
    await until(() => failed.length > 0, 5000, 'the failure');
    await sleep(150);
    assert.equal(failed.length, 1);
    assert.equal(failed[0]!.final, true);
    assert.ok(
      failed[0]!.error instanceof ImageAttachError && failed[0]!.error.code === 'ERR_QUEUE_JOB_INVALID',
      String(failed[0]!.error),
    );
    await consumer.close();
  });

  it('close() lets the running job finish before it resolves', async function () {
    await attach(await solid(400, 200, 'red'));
    const atWrite = gate();
    store.onPut = async (key) => (key.width === 100 ? atWrite.wait() : undefined);
    const q = makeQueue();
    await q.enqueue(user, 'picture', [{ width: 100 }]);
    const { worker, completed } = await recordingWorker(q);
    await atWrite.reached;
    let closed = false;
    const closing = worker.close().then(() => (closed = true));
    await sleep(150);
    assert.equal(closed, false);
    atWrite.open();
    await closing;
    assert.deepEqual(
      completed.map((e) => e.result.status),
      ['created'],
    );
    assert.deepEqual(await rows(), ['100x50 image/jpeg', '400x200 image/jpeg original']);
    assert.ok(await queueIsEmpty(q));
  });

  it('keeps subsets apart (a product image slot travels with the job)', async function () {
    const product = await Product.query().insert({});
    await withStore(store, async () => {
      await imageSet(product, 'images', { slot: 1 }).fromBlob(await solid(200, 100, 'red'));
      await imageSet(product, 'images', { slot: 2 }).fromBlob(await solid(300, 300, 'blue'));
    });
    const q = makeQueue();
    await q.enqueue(product, 'images', [{ width: 30 }], { subset: { slot: 2 } });
    const [done] = await (await recordingWorker(q)).completions(1);
    assert.deepEqual(done!.result, { status: 'created', width: 30, height: 30, mimetype: 'image/jpeg' });
    const images = await product.$relatedQuery('images').orderBy(['slot', 'width']);
    assert.deepEqual(
      images.map((i) => [i.slot, i.width, i.height]),
      [
        [1, 200, 100],
        [2, 30, 30],
        [2, 300, 300],
      ],
    );
  });
});

/**
 * Variant jobs on the real queue: `make: 'queue'` outputs queued after the attach commits
 * (`queueVariantsAfterCommit()`), made by a worker, idempotent; a job of a replaced original skipped.
 */
import assert from 'node:assert/strict';
import { Model } from 'objection';
import { imageSet, InvalidArgumentError, withStore } from '../../src/index.js';
import { type ThumbnailQueue, thumbnailQueue } from '../../src/queue.js';
import { FileSystemStore } from '../../src/stores/fs.js';
import { createVariantSchema, Member } from '../entity/variant-models.js';
import { forEachDialect } from '../support/db.js';
import { jpeg } from '../support/images.js';
import { removeDir, tempDir } from '../support/tmp.js';
import { disposeQueue, recordingWorker, REDIS_URL, uniqueQueueName, useRedis } from './support.js';

forEachDialect('variant jobs', (db) => {
  useRedis();
  let root: string;
  let store: FileSystemStore;
  let queue: ThumbnailQueue;

  before(async function () {
    Model.knex(db());
    await createVariantSchema(db());
  });
  beforeEach(async function () {
    root = await tempDir('variant-jobs');
    store = new FileSystemStore({ path: root, baseUrl: 'http://img.test/' });
    queue = thumbnailQueue({
      connection: REDIS_URL,
      queueName: uniqueQueueName('variants'),
      models: { Member },
      stores: { default: store },
    });
  });
  afterEach(async function () {
    await disposeQueue(queue);
    await removeDir(root);
  });

  const cardRows = (m: Member) => db()('member_picture_variants').where({ member_id: m.id, name: 'card' });

  it('queues make: queue outputs once the attach has committed, and a worker makes them', async function () {
    queue.queueVariantsAfterCommit();
    const member = await Member.query().insert({ name: 'Ann' });
    const picture = await jpeg(800, 600);
    await withStore(store, () => imageSet(member, 'picture').fromBlob(picture));
    assert.equal((await cardRows(member)).length, 0);
    const worker = await recordingWorker(queue);
    const [done] = await worker.completions(1);
    assert.deepEqual(done!.result, { status: 'created', variants: ['card'], made: 1 });
    assert.deepEqual(
      (await cardRows(member)).map((r: { width: number; height: number }) => [r.width, r.height]),
      [[80, 60]],
    );
    // Nothing missing: nothing queued.
    const loaded = (await Member.query().findById(member.id).withGraphFetched('picture'))!;
    assert.deepEqual(await queue.enqueueVariants(loaded, 'picture'), {
      variants: [],
      status: 'exists',
      jobId: undefined,
    });
  });

  it('skips a job whose original was replaced, and refuses undeclared names', async function () {
    const member = await Member.query().insert({ name: 'Bea' });
    await withStore(store, async () => imageSet(member, 'picture').fromBlob(await jpeg(800, 600)));
    const enqueued = await queue.enqueueVariants(member, 'picture', ['card']);
    assert.equal(enqueued.status, 'queued');
    await withStore(store, async () => imageSet(member, 'picture').fromBlob(await jpeg(640, 480)));
    const worker = await recordingWorker(queue);
    const [done] = await worker.completions(1);
    assert.deepEqual(done!.result, { status: 'skipped', reason: 'original-replaced' });
    await assert.rejects(queue.enqueueVariants(member, 'picture', ['banner']), InvalidArgumentError);
  });
});

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import knexFactory, { type Knex } from 'knex';
import { Model } from 'objection';
import { FileSystemStore, imageSet, withStore } from '../../src/index.js';
import { identityOf } from '../../src/queue/job.js';
import { isPermanent, runThumbnailJob } from '../../src/queue/process.js';
import { createSchema, User } from '../entity/models.js';
import { solid } from '../support/colours.js';
import { fsStore } from '../support/fs-store.js';

// Issue 22 #8: a job on a stored original that does not decode was retried five times, each
// decoding it twice; it fails at once with its own code.
describe('a thumbnail job on a stored original that does not decode', function () {
  let knex: Knex;
  let root: string;
  let store: FileSystemStore;
  let cleanup: () => Promise<void>;

  before(async function () {
    knex = knexFactory({
      client: 'better-sqlite3',
      connection: { filename: ':memory:' },
      useNullAsDefault: true,
      pool: { min: 1, max: 1 },
    });
    Model.knex(knex);
    await createSchema(knex);
    ({ store, dir: root, cleanup } = await fsStore('job-unreadable', 'http://img.test/'));
  });
  after(async function () {
    await knex.destroy();
    await cleanup();
  });

  it('fails with ERR_ORIGINAL_UNREADABLE (422), which no retry can cure', async function () {
    const user = await User.query().insert({ name: 'Ann' });
    const good = await solid(800, 600, '#d00000');
    const original = await withStore(store, () => imageSet(user, 'picture').fromBlob(good));
    await writeFile(store.pathFor(original), good.subarray(0, Math.floor(good.length * 0.6)));
    const data = {
      v: 1 as const,
      model: 'User',
      id: user.id,
      relation: 'picture',
      subset: {},
      size: { width: 200 },
      store: 'images',
      original: identityOf(original),
    };
    const error = await runThumbnailJob(data, { models: { User }, stores: { images: store } }).then(
      () => assert.fail('expected the job to fail'),
      (e: unknown) => e as { code: string; statusCode: number; message: string },
    );
    assert.deepEqual([error.code, error.statusCode], ['ERR_ORIGINAL_UNREADABLE', 422]);
    assert.ok(!error.message.includes(root), error.message);
    assert.equal(isPermanent(error), true);
  });
});

import assert from 'node:assert/strict';
import type { Knex } from 'knex';
import { Model } from 'objection';
import {
  FileSystemStore,
  Image,
  imageAttachment,
  imageColumns,
  imageSet,
  ImageOwner,
  withStore,
} from '../../src/index.js';
import { type ThumbnailQueue, thumbnailQueue } from '../../src/queue.js';
import { forEachDialect } from '../support/db.js';
import { removeDir, tempDir } from '../support/tmp.js';
import { disposeQueue, recordingWorker, REDIS_URL, solid, uniqueQueueName, useRedis } from './support.js';

/** An owner with a composite key, one part a string: its `$id()` is an array. */
class Shelf extends ImageOwner(Model) {
  static override tableName = 'shelves';
  static override idColumn = ['org', 'num'];
  declare org: string;
  declare num: number;
  static override relationMappings = () => ({
    photo: imageAttachment(() => ShelfPhoto, {
      join: { from: ['shelves.org', 'shelves.num'], to: ['shelf_photo.org', 'shelf_photo.num'] },
    }),
  });
}

class ShelfPhoto extends Image(Model) {
  static override tableName = 'shelf_photo';
  static override idColumn = ['org', 'num', 'width', 'height'];
  declare org: string;
  declare num: number;
  override get objectId(): bigint {
    return BigInt(this.num);
  }
}

async function createShelves(knex: Knex): Promise<void> {
  await knex.schema.createTable('shelves', (t) => {
    t.string('org', 40).notNullable();
    t.integer('num').notNullable();
    t.primary(['org', 'num']);
  });
  await knex.schema.createTable('shelf_photo', (t) => {
    t.string('org', 40).notNullable();
    t.integer('num').notNullable();
    imageColumns(t);
    t.primary(['org', 'num', 'width', 'height']);
  });
}

forEachDialect('thumbnail queue, owner keys', (db, dialect) => {
  useRedis();
  let root: string;
  let queue: ThumbnailQueue | undefined;

  before(async function () {
    Model.knex(db());
    await createShelves(db());
  });
  beforeEach(async function () {
    root = await tempDir(`queue-keys-${dialect}`);
  });
  afterEach(async function () {
    await disposeQueue(queue);
    queue = undefined;
    await removeDir(root);
  });

  it('a composite owner key travels through Redis and finds its owner again', async function () {
    const store = new FileSystemStore({ path: root, baseUrl: 'http://static.example.com/' });
    const shelf = await Shelf.query().insert({ org: 'acme', num: 7 });
    const decoy = await Shelf.query().insert({ org: 'acme', num: 8 });
    const red = await solid(120, 60, 'red');
    await withStore(store, async () => {
      await imageSet(shelf, 'photo').fromBlob(red);
      await imageSet(decoy, 'photo').fromBlob(red);
    });
    queue = thumbnailQueue({
      connection: REDIS_URL,
      queueName: uniqueQueueName(`keys-${dialect}`),
      models: { Shelf },
      stores: { default: store },
    });
    await queue.enqueue(shelf, 'photo', [{ height: 30 }]);
    const [done] = await (await recordingWorker(queue)).completions(1);
    assert.deepEqual(done!.data.id, ['acme', 7]);
    assert.deepEqual(done!.result, { status: 'created', width: 60, height: 30, mimetype: 'image/jpeg' });
    const photos = await ShelfPhoto.query().orderBy(['num', 'width']);
    assert.deepEqual(
      photos.map((p) => [p.num, p.width]),
      [
        [7, 60],
        [7, 120],
        [8, 120],
      ],
    );
  });
});

import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import knexFactory, { type Knex } from 'knex';
import { Model } from 'objection';
import sharp from 'sharp';
import { FileSystemStore, type ImageKey, imageSet, withStore } from '../../src/index.js';
import { jpeg } from '../support/images.js';
import { removeDir, tempDir } from '../support/tmp.js';
import { createSchema, User } from './models.js';

/** A filesystem store that runs `onRead` when image processing asks for an original's path. */
class ObservedStore extends FileSystemStore {
  onRead: (() => void) | undefined;
  override localPath(key: ImageKey): string {
    this.onRead?.();
    return super.localPath(key);
  }
}

// Regression: generateThumbnail() used to resize inside its transaction, so on SQLite (one
// connection, one writer) every other query of the app waited for each resize.
describe('thumbnails made without a transaction', function () {
  let knex: Knex;
  let root: string;
  let store: ObservedStore;
  let user: User;

  before(async function () {
    knex = knexFactory({ client: 'better-sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true, pool: { min: 1, max: 1 } });
    Model.knex(knex);
    await createSchema(knex);
  });
  after(async function () {
    await knex.destroy();
  });
  beforeEach(async function () {
    root = await tempDir('render-ahead');
    store = new ObservedStore({ path: root, baseUrl: 'http://img.test/' });
    user = await User.query().insert({ name: 'Ann' });
    const bytes = await jpeg(1600, 1200);
    await withStore(store, () => imageSet(user, 'picture').fromBlob(bytes));
  });
  afterEach(async function () {
    await removeDir(root);
  });

  it('resize before taking the database: a query made meanwhile does not wait for the resize', async function () {
    const order: string[] = [];
    store.onRead = () => {
      store.onRead = undefined;
      // The resize is about to start: a query now must not queue behind it.
      void User.query().findById(user.id).then(() => order.push('other query'));
    };
    await withStore(store, () => imageSet(user, 'picture').generateThumbnail({ width: 800 }, { format: 'webp' }));
    order.push('thumbnail');
    assert.deepEqual(order, ['other query', 'thumbnail']);
  });

  it('store the thumbnail rendered ahead, with its row', async function () {
    const image = await withStore(store, () => imageSet(user, 'picture').generateThumbnail({ width: 100 }));
    assert.deepEqual([image.width, image.height, image.mimetype], [100, 75, 'image/jpeg']);
    const meta = await sharp(await withStore(store, () => image.makeBlob())).metadata();
    assert.deepEqual([meta.width, meta.height, meta.format], [100, 75, 'jpeg']);
  });

  it('make the thumbnail of the current original even from a stale loaded relation', async function () {
    const stale = (await User.query().findById(user.id).withGraphFetched('picture'))!;
    // Meanwhile, another request replaces the picture: the loaded original's file is gone.
    const newer = await jpeg(800, 400);
    await withStore(store, () => imageSet(user, 'picture').fromBlob(newer));
    const image = await withStore(store, () => imageSet(stale, 'picture').generateThumbnail({ width: 100 }));
    assert.deepEqual([image.width, image.height], [100, 50]);
    const meta = await sharp(await withStore(store, () => image.makeBlob())).metadata();
    assert.deepEqual([meta.width, meta.height], [100, 50]);
  });

  it('render nothing for a thumbnail that exists, and leave no temp file', async function () {
    // The temp folder is shared: spool files of others (a worker killed by another test, say) are not ours.
    const spools = async () => (await readdir(tmpdir())).filter((name) => name.startsWith('objection-imageattach-') && name.endsWith('.spool'));
    const before = new Set(await spools());
    const first = await withStore(store, () => imageSet(user, 'picture').generateThumbnail({ width: 100 }));
    let reads = 0;
    store.onRead = () => reads++;
    const again = await withStore(store, () => imageSet(user, 'picture').generateThumbnail({ width: 100 }));
    store.onRead = undefined;
    assert.equal(reads, 0);
    assert.deepEqual([again.width, again.height, String(again.created_at)], [first.width, first.height, String(first.created_at)]);
    assert.deepEqual((await spools()).filter((name) => !before.has(name)), []);
  });
});

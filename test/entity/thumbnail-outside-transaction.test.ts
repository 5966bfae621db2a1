import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import knexFactory, { type Knex } from 'knex';
import { Model } from 'objection';
import sharp from 'sharp';
import { FileSystemStore, type ImageKey, imageSet, type PutFileOptions, withStore } from '../../src/index.js';
import { jpeg } from '../support/images.js';
import { listTree, removeDir, tempDir } from '../support/tmp.js';
import { createSchema, User } from './models.js';

/** A filesystem store that runs `onRead` when image processing asks for an original's path, and notes the inodes of local files it stores. */
class ObservedStore extends FileSystemStore {
  onRead: (() => void) | undefined;
  stored: Array<{ ino: number; move: boolean | undefined }> = [];
  override localPath(key: ImageKey): string {
    this.onRead?.();
    return super.localPath(key);
  }
  override async putLocalFile(key: ImageKey, file: string, options: PutFileOptions): Promise<number> {
    this.stored.push({ ino: (await stat(file)).ino, move: options.move });
    return super.putLocalFile(key, file, options);
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
    knex = knexFactory({
      client: 'better-sqlite3',
      connection: { filename: ':memory:' },
      useNullAsDefault: true,
      pool: { min: 1, max: 1 },
    });
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
      void User.query()
        .findById(user.id)
        .then(() => order.push('other query'));
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

  it("render straight into the store's folder and rename the file into place: no copy", async function () {
    const image = await withStore(store, () => imageSet(user, 'picture').generateThumbnail({ width: 100 }));
    assert.equal(store.stored.length, 1);
    assert.equal(store.stored[0]!.move, true);
    assert.equal((await stat(store.pathFor(image))).ino, store.stored[0]!.ino);
    assert.deepEqual(
      (await listTree(root)).filter((name) => name.endsWith('.tmp')),
      [],
    );
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

  it('leave no staged render behind when the original was replaced by one of the same size meanwhile', async function () {
    const stale = (await User.query().findById(user.id).withGraphFetched('picture'))!;
    // Same size and type: the old original's path now holds the new bytes, so the render ahead
    // (from the stale rows) works, but it is of the old original (created_at), and is not stored.
    await new Promise((resolve) => setTimeout(resolve, 5));
    await withStore(store, async () => imageSet(user, 'picture').fromBlob(await jpeg(1600, 1200)));
    store.stored = [];
    const image = await withStore(store, () => imageSet(stale, 'picture').generateThumbnail({ width: 100 }));
    assert.deepEqual([image.width, image.height], [100, 75]);
    assert.deepEqual(store.stored, [], 'rendered again in the transaction, from the current original');
    assert.deepEqual(
      (await listTree(root)).filter((name) => name.endsWith('.tmp')),
      [],
    );
  });

  it('render nothing for a thumbnail that exists, and leave no temp file', async function () {
    // The temp folder is shared: spool files of others (a worker killed by another test, say) are not ours.
    const spools = async () =>
      (await readdir(tmpdir())).filter((name) => name.startsWith('objection-imageattach-') && name.endsWith('.spool'));
    const before = new Set(await spools());
    const first = await withStore(store, () => imageSet(user, 'picture').generateThumbnail({ width: 100 }));
    let reads = 0;
    store.onRead = () => reads++;
    const again = await withStore(store, () => imageSet(user, 'picture').generateThumbnail({ width: 100 }));
    store.onRead = undefined;
    assert.equal(reads, 0);
    assert.deepEqual(
      [again.width, again.height, String(again.created_at)],
      [first.width, first.height, String(first.created_at)],
    );
    assert.deepEqual(
      (await spools()).filter((name) => !before.has(name)),
      [],
    );
  });
});

/**
 * A store of the user's own gets validated, normalised keys from the entity layer: every call the
 * library makes into its implementer methods (attach, thumbnails, replacement, removal) passes a
 * plain key whose objectId is a bigint, never the image entity itself.
 */
import assert from 'node:assert/strict';
import knexFactory, { type Knex } from 'knex';
import { Model } from 'objection';
import { filesSettled, FileSystemStore, type ImageKey, imageSet } from '../../src/index.js';
import { HookedStore } from '../support/hooked-store.js';
import { jpeg } from '../support/images.js';
import { removeDir, tempDir } from '../support/tmp.js';
import { createSchema, User } from './models.js';

/** A user's store over a filesystem one, noting the key of each implementer call. */
class RecordingStore extends HookedStore {
  readonly keys: Array<[string, ImageKey]> = [];
  override getFile(key: ImageKey): ReturnType<HookedStore['getFile']> {
    this.keys.push(['getFile', key]);
    return super.getFile(key);
  }
  override getUrl(key: ImageKey): string {
    this.keys.push(['getUrl', key]);
    return super.getUrl(key);
  }
  override deleteFile(key: ImageKey): Promise<void> {
    this.keys.push(['deleteFile', key]);
    return super.deleteFile(key);
  }
  override statFile(key: ImageKey): ReturnType<HookedStore['statFile']> {
    this.keys.push(['statFile', key]);
    return super.statFile(key);
  }
  override localPath(key: ImageKey): string | undefined {
    this.keys.push(['localPath', key]);
    return super.localPath(key);
  }
}

describe("a user's own store gets normalised keys from the entity layer", function () {
  let knex: Knex;
  let root: string;

  before(async function () {
    knex = knexFactory({ client: 'better-sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true });
    Model.knex(knex);
    await createSchema(knex);
  });
  after(async function () {
    await knex.destroy();
  });
  beforeEach(async function () {
    root = await tempDir('custom-store-keys');
  });
  afterEach(async function () {
    await removeDir(root);
  });

  it('attach with thumbnails, replace, locate and remove: each key a plain one, objectId a bigint', async function () {
    const store = new RecordingStore(new FileSystemStore({ path: root, baseUrl: 'http://img.test/' }));
    const user = await User.query().insert({ name: 'Ann' });
    await imageSet(user, 'picture').fromBlob(await jpeg(80, 60), { store, thumbnails: [{ width: 40 }] });
    await imageSet(user, 'picture').fromBlob(await jpeg(80, 60), { store });
    await filesSettled();
    imageSet(
      await User.query()
        .findById(user.id)
        .withGraphFetched('picture')
        .then((u) => u!),
      'picture',
    ).locate({ store });
    await imageSet(user, 'picture').remove({ store });
    await filesSettled();
    const calls = [...store.puts.map((key) => ['putFile', key] as [string, ImageKey]), ...store.keys];
    assert.ok(
      calls.some(([name]) => name === 'putFile') && calls.some(([name]) => name === 'deleteFile'),
      'writes and deletes went through the store',
    );
    for (const [name, key] of calls) {
      assert.equal(Object.getPrototypeOf(key), Object.prototype, `${name} got a plain key`);
      assert.deepEqual(
        Object.keys(key).sort(),
        ['height', 'mimetype', 'objectId', 'objectType', 'width'],
        `${name} got the five key fields`,
      );
      assert.equal(typeof key.objectId, 'bigint', `${name} got a bigint objectId`);
    }
  });
});

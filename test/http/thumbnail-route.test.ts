import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import express, { type NextFunction, type Request, type Response } from 'express';
import { Model } from 'objection';
import sharp from 'sharp';
import request from 'supertest';
import { FileSystemStore, type ImageKey, imageSet, InvalidArgumentError, type PutFileOptions, withStore } from '../../src/index.js';
import { storeContext, thumbnailRoute } from '../../src/express.js';
import { createSchema, User, UserPicture } from '../entity/models.js';
import { forEachDialect } from '../support/db.js';
import { jpeg } from '../support/images.js';
import { listTree, removeDir, tempDir } from '../support/tmp.js';

/** A fully transparent 40×30 PNG (its pixels' colour channels 0: black once alpha is dropped). */
const transparentPng = await sharp({ create: { width: 40, height: 30, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();

/** A real filesystem store that counts the files written, to prove a thumbnail is made once. */
class CountingStore extends FileSystemStore {
  writes: string[] = [];
  override putFile(key: ImageKey, stream: Readable, options: PutFileOptions) {
    this.writes.push(`${key.width}x${key.height}`);
    return super.putFile(key, stream, options);
  }
}

forEachDialect('thumbnailRoute()', (db, dialect) => {
  let root: string;
  let store: CountingStore;
  let app: express.Express;
  let ann: User;

  before(async function () {
    Model.knex(db());
    await createSchema(db());
  });
  beforeEach(async function () {
    root = await tempDir(`route-${dialect}`);
    store = new CountingStore({ path: root, baseUrl: 'http://img.test/' });
    ann = await User.query().insert({ name: 'Ann' });
    const bytes = await jpeg(800, 600);
    await withStore(store, () => imageSet(ann, 'picture').fromBlob(bytes));
    store.writes = [];
    app = express();
    app.use(storeContext(store));
    app.get(
      '/users/:id/picture',
      thumbnailRoute({
        widths: [50, 100, 200, 400, 800],
        load: async (req) => {
          const user = await User.query().findById(req.params.id!).withGraphFetched('picture');
          return user && imageSet(user, 'picture');
        },
      }),
    );
    app.use((error: any, _req: Request, res: Response, _next: NextFunction) => {
      res.status(error.statusCode ?? 500).json({ code: error.code, message: error.message });
    });
  });
  afterEach(async function () {
    await removeDir(root);
  });

  const thumbnailRows = () => UserPicture.query().where({ user_id: ann.id, original: false }).orderBy('width');

  it('makes the thumbnail of an allowed width and redirects to it', async function () {
    const res = await request(app).get(`/users/${ann.id}/picture?width=200`);
    assert.equal(res.status, 302);
    assert.match(res.headers.location!, new RegExp(`^http://img\\.test/user-picture/${ann.id}/0/${ann.id}\\.200x150\\.jpe\\?_ts=\\d{20}$`));
    assert.equal(res.headers['cache-control'], 'no-cache');
    assert.deepEqual((await thumbnailRows()).map((r) => [r.width, r.height]), [[200, 150]]);
    assert.ok((await listTree(root)).includes(`user-picture/${ann.id}/0/${ann.id}.200x150.jpe`));
  });

  it('finds the thumbnail again on the next request, making nothing', async function () {
    const first = await request(app).get(`/users/${ann.id}/picture?width=100`).expect(302);
    const second = await request(app).get(`/users/${ann.id}/picture?width=100`).expect(302);
    assert.equal(second.headers.location, first.headers.location);
    assert.deepEqual(store.writes, ['100x75']);
  });

  it('makes one thumbnail for 50 concurrent requests of a missing width, and answers them all', async function () {
    const responses = await Promise.all(Array.from({ length: 50 }, () => request(app).get(`/users/${ann.id}/picture?width=400`)));
    assert.deepEqual(new Set(responses.map((r) => r.status)), new Set([302]));
    assert.equal(new Set(responses.map((r) => r.headers.location)).size, 1);
    assert.deepEqual(store.writes, ['400x300']);
    assert.equal((await thumbnailRows()).length, 1);
  });

  it('answers 400 for a width not in the list, making nothing', async function () {
    for (const width of ['1000', '150', '0', '-100', '1e2', '0100', '100.0', 'abc', '']) {
      const res = await request(app).get(`/users/${ann.id}/picture`).query({ width });
      assert.equal(res.status, 400, `width=${width}`);
      assert.equal(res.body.code, 'ERR_INVALID_ARGUMENT');
    }
    const res = await request(app).get(`/users/${ann.id}/picture?width=1000`);
    assert.equal(res.body.message, 'Expected one of 50, 100, 200, 400, 800 for width but received "1000" of type string');
    const twice = await request(app).get(`/users/${ann.id}/picture?width=100&width=200`);
    assert.equal(twice.body.message, 'Expected one of 50, 100, 200, 400, 800 for width but received an array of length 2');
    assert.deepEqual(store.writes, []);
  });

  it('redirects to the original without a width, and for a width not smaller than it', async function () {
    const original = new RegExp(`/${ann.id}\\.800x600\\.jpe\\?_ts=`);
    assert.match((await request(app).get(`/users/${ann.id}/picture`).expect(302)).headers.location!, original);
    assert.match((await request(app).get(`/users/${ann.id}/picture?width=800`).expect(302)).headers.location!, original);
    assert.deepEqual(store.writes, []);
  });

  it('answers 404 when there is no owner, or no original', async function () {
    const nobody = await request(app).get('/users/999999/picture?width=100');
    assert.deepEqual([nobody.status, nobody.body.code], [404, 'ERR_IMAGE_NOT_FOUND']);
    const bob = await User.query().insert({ name: 'Bob' });
    const empty = await request(app).get(`/users/${bob.id}/picture?width=100`);
    assert.deepEqual([empty.status, empty.body.code], [404, 'ERR_IMAGE_NOT_FOUND']);
  });

  it('uses the status, format and store given, and loads an unloaded set itself', async function () {
    const other = express();
    other.get(
      '/p',
      thumbnailRoute({ widths: [50], status: 303, format: 'webp', store, load: async () => imageSet((await User.query().findById(ann.id))!, 'picture') }),
    );
    const res = await request(other).get('/p?width=50').expect(303);
    assert.match(res.headers.location!, /\.50x37\.webp\?_ts=/);
  });

  it('flattens a transparent original onto its background in JPEG thumbnails', async function () {
    const clear = await User.query().insert({ name: 'Clear' });
    await withStore(store, () => imageSet(clear, 'picture').fromBlob(transparentPng));
    const other = express();
    other.get('/p', thumbnailRoute({ widths: [20], format: 'jpeg', background: '#00ff00', store, load: async () => imageSet((await User.query().findById(clear.id))!, 'picture') }));
    await request(other).get('/p?width=20').expect(302);
    const thumbnail = await withStore(store, async () => (await imageSet(clear, 'picture').load()).findThumbnail({ width: 20 }).makeBlob());
    const [r, g, b] = await sharp(thumbnail).raw().toBuffer();
    assert.ok(r! < 10 && g! > 245 && b! < 10, `${r},${g},${b} is not green`);
  });

  it('validates its options when made, naming them', function () {
    const load = () => undefined;
    assert.throws(() => thumbnailRoute({ widths: [], load }), (e: unknown) => e instanceof InvalidArgumentError && e.message === 'Expected a non-empty array of integers >= 1 for options.widths but received an array of length 0');
    assert.throws(() => thumbnailRoute({ widths: [100, 0.5], load }), { message: /for options\.widths/ });
    assert.throws(() => thumbnailRoute({ widths: [100], load: undefined as never }), { message: 'Expected a function (req) => the image set for options.load but received undefined' });
    assert.throws(() => thumbnailRoute({ widths: [100], load, status: 301 as never }), { message: 'Expected 302, 303 or 307 for options.status but received 301 of type number' });
    assert.throws(() => thumbnailRoute({ widths: [100], load, format: 'bmp' as never }), { message: /for format but received "bmp"/ });
    assert.throws(() => thumbnailRoute({ widths: [100], load, background: 'green' }), { message: /for options\.background but received "green"/ });
  });
});

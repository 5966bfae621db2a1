/**
 * variantRoute(): a declared variant's output by name, `make: 'demand'` ones made on the first
 * request (once, however many ask at the same time), answered as thumbnailRoute() answers; any
 * other name, descriptor or format a 404 that names no path.
 */
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import express, { type NextFunction, type Request, type Response } from 'express';
import { Model } from 'objection';
import sharp from 'sharp';
import request from 'supertest';
import { storeContext, withStore } from '../../src/context.js';
import { imageSet } from '../../src/entity/image-set.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { variantRoute } from '../../src/express.js';
import { FileSystemStore } from '../../src/stores/fs.js';
import type { ImageKey } from '../../src/stores/keys.js';
import type { PutFileOptions } from '../../src/stores/store.js';
import { createVariantSchema, Member } from '../entity/variant-models.js';
import { forEachDialect } from '../support/db.js';
import { jpeg } from '../support/images.js';
import { removeDir, tempDir } from '../support/tmp.js';
import { bodyOf, bytes } from './fixtures.js';

/** A real filesystem store that counts the variant files written, to prove an output is made once. */
class CountingStore extends FileSystemStore {
  writes: string[] = [];
  override putFile(key: ImageKey, stream: Readable, options: PutFileOptions) {
    if (key.objectType.includes('.')) this.writes.push(`${key.objectType} ${key.width}x${key.height}`);
    return super.putFile(key, stream, options);
  }
}

forEachDialect('variantRoute()', (db) => {
  let root: string;
  let store: CountingStore;
  let app: express.Express;
  let ann: Member;

  before(async function () {
    Model.knex(db());
    await createVariantSchema(db());
  });
  beforeEach(async function () {
    root = await tempDir('variant-route');
    store = new CountingStore({ path: root, baseUrl: 'http://img.test/' });
    ann = await Member.query().insert({ name: 'Ann' });
    const picture = await jpeg(800, 600);
    await withStore(store, () => imageSet(ann, 'picture').fromBlob(picture));
    store.writes = [];
    app = express();
    app.use(storeContext(store));
    app.get(
      '/members/:ownerId/picture/:name/:descriptor.:format',
      variantRoute({ load: (req) => imageSet(Member.fromJson({ id: Number(req.params.ownerId) }), 'picture') }),
    );
    app.use((error: any, _req: Request, res: Response, _next: NextFunction) => {
      res.status(error.statusCode ?? 500).json({ code: error.code, message: error.message });
    });
  });
  afterEach(async function () {
    await removeDir(root);
  });

  const get = (path: string) => request(app).get(`/members/${ann.id}/picture/${path}`).buffer(true).parse(bytes);
  const sizeOf = async (res: request.Response) => {
    const { width, height, format } = await sharp(bodyOf(res)).metadata();
    return { width, height, format };
  };
  const heroRows = () => db()('member_picture_variants').where({ member_id: ann.id, name: 'hero' });

  it('makes a demand output on the first request, then answers with the same file', async function () {
    const first = await get('hero/64w.jpeg');
    assert.equal(first.status, 200);
    assert.equal(first.headers['content-type'], 'image/jpeg');
    assert.deepEqual(await sizeOf(first), { width: 64, height: 48, format: 'jpeg' });
    assert.equal((await heroRows()).length, 1);
    const second = await get('hero/64w.jpeg');
    assert.equal(second.status, 200);
    assert.equal(second.headers.etag, first.headers.etag);
    assert.equal(store.writes.length, 1);
    const revalidated = await request(app)
      .get(`/members/${ann.id}/picture/hero/64w.jpeg`)
      .set('If-None-Match', first.headers.etag!);
    assert.equal(revalidated.status, 304);
  });

  it('makes one file for twenty concurrent first requests', async function () {
    const answers = await Promise.all(Array.from({ length: 20 }, () => get('hero/160w.jpeg')));
    assert.deepEqual([...new Set(answers.map((res) => res.status))], [200]);
    assert.equal(store.writes.length, 1);
    assert.equal((await heroRows()).length, 1);
  });

  it('answers an output made at upload without making anything', async function () {
    const res = await get('avatar/2x.webp');
    assert.equal(res.status, 200);
    assert.deepEqual(await sizeOf(res), { width: 96, height: 96, format: 'webp' });
    assert.deepEqual(store.writes, []);
  });

  for (const [what, path] of [
    ['an undeclared name', 'banner/1x.jpeg'],
    ['an undeclared descriptor', 'hero/65w.jpeg'],
    ['an undeclared format', 'hero/64w.avif'],
    ['a descriptor of the other kind', 'avatar/64w.webp'],
    ['a malformed descriptor', 'hero/..%2F..%2Fetc.jpeg'],
  ] as const) {
    it(`answers ${what} with a 404 that names no path, and makes nothing`, async function () {
      const res = await request(app).get(`/members/${ann.id}/picture/${path}`);
      assert.equal(res.status, 404);
      assert.equal(res.body.code, 'ERR_IMAGE_NOT_FOUND');
      assert.doesNotMatch(res.text, /members|picture\/|\/tmp|img\.test|banner|65w|avif|etc/);
      assert.deepEqual(store.writes, []);
    });
  }

  it('answers 404 for a queue output not made yet (the helpers never emit its URL)', async function () {
    const res = await request(app).get(`/members/${ann.id}/picture/card/1x.jpeg`);
    assert.equal(res.status, 404);
    assert.deepEqual(store.writes, []);
  });

  it('answers 404 for an owner that is not there, or whose id names no row', async function () {
    for (const id of ['99999', 'abc']) {
      const res = await request(app).get(`/members/${id}/picture/hero/64w.jpeg`);
      assert.equal(res.status, 404, id);
      assert.doesNotMatch(res.text, /members|abc/);
    }
  });

  it('redirects to the output with respondWith: redirect', async function () {
    const redirecting = express();
    redirecting.use(storeContext(store));
    redirecting.get(
      '/m/:ownerId/:name/:descriptor.:format',
      variantRoute({
        respondWith: 'redirect',
        load: (req) => imageSet(Member.fromJson({ id: Number(req.params.ownerId) }), 'picture'),
      }),
    );
    const res = await request(redirecting).get(`/m/${ann.id}/hero/64w.jpeg`);
    assert.equal(res.status, 302);
    assert.equal(res.headers['cache-control'], 'no-cache');
    assert.match(
      res.headers.location!,
      /^http:\/\/img\.test\/member-picture\.hero\.[0-9a-f]{12}\/.+\.64x48\.jpe\?_ts=\d+$/,
    );
  });

  it('refuses bad options at once', function () {
    assert.throws(() => variantRoute({} as never), InvalidArgumentError);
    assert.throws(() => variantRoute({ load: () => undefined, status: 301 as never }), InvalidArgumentError);
  });
});

import assert from 'node:assert/strict';
import { utimes } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import express, { type NextFunction, type Request, type Response } from 'express';
import { Model } from 'objection';
import sharp from 'sharp';
import request from 'supertest';
import { imageSet } from '../../src/entity/image-set.js';
import { storeContext, withStore } from '../../src/context.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { thumbnailRoute } from '../../src/http/thumbnail-route.js';
import { FileSystemStore } from '../../src/stores/fs.js';
import type { S3Store } from '../../src/stores/s3.js';
import type { ImageKey } from '../../src/stores/keys.js';
import type { PutFileOptions } from '../../src/stores/store.js';
import { createSchema, User, UserPicture } from '../entity/models.js';
import { dialects, forEachDialect } from '../support/db.js';
import { jpeg } from '../support/images.js';
import { useS3Server } from '../support/s3.js';
import { listTree, removeDir, tempDir } from '../support/tmp.js';
import { forEachExpress } from './express-majors.js';
import { bodyOf, bytes } from './fixtures.js';

/** A fully transparent 40×30 PNG (its pixels' colour channels 0: black once alpha is dropped). */
const transparentPng = await sharp({
  create: { width: 40, height: 30, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } },
})
  .png()
  .toBuffer();

/** A real filesystem store that counts the files written, to prove a thumbnail is made once. */
class CountingStore extends FileSystemStore {
  writes: string[] = [];
  override putFile(key: ImageKey, stream: Readable, options: PutFileOptions) {
    this.writes.push(`${key.width}x${key.height}`);
    return super.putFile(key, stream, options);
  }
}

forEachExpress('thumbnailRoute()', (express) =>
  forEachDialect('with files on this machine', (db, dialect) => {
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
    const get = (query: string) => request(app).get(`/users/${ann.id}/picture${query}`).buffer(true).parse(bytes);
    const widthOf = async (res: request.Response) => (await sharp(bodyOf(res)).metadata()).width;
    const thumbnailFile = (size: string) => path.join(root, `user-picture/${ann.id}/0/${ann.id}.${size}.jpe`);

    it('makes the thumbnail of an allowed width and answers with its bytes', async function () {
      const res = await get('?width=200');
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'image/jpeg');
      assert.equal(await widthOf(res), 200);
      assert.deepEqual(
        (await thumbnailRows()).map((r) => [r.width, r.height]),
        [[200, 150]],
      );
      assert.ok((await listTree(root)).includes(`user-picture/${ann.id}/0/${ann.id}.200x150.jpe`));
    });

    it('finds the thumbnail again on the next request, making nothing', async function () {
      const first = await get('?width=100').expect(200);
      const second = await get('?width=100').expect(200);
      assert.equal(second.headers.etag, first.headers.etag);
      assert.deepEqual(bodyOf(second), bodyOf(first));
      assert.deepEqual(store.writes, ['100x75']);
    });

    it('makes one thumbnail for 50 concurrent requests of a missing width, and answers them all', async function () {
      const responses = await Promise.all(Array.from({ length: 50 }, () => get('?width=400')));
      assert.deepEqual(new Set(responses.map((r) => r.status)), new Set([200]));
      assert.equal(new Set(responses.map((r) => r.headers.etag)).size, 1);
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
      assert.equal(
        res.body.message,
        'Expected one of 50, 100, 200, 400, 800 for width but received "1000" of type string',
      );
      const twice = await request(app).get(`/users/${ann.id}/picture?width=100&width=200`);
      assert.equal(
        twice.body.message,
        'Expected one of 50, 100, 200, 400, 800 for width but received an array of length 2',
      );
      assert.deepEqual(store.writes, []);
    });

    it('answers with the original without a width, and for a width not smaller than it', async function () {
      assert.equal(await widthOf(await get('').expect(200)), 800);
      assert.equal(await widthOf(await get('?width=800').expect(200)), 800);
      assert.deepEqual(store.writes, []);
    });

    it('answers 404 when there is no owner, no original, or no file', async function () {
      const nobody = await request(app).get('/users/999999/picture?width=100');
      assert.deepEqual([nobody.status, nobody.body.code], [404, 'ERR_IMAGE_NOT_FOUND']);
      const bob = await User.query().insert({ name: 'Bob' });
      const empty = await request(app).get(`/users/${bob.id}/picture?width=100`);
      assert.deepEqual([empty.status, empty.body.code], [404, 'ERR_IMAGE_NOT_FOUND']);
      await removeDir(path.join(root, 'user-picture'));
      const gone = await request(app).get(`/users/${ann.id}/picture`);
      assert.deepEqual([gone.status, gone.body.code], [404, 'ERR_IMAGE_NOT_FOUND']);
    });

    describe('file answers (the headers of staticServer)', function () {
      it('carry a strong ETag, Last-Modified, Cache-Control, Content-Length and nosniff', async function () {
        const res = await get('?width=200').expect(200);
        assert.match(res.headers.etag!, /^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$/);
        assert.ok(!Number.isNaN(Date.parse(res.headers['last-modified']!)));
        assert.equal(res.headers['cache-control'], 'public, max-age=0');
        assert.equal(res.headers['content-length'], String(bodyOf(res).length));
        assert.equal(res.headers['accept-ranges'], 'bytes');
        assert.equal(res.headers['x-content-type-options'], 'nosniff');
      });

      it('answer 304 to a matching If-None-Match or If-Modified-Since, with the validators and no body', async function () {
        const first = await get('?width=200').expect(200);
        const byTag = await get('?width=200').set('If-None-Match', first.headers.etag!);
        assert.equal(byTag.status, 304);
        assert.equal(byTag.headers.etag, first.headers.etag);
        assert.equal(byTag.headers['cache-control'], 'public, max-age=0');
        assert.equal(bodyOf(byTag).length, 0);
        const byDate = await get('?width=200').set('If-Modified-Since', first.headers['last-modified']!);
        assert.equal(byDate.status, 304);
        assert.equal((await get('?width=200').set('If-None-Match', '"other"')).status, 200);
        assert.deepEqual(store.writes, ['200x150']);
      });

      it('answer HEAD with the headers of a GET and no body, making the thumbnail if need be', async function () {
        const head = await request(app).head(`/users/${ann.id}/picture?width=100`).expect(200);
        assert.equal(head.headers['content-type'], 'image/jpeg');
        assert.ok(Number(head.headers['content-length']) > 0);
        assert.equal(head.text, undefined);
        const full = await get('?width=100').expect(200);
        assert.equal(head.headers.etag, full.headers.etag);
        assert.equal(head.headers['content-length'], String(bodyOf(full).length));
      });

      it('answer a Range with a 206', async function () {
        const full = await get('?width=200').expect(200);
        const part = await get('?width=200').set('Range', 'bytes=0-9').expect(206);
        assert.equal(part.headers['content-range'], `bytes 0-9/${bodyOf(full).length}`);
        assert.deepEqual(bodyOf(part), bodyOf(full).subarray(0, 10));
      });

      it('change validators when the picture is replaced, so a revalidating browser gets the new one', async function () {
        const before = await get('?width=100').expect(200);
        // Another picture of the same size: its 100-wide thumbnail has the same path, new bytes.
        const replacement = await jpeg(800, 600);
        await withStore(store, () => imageSet(ann, 'picture').fromBlob(replacement));
        const after = await get('?width=100').set('If-None-Match', before.headers.etag!);
        assert.equal(after.status, 200);
        assert.notEqual(after.headers.etag, before.headers.etag);
        assert.notDeepEqual(bodyOf(after), bodyOf(before));
      });

      it('come from memory on repeat requests (cacheStats), and a maxAge option sets Cache-Control', async function () {
        const route = thumbnailRoute({
          widths: [100],
          maxAge: 600,
          store,
          load: async () => imageSet((await User.query().findById(ann.id))!, 'picture'),
        });
        const cached = express().get('/p', route);
        await request(cached).get('/p?width=100').expect(200);
        // Files younger than 2 s are not kept yet (their timestamps may not have ticked): age it.
        const old = new Date(Date.now() - 60_000);
        await utimes(thumbnailFile('100x75'), old, old);
        const first = await request(cached).get('/p?width=100').expect(200);
        const second = await request(cached).get('/p?width=100').expect(200);
        assert.equal(second.headers['cache-control'], 'public, max-age=600');
        assert.equal(second.headers.etag, first.headers.etag);
        assert.equal(route.cacheStats()!.hits, 1);
        assert.equal(thumbnailRoute({ widths: [100], load: () => undefined, cache: false }).cacheStats(), null);
      });
    });

    describe("respondWith: 'redirect'", function () {
      it('redirects to the URL of the image, made once, with no-cache by default', async function () {
        const redirecting = express();
        redirecting.use(storeContext(store));
        redirecting.get(
          '/p',
          thumbnailRoute({
            widths: [200],
            respondWith: 'redirect',
            load: async () => imageSet((await User.query().findById(ann.id))!, 'picture'),
          }),
        );
        const res = await request(redirecting).get('/p?width=200').expect(302);
        assert.match(
          res.headers.location!,
          new RegExp(`^http://img\\.test/user-picture/${ann.id}/0/${ann.id}\\.200x150\\.jpe\\?_ts=\\d{20}$`),
        );
        assert.equal(res.headers['cache-control'], 'no-cache');
        const again = await request(redirecting).get('/p?width=200').expect(302);
        assert.equal(again.headers.location, res.headers.location);
        assert.deepEqual(store.writes, ['200x150']);
      });

      it('uses the status, format, maxAge and store given, and loads an unloaded set itself', async function () {
        const other = express();
        other.get(
          '/p',
          thumbnailRoute({
            widths: [50],
            respondWith: 'redirect',
            status: 303,
            format: 'webp',
            maxAge: 60,
            store,
            load: async () => imageSet((await User.query().findById(ann.id))!, 'picture'),
          }),
        );
        const res = await request(other).get('/p?width=50').expect(303);
        assert.match(res.headers.location!, /\.50x37\.webp\?_ts=/);
        assert.equal(res.headers['cache-control'], 'public, max-age=60');
      });
    });

    describe('queries per request, with an owner made from its id', function () {
      /** The SQL statements that `work` sends. */
      async function statementsOf(work: () => Promise<unknown>): Promise<string[]> {
        const statements: string[] = [];
        const count = (query: { sql: string }) => statements.push(query.sql);
        db().on('query', count);
        try {
          await work();
        } finally {
          db().off('query', count);
        }
        return statements;
      }
      const byId = (options: { widths?: number[]; rowsMaxAgeMs?: number } = {}) =>
        express().get(
          '/u/:id',
          thumbnailRoute({
            widths: [100],
            store,
            ...options,
            load: (req) => imageSet(User.fromJson({ id: Number(req.params.id) }), 'picture'),
          }),
        );

      const selects = (statements: string[]) => statements.filter((sql) => /^\s*select/i.test(sql)).length;
      const inserts = (statements: string[]) => statements.filter((sql) => /^\s*insert/i.test(sql)).length;

      it('reads the set in one query, and not at all for an owner read less than rowsMaxAgeMs ago', async function () {
        const app = byId({ widths: [100, 200] });
        // A fresh owner: its rows, then the thumbnail's transaction (which share-locks the owner,
        // so no replacement can interleave, and reads the rows again, to check).
        const first = await statementsOf(() => request(app).get(`/u/${ann.id}?width=100`).expect(200));
        assert.deepEqual([selects(first), inserts(first)], [3, 1]);
        assert.deepEqual(await statementsOf(() => request(app).get(`/u/${ann.id}?width=100`).expect(200)), []);
        assert.deepEqual(await statementsOf(() => request(app).get(`/u/${ann.id}`).expect(200)), []);
        // A new width soon after: the transaction only.
        const another = await statementsOf(() => request(app).get(`/u/${ann.id}?width=200`).expect(200));
        assert.deepEqual([selects(another), inserts(another)], [2, 1]);
        const everyTime = byId({ widths: [100, 200], rowsMaxAgeMs: 0 });
        assert.equal(
          (await statementsOf(() => request(everyTime).get(`/u/${ann.id}?width=100`).expect(200))).length,
          1,
        );
      });

      it('reads the rows again at once when a file of rows read lately has gone (picture replaced by another size)', async function () {
        const app = byId({ rowsMaxAgeMs: 60_000 });
        const before = await request(app).get(`/u/${ann.id}?width=100`).buffer(true).parse(bytes).expect(200);
        assert.equal((await sharp(bodyOf(before)).metadata()).height, 75);
        // The old set's files are deleted once the replacement commits.
        await withStore(store, async () => imageSet(ann, 'picture').fromBlob(await jpeg(400, 400)));
        const after = await request(app).get(`/u/${ann.id}?width=100`).buffer(true).parse(bytes).expect(200);
        assert.equal((await sharp(bodyOf(after)).metadata()).height, 100);
      });
    });

    it('flattens a transparent original onto its background in JPEG thumbnails', async function () {
      const clear = await User.query().insert({ name: 'Clear' });
      await withStore(store, () => imageSet(clear, 'picture').fromBlob(transparentPng));
      const other = express();
      other.get(
        '/p',
        thumbnailRoute({
          widths: [20],
          format: 'jpeg',
          background: '#00ff00',
          store,
          load: async () => imageSet((await User.query().findById(clear.id))!, 'picture'),
        }),
      );
      await request(other).get('/p?width=20').expect(200).expect('Content-Type', 'image/jpeg');
      const thumbnail = await withStore(store, async () =>
        (await imageSet(clear, 'picture').load()).findThumbnail({ width: 20 }).makeBlob(),
      );
      const [r, g, b] = await sharp(thumbnail).raw().toBuffer();
      assert.ok(r! < 10 && g! > 245 && b! < 10, `${r},${g},${b} is not green`);
    });

    it('validates its options when made, naming them', function () {
      const load = () => undefined;
      assert.throws(
        () => thumbnailRoute({ widths: [], load }),
        (e: unknown) =>
          e instanceof InvalidArgumentError &&
          e.message ===
            'Expected a non-empty array of integers >= 1 for options.widths but received an array of length 0',
      );
      assert.throws(() => thumbnailRoute({ widths: [100, 0.5], load }), { message: /for options\.widths/ });
      assert.throws(() => thumbnailRoute({ widths: [100], load: undefined as never }), {
        message: 'Expected a function (req) => the image set for options.load but received undefined',
      });
      assert.throws(() => thumbnailRoute({ widths: [100], load, status: 301 as never }), {
        message: 'Expected 302, 303 or 307 for options.status but received 301 of type number',
      });
      assert.throws(() => thumbnailRoute({ widths: [100], load, format: 'bmp' as never }), {
        message: /for format but received "bmp"/,
      });
      assert.throws(() => thumbnailRoute({ widths: [100], load, background: 'green' }), {
        message: /for options\.background but received "green"/,
      });
      assert.throws(() => thumbnailRoute({ widths: [100], load, respondWith: 'bytes' as never }), {
        message: 'Expected "file" or "redirect" for options.respondWith but received "bytes" of type string',
      });
      assert.throws(() => thumbnailRoute({ widths: [100], load, maxAge: -1 }), {
        message: 'Expected an integer >= 0 (seconds) for options.maxAge but received -1 of type number',
      });
      assert.throws(() => thumbnailRoute({ widths: [100], load, cache: { maxBytes: 0 } }), {
        message: /for options\.cache\.maxBytes/,
      });
      assert.throws(() => thumbnailRoute({ widths: [100], load, rowsMaxAgeMs: 0.5 }), {
        message: 'Expected an integer >= 0 (milliseconds) for options.rowsMaxAgeMs but received 0.5 of type number',
      });
    });
  }),
);

describe('thumbnailRoute() on a store without local files [sqlite + s3rver]', function () {
  const s3 = useS3Server();
  const sqlite = dialects.find((d) => d.name === 'sqlite')!;
  let knex: Awaited<ReturnType<typeof sqlite.open>>;
  let store: S3Store;
  let ann: User;

  before(async function () {
    knex = await sqlite.open();
    Model.knex(knex);
    await createSchema(knex);
    store = s3.current.store(await s3.current.createBucket('route'));
    ann = await User.query().insert({ name: 'Ann' });
    const bytes = await jpeg(800, 600);
    await withStore(store, () => imageSet(ann, 'picture').fromBlob(bytes));
  });
  after(async function () {
    await sqlite.close(knex);
  });

  const appWith = (options: { respondWith?: 'file' | 'redirect' } = {}) => {
    const app = express();
    app.get(
      '/p',
      thumbnailRoute({
        widths: [100],
        store,
        ...options,
        load: async () => imageSet((await User.query().findById(ann.id))!, 'picture'),
      }),
    );
    app.use((error: any, _req: Request, res: Response, _next: NextFunction) => {
      res.status(error.statusCode ?? 500).json({ code: error.code, message: error.message });
    });
    return app;
  };

  it('redirects by default, to the object made', async function () {
    const res = await request(appWith()).get('/p?width=100').expect(302);
    assert.match(res.headers.location!, new RegExp(`/user-picture/${ann.id}/100x75\\.jpe\\?_ts=\\d{20}$`));
    assert.equal(res.headers['cache-control'], 'no-cache');
  });

  it("answers respondWith: 'file' with a 500 that names the fix", async function () {
    const res = await request(appWith({ respondWith: 'file' }))
      .get('/p?width=100')
      .expect(500);
    assert.equal(res.body.code, 'ERR_INVALID_ARGUMENT');
    assert.match(
      res.body.message,
      /needs a filesystem store, and this S3Store keeps its files elsewhere: use respondWith: 'redirect'/,
    );
  });
});

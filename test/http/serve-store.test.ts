import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import {
  currentStore,
  FileSystemStore,
  HttpExposedFileSystemStore,
  InvalidArgumentError,
  type StoredImage,
} from '../../src/index.js';
import { serveStore, storeContext } from '../../src/express.js';
import { sampleKey } from '../../src/testing.js';
import { httpFsStore } from '../support/fs-store.js';
import { removeDir, tempDir } from '../support/tmp.js';
import { bodyOf, bytes } from './fixtures.js';
import { forEachExpress } from './express-majors.js';

const image: StoredImage = { ...sampleKey, original: true, created_at: new Date('2024-03-05T06:07:08.123Z') };
const TS = '?_ts=20240305060708123000';
const LAYOUT = '__images__/testing/234/1/1234.405x640.jpe';

forEachExpress('serveStore(store)', function (express) {
  let root: string;
  let store: HttpExposedFileSystemStore;
  let cleanup: () => Promise<void>;
  let jpeg: Buffer;

  before(async function () {
    ({ store, dir: root, cleanup } = await httpFsStore('serve-store', { trustHostHeader: true }));
    jpeg = randomBytes(150_000);
    await store.store(image, jpeg);
  });
  after(async function () {
    await cleanup();
  });

  /** An app that serves the store and has a route answering with locate(image). */
  function appFor(target: HttpExposedFileSystemStore, configure: (app: ReturnType<typeof express>) => void = () => {}) {
    const app = express();
    configure(app);
    app.use(serveStore(target));
    app.get('/page', (_req, res) => {
      res.send(target.locate(image));
    });
    return app;
  }

  describe('serving', function () {
    it("serves the store's files under /<prefix>/, with the static server's headers", async function () {
      const res = await request(appFor(store)).get(`/${LAYOUT}`).buffer(true).parse(bytes);
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'image/jpeg');
      assert.equal(res.headers['accept-ranges'], 'bytes');
      assert.deepEqual(bodyOf(res), jpeg);
    });
    it('serves the URL locate() gives, query and all', async function () {
      const app = appFor(store);
      const url = new URL((await request(app).get('/page')).text);
      const res = await request(app)
        .get(url.pathname + url.search)
        .buffer(true)
        .parse(bytes);
      assert.deepEqual(bodyOf(res), jpeg);
    });
    it('honours a custom prefix and passes the static server options on', async function () {
      const custom = new HttpExposedFileSystemStore({ path: root, prefix: 'static/img' });
      const app = express();
      app.use(serveStore(custom, { maxAge: 3600, immutable: true }));
      const res = await request(app).get('/static/img/testing/234/1/1234.405x640.jpe');
      assert.equal(res.status, 200);
      assert.equal(res.headers['cache-control'], 'public, max-age=3600, immutable');
      assert.equal((await request(app).get(`/${LAYOUT}`)).status, 404);
    });
    it('answers ranges', async function () {
      const res = await request(appFor(store)).get(`/${LAYOUT}`).set('Range', 'bytes=-100').buffer(true).parse(bytes);
      assert.equal(res.status, 206);
      assert.deepEqual(bodyOf(res), jpeg.subarray(jpeg.length - 100));
    });
    it('passes missing files and other paths on to the next handler', async function () {
      const app = appFor(store);
      app.use((_req, res) => {
        res.status(418).end();
      });
      assert.equal((await request(app).get('/__images__/testing/1/0/1.1x1.jpe')).status, 418);
      assert.equal((await request(app).get('/elsewhere')).status, 418);
    });
    it("reports its content cache's figures with cacheStats(), as documented", async function () {
      const middleware = serveStore(store);
      const app = express();
      app.use(middleware);
      assert.deepEqual(middleware.cacheStats(), { entries: 0, bytes: 0, hits: 0, misses: 0 });
      await request(app).get(`/${LAYOUT}`).expect(200);
      assert.equal(middleware.cacheStats()!.misses, 1);
      assert.equal(serveStore(store, { cache: false }).cacheStats(), null);
    });
    it('checks its options when called', function () {
      assert.throws(
        () => serveStore(store, { blockSize: 0 }),
        (error: unknown) => error instanceof InvalidArgumentError && error.argument === 'options.blockSize',
      );
    });
    it('refuses a store that is not an HttpExposedFileSystemStore, naming it', function () {
      const other = new FileSystemStore({ path: root, baseUrl: 'https://img.example/' });
      assert.throws(
        () => serveStore(other as unknown as HttpExposedFileSystemStore),
        (error: unknown) =>
          error instanceof InvalidArgumentError &&
          error.argument === 'store' &&
          /HttpExposedFileSystemStore/.test(error.message),
      );
    });
  });

  describe("the request's origin", function () {
    it('gives locate() in later handlers the host each request came to', async function () {
      const app = appFor(store);
      const a = await request(app).get('/page').set('Host', 'a.example:8080');
      const b = await request(app).get('/page').set('Host', 'b.example');
      assert.equal(a.text, `http://a.example:8080/${LAYOUT}${TS}`);
      assert.equal(b.text, `http://b.example/${LAYOUT}${TS}`);
    });
    it('holds in a handler reached after a missing file fell through (after the disk was asked)', async function () {
      const app = express();
      app.use(serveStore(store));
      app.use((_req, res) => {
        res.status(404).send(store.locate(image));
      });
      const res = await request(app).get('/__images__/testing/1/0/1.1x1.jpe').set('Host', 'd.example');
      assert.equal(res.status, 404);
      assert.equal(res.text, `http://d.example/${LAYOUT}${TS}`);
    });
    it("honours Express's trust proxy for X-Forwarded-Proto and -Host", async function () {
      const trusting = appFor(store, (app) => app.set('trust proxy', true));
      const res = await request(trusting)
        .get('/page')
        .set('X-Forwarded-Proto', 'https')
        .set('X-Forwarded-Host', 'cdn.example');
      assert.equal(res.text, `https://cdn.example/${LAYOUT}${TS}`);
      // The port too, on both majors (Express 4's req.hostname would drop it), and the first of a list.
      const ported = await request(trusting).get('/page').set('X-Forwarded-Host', 'cdn.example:8443, inner.example');
      assert.equal(ported.text, `http://cdn.example:8443/${LAYOUT}${TS}`);
      // A proxy the setting does not trust is not believed.
      const other = appFor(store, (app) => app.set('trust proxy', '10.0.0.1'));
      assert.equal(
        (await request(other).get('/page').set('Host', 'real.example').set('X-Forwarded-Host', 'evil.example')).text,
        `http://real.example/${LAYOUT}${TS}`,
      );
    });
    it('ignores forwarded headers without trust proxy', async function () {
      const res = await request(appFor(store))
        .get('/page')
        .set('Host', 'real.example')
        .set('X-Forwarded-Proto', 'https')
        .set('X-Forwarded-Host', 'evil.example');
      assert.equal(res.text, `http://real.example/${LAYOUT}${TS}`);
    });
    it('keeps 100 concurrent requests to different hosts apart, across awaits', async function () {
      const app = express();
      app.use(serveStore(store));
      app.get('/slow', async (req, res) => {
        await sleep(Number(req.query.delay));
        res.send(store.locate(image));
      });
      const server = app.listen(0);
      try {
        const answers = await Promise.all(
          Array.from({ length: 100 }, (_, i) =>
            request(server)
              .get(`/slow?delay=${(i * 7) % 11}`)
              .set('Host', `host${i}.example`)
              .then((res) => [i, res.text] as const),
          ),
        );
        for (const [i, text] of answers) assert.equal(text, `http://host${i}.example/${LAYOUT}${TS}`);
      } finally {
        server.close();
      }
    });
    it('lets a fixed hostUrl win over the request', async function () {
      const fixed = new HttpExposedFileSystemStore({ path: root, hostUrl: 'https://img.example' });
      const res = await request(appFor(fixed)).get('/page').set('Host', 'a.example');
      assert.equal(res.text, `https://img.example/${LAYOUT}${TS}`);
    });
    it('works with storeContext(store) and currentStore', async function () {
      const app = express();
      app.use(serveStore(store));
      app.use(storeContext(store));
      app.get('/page', (_req, res) => {
        res.send(currentStore.locate(image));
      });
      assert.equal((await request(app).get('/page').set('Host', 'c.example')).text, `http://c.example/${LAYOUT}${TS}`);
    });
  });
});

forEachExpress('serveStore(store) and an untrusted Host header', function (express) {
  let root: string;
  beforeEach(async () => (root = await tempDir('serve-store-host')));
  afterEach(() => removeDir(root));

  it('never puts a Host header it was not told to trust into image URLs', async function () {
    const app = express();
    const store = new HttpExposedFileSystemStore({ path: root });
    app.use(serveStore(store));
    app.get('/page', (_req, res) => {
      res.send(store.locate(image));
    });
    const res = await request(app).get('/page').set('Host', 'evil.example');
    assert.equal(res.text, `/${LAYOUT}${TS}`);
    const trusting = express();
    trusting.set('trust proxy', true);
    trusting.use(serveStore(store));
    trusting.get('/page', (_req, res) => {
      res.send(store.locate(image));
    });
    const forwarded = await request(trusting).get('/page').set('X-Forwarded-Host', 'evil.example');
    assert.equal(forwarded.text, `/${LAYOUT}${TS}`);
  });

  it('puts only the checked host into URLs when the Host header carries more (allowedHosts)', async function () {
    const app = express();
    const store = new HttpExposedFileSystemStore({ path: root, allowedHosts: ['images.example.com'] });
    app.use(serveStore(store));
    app.get('/page', (_req, res) => {
      res.send(store.locate(image));
    });
    const res = await request(app).get('/page').set('Host', 'images.example.com/"onerror="alert(1)');
    assert.equal(res.text, `http://images.example.com/${LAYOUT}${TS}`);
  });
});

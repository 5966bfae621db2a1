/**
 * Private images on the filesystem: an `HttpExposedFileSystemStore` with `signedUrls` gives
 * URLs with an expiring HMAC signature, and `serveStore()` serves nothing without a valid one.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import {
  FileSystemStore,
  HttpExposedFileSystemStore,
  InvalidArgumentError,
  type StoredImage,
} from '../../src/index.js';
import { imageErrors, serveStore, staticServer } from '../../src/express.js';
import { sampleKey } from '../../src/testing.js';
import { UrlSigner } from '../../src/stores/url-signer.js';
import { httpFsStore } from '../support/fs-store.js';
import { bodyOf, bytes } from './fixtures.js';
import { forEachExpress } from './express-majors.js';

const SECRET = 'a-secret-of-more-than-32-bytes-for-the-tests';
const OLD_SECRET = 'the-secret-of-last-month-also-32-bytes-long';
const image: StoredImage = { ...sampleKey, original: true, created_at: new Date('2024-03-05T06:07:08.123Z') };
const other: StoredImage = { ...image, width: 100, height: 158 };

forEachExpress('private images: serveStore() of a store with signedUrls', function (express) {
  let store: HttpExposedFileSystemStore;
  let cleanup: () => Promise<void>;
  let root: string;
  const jpeg = randomBytes(20_000);

  before(async function () {
    ({ store, dir: root, cleanup } = await httpFsStore('private-urls', { signedUrls: { secrets: [SECRET] } }));
    await store.store(image, jpeg);
    await store.store(other, randomBytes(1000));
  });
  after(() => cleanup());

  function appFor(target: HttpExposedFileSystemStore) {
    const app = express();
    app.use(serveStore(target));
    app.use(imageErrors());
    return app;
  }

  it('serves the URL locate() gives (signature, expiry and _ts in its query)', async function () {
    const url = store.locate(image);
    assert.match(url, /^\/__images__\/testing\/234\/1\/1234\.405x640\.jpe\?exp=\d+&sig=[\w-]{43}&_ts=\d{20}$/);
    const res = await request(appFor(store)).get(url).buffer(true).parse(bytes);
    assert.equal(res.status, 200);
    assert.deepEqual(bodyOf(res), jpeg);
  });

  it('answers 403 without a signature, with a wrong one, or with another file’s, naming no path', async function () {
    const app = appFor(store);
    const signed = new URL(store.locate(image), 'http://x');
    const otherSigned = new URL(store.locate(other), 'http://x');
    const attempts = [
      signed.pathname,
      `${signed.pathname}?exp=${signed.searchParams.get('exp')}`,
      `${signed.pathname}?exp=${signed.searchParams.get('exp')}&sig=${'A'.repeat(43)}`,
      // Another image's signature, with its expiry.
      `${signed.pathname}${otherSigned.search}`,
      // A later expiry with the same signature.
      `${signed.pathname}?exp=${Number(signed.searchParams.get('exp')) + 300}&sig=${signed.searchParams.get('sig')}`,
      // The same file by another spelling of its path.
      `${signed.pathname.replace('1234.', '%31234.')}${signed.search}`,
    ];
    for (const attempt of attempts) {
      const res = await request(app).get(attempt).set('Accept', 'application/json');
      assert.equal(res.status, 403, attempt);
      assert.equal(res.body.error.code, 'ERR_URL_SIGNATURE_INVALID');
      assert.doesNotMatch(res.text, /1234|testing/);
    }
  });

  it('answers 410 once the signature has expired', async function () {
    const signer = new UrlSigner({ secrets: [SECRET] });
    const path = new URL(store.locate(image), 'http://x').pathname;
    const old = signer.sign(path, Date.now() - 2 * 3600 * 1000);
    const res = await request(appFor(store)).get(`${path}?${old}`).set('Accept', 'application/json');
    assert.equal(res.status, 410);
    assert.equal(res.body.error.code, 'ERR_URL_EXPIRED');
  });

  it('accepts URLs signed with any of its secrets and signs with the first (rotation)', async function () {
    const before = new HttpExposedFileSystemStore({ path: root, signedUrls: { secrets: [OLD_SECRET] } });
    const rotated = new HttpExposedFileSystemStore({ path: root, signedUrls: { secrets: [SECRET, OLD_SECRET] } });
    const retired = new HttpExposedFileSystemStore({ path: root, signedUrls: { secrets: [SECRET] } });
    const oldUrl = before.locate(image);
    assert.equal((await request(appFor(rotated)).get(oldUrl)).status, 200);
    assert.equal((await request(appFor(retired)).get(oldUrl)).status, 403);
    assert.equal(new URL(rotated.locate(image), 'http://x').search, new URL(retired.locate(image), 'http://x').search);
  });

  it("binds a variant output's URL to that output: its signature opens no other output", async function () {
    const avatar = { ...image, objectType: 'testing.avatar.0123456789ab', width: 96, height: 96 };
    const avatarWebp = { ...avatar, objectType: 'testing.avatar.ba9876543210', mimetype: 'image/webp' };
    await store.store(avatar, randomBytes(500));
    await store.store(avatarWebp, randomBytes(400));
    const app = appFor(store);
    assert.equal((await request(app).get(store.locate(avatar))).status, 200);
    const signed = new URL(store.locate(avatar), 'http://x');
    const webpPath = new URL(store.locate(avatarWebp), 'http://x').pathname;
    assert.equal((await request(app).get(webpPath + signed.search)).status, 403);
  });

  it('leaves requests outside its prefix to the next handlers', async function () {
    const app = express();
    app.use(serveStore(store));
    app.get('/page', (_req, res) => res.send('page'));
    assert.equal((await request(app).get('/page')).text, 'page');
  });

  it('gives the same URL for a whole window, so browsers can cache it', function () {
    const signer = new UrlSigner({ secrets: [SECRET], expiresIn: 3600, window: 600 });
    const start = Math.ceil(Date.now() / 600_000) * 600_000;
    const first = signer.sign('/a', start + 1000);
    assert.equal(signer.sign('/a', start + 599_000), first);
    assert.notEqual(signer.sign('/a', start + 601_000), first);
    const expires = Number(/exp=(\d+)/.exec(first)![1]) * 1000;
    assert.ok(expires - (start + 1000) >= 3600_000 && expires - (start + 599_000) <= 3600_000 + 600_000);
  });
});

forEachExpress(
  'private images: a FileSystemStore with signedUrls and staticServer({ signedUrls })',
  function (express) {
    let store: FileSystemStore;
    let cleanup: () => Promise<void>;
    let root: string;
    const signedUrls = { secrets: [SECRET] };

    before(async function () {
      ({ dir: root, cleanup } = await httpFsStore('private-static'));
      store = new FileSystemStore({ path: root, baseUrl: 'https://static.example.com/images/', signedUrls });
      await store.store(image, randomBytes(300));
    });
    after(() => cleanup());

    it('serves the path of the URL locate() gives, and refuses it unsigned or tampered with', async function () {
      const app = express();
      app.use(staticServer({ root, prefix: '/images', signedUrls }));
      app.use(imageErrors());
      const url = new URL(store.locate(image));
      assert.equal(url.origin, 'https://static.example.com');
      assert.equal((await request(app).get(url.pathname + url.search)).status, 200);
      assert.equal((await request(app).get(url.pathname)).status, 403);
      const later = url.search.replace(/exp=(\d+)/, (_m, exp) => `exp=${Number(exp) + 1}`);
      assert.equal((await request(app).get(url.pathname + later)).status, 403);
    });

    it('signs nothing and checks nothing without the option', async function () {
      const plain = new FileSystemStore({ path: root, baseUrl: 'https://static.example.com/images/' });
      assert.doesNotMatch(plain.locate(image), /sig=/);
      const app = express();
      app.use(staticServer({ root, prefix: '/images' }));
      assert.equal((await request(app).get(new URL(plain.locate(image)).pathname)).status, 200);
    });
  },
);

describe('signedUrls options', function () {
  it('refuses short secrets, an empty list and a window longer than expiresIn, naming the option', function () {
    const make = (signedUrls: unknown) => () =>
      new HttpExposedFileSystemStore({ path: '/tmp/x', signedUrls: signedUrls as never });
    assert.throws(make({ secrets: ['short'] }), (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError);
      assert.equal(e.argument, 'options.signedUrls.secrets');
      assert.doesNotMatch(e.message, /short/, 'the secret itself is never echoed');
      return true;
    });
    assert.throws(make({ secrets: [] }), { argument: 'options.signedUrls.secrets' });
    assert.throws(make({ secrets: [SECRET], expiresIn: 60, window: 120 }), { argument: 'options.signedUrls.window' });
    assert.throws(make({ secrets: [SECRET], expiresIn: 0 }), { argument: 'options.signedUrls.expiresIn' });
  });
});

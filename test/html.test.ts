import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import express from 'express';
import knexFactory, { type Knex } from 'knex';
import { Model } from 'objection';
import request from 'supertest';
import {
  type ByteRange,
  FileSystemStore,
  HttpExposedFileSystemStore,
  type ImageKey,
  imageSet,
  ImageNotFoundError,
  type ImageSet,
  InvalidArgumentError,
  type PutFileOptions,
  thumbnailDimensions,
  withStore,
} from '../src/index.js';
import { imageHelpers, htmlHelpers, imgTag, pictureTag, srcset, storeContext } from '../src/express.js';
import { type ThumbnailJobData, type ThumbnailQueue, thumbnailQueue } from '../src/queue.js';
import { createSchema, User, UserPicture } from './entity/models.js';
import { disposeQueue, recordingWorker, REDIS_URL, uniqueQueueName } from './queue/support.js';
import { until } from './support/hooked-store.js';
import { jpeg } from './support/images.js';
import { removeDir, tempDir } from './support/tmp.js';

/** A real filesystem store that counts its I/O, so a test can prove rendering does none. */
class CountingStore extends FileSystemStore {
  io = 0;
  override putFile(key: ImageKey, stream: Readable, options: PutFileOptions) {
    this.io++;
    return super.putFile(key, stream, options);
  }
  override getFile(key: ImageKey, range?: ByteRange) {
    this.io++;
    return super.getFile(key, range);
  }
  override statFile(key: ImageKey) {
    this.io++;
    return super.statFile(key);
  }
}

const BASE = 'http://img.example.com/';
/** The URL of user 1's image of that size, without the _ts stamp. */
const url = (size: string, ext = 'jpe') => `${BASE}user-picture/1/0/1.${size}.${ext}`;
const stripTs = (html: string) => html.replace(/\?_ts=\d+/g, '');

describe('HTML helpers', function () {
  let knex: Knex;
  let root: string;
  let store: CountingStore;
  let user: User;
  let set: ImageSet<UserPicture>;
  /** A small JPEG for owners that need one. */
  let jpegBytes: Buffer;

  before(async function () {
    jpegBytes = await jpeg(40, 30);
    knex = knexFactory({
      client: 'better-sqlite3',
      connection: { filename: ':memory:' },
      useNullAsDefault: true,
      pool: { min: 1, max: 1 },
    });
    Model.knex(knex);
    await createSchema(knex);
    root = await tempDir('html');
    store = new CountingStore({ path: root, baseUrl: BASE });
    // An 800×600 JPEG with JPEG thumbnails 100 and 400 wide, a WebP 200 and an AVIF 300 wide.
    user = await User.query().insert({ name: 'Ann' });
    await withStore(store, async () => {
      const s = imageSet(user, 'picture');
      await s.fromBlob(await jpeg(800, 600));
      await s.generateThumbnail({ width: 100 });
      await s.generateThumbnail({ width: 400 });
      await s.generateThumbnail({ width: 200 }, { format: 'webp' });
      await s.generateThumbnail({ width: 300 }, { format: 'avif' });
    });
  });
  after(async function () {
    await knex.destroy();
    await removeDir(root);
  });
  beforeEach(async function () {
    user = (await User.query().findById(1).withGraphFetched('picture'))!;
    set = imageSet(user, 'picture');
  });

  const render = <T>(fn: () => T): T => withStore(store, fn);

  describe('imgTag', function () {
    it('of an image: its URL, its own size, and the alt text', function () {
      const html = render(() => imgTag(set.findThumbnail({ width: 100 }), { alt: 'Ann' }));
      assert.match(
        html,
        /^<img src="http:\/\/img\.example\.com\/user-picture\/1\/0\/1\.100x75\.jpe\?_ts=\d{20}" width="100" height="75" alt="Ann">$/,
      );
    });

    it('picks the thumbnail exactly as wide as asked', function () {
      assert.equal(
        stripTs(render(() => imgTag(set, { width: 400, alt: '' }))),
        `<img src="${url('400x300')}" width="400" height="300" alt="">`,
      );
    });

    it('else the narrowest wider one, scaled down by the attributes', function () {
      assert.equal(
        stripTs(render(() => imgTag(set, { width: 150, alt: '' }))),
        `<img src="${url('400x300')}" width="150" height="112" alt="">`,
      );
    });

    it('else the original, scaled up by the attributes', function () {
      assert.equal(
        stripTs(render(() => imgTag(set, { width: 1000, alt: '' }))),
        `<img src="${url('800x600')}" width="1000" height="750" alt="">`,
      );
    });

    it('by height when only a height is asked', function () {
      assert.equal(
        stripTs(render(() => imgTag(set, { height: 75, alt: '' }))),
        `<img src="${url('100x75')}" width="100" height="75" alt="">`,
      );
    });

    it('the original at its own size when no size is asked', function () {
      assert.equal(
        stripTs(render(() => imgTag(set, { alt: '' }))),
        `<img src="${url('800x600')}" width="800" height="600" alt="">`,
      );
    });

    it('never picks a WebP or AVIF thumbnail for a plain <img> of a JPEG', function () {
      // 200 (WebP) and 300 (AVIF) are nearer to 180 than 400 is, but not every browser shows them.
      assert.match(
        render(() => imgTag(set, { width: 180, alt: '' })),
        /1\.400x300\.jpe/,
      );
    });

    it('adds a srcset of the JPEG widths when sizes is given', function () {
      const html = stripTs(render(() => imgTag(set, { width: 100, alt: '', sizes: '(max-width: 600px) 50vw, 100px' })));
      assert.equal(
        html,
        `<img src="${url('100x75')}" srcset="${url('100x75')} 100w, ${url('400x300')} 400w, ${url('800x600')} 800w" ` +
          `sizes="(max-width: 600px) 50vw, 100px" width="100" height="75" alt="">`,
      );
    });

    it('emits class, loading and extra attributes, escaping every value', function () {
      const html = render(() =>
        imgTag(set, {
          width: 100,
          alt: 'Ann "<script>" & co\'s',
          class: 'a"b',
          loading: 'lazy',
          attributes: { 'data-id': '<1>', hidden: true, title: undefined },
        }),
      );
      assert.match(
        html,
        / alt="Ann &quot;&lt;script&gt;&quot; &amp; co&#39;s" class="a&quot;b" loading="lazy" data-id="&lt;1&gt;" hidden>$/,
      );
    });

    it('refuses extra attributes that would replace its own (src, in any case)', function () {
      for (const attributes of [{ src: 'javascript:alert(1)' }, { SRC: 'javascript:alert(1)' }, { alt: 'y' }]) {
        assert.throws(
          () => render(() => imgTag(set, { width: 100, alt: 'x', attributes })),
          (e: unknown) =>
            e instanceof InvalidArgumentError && /for options\.attributes but received "(src|SRC|alt)"/.test(e.message),
        );
      }
    });
    it('refuses an extra srcset when it sets none (it would re-point the image), and event handlers', function () {
      const evil = { srcset: 'https://evil.example/other.jpe 1x' };
      assert.throws(() => render(() => imgTag(set, { width: 100, alt: 'x', attributes: evil })), {
        message: /other than src and srcset, which the helper chooses .* but received "srcset"/,
      });
      assert.throws(() => render(() => set.findThumbnail({ width: 100 }).toHTML({ attributes: evil })), {
        message: /other than src and srcset/,
      });
      assert.throws(() => render(() => imgTag(set, { width: 100, alt: 'x', attributes: { onerror: 'alert(1)' } })), {
        message: /event handlers \(on…\) for options\.attributes but received "onerror"/,
      });
    });
    it('lets extra attributes set what it leaves unset', function () {
      assert.match(
        render(() => imgTag(set, { width: 100, alt: 'x', attributes: { class: 'c' } })),
        / class="c">$/,
      );
    });

    it('rejects bad options, naming them', function () {
      const call = (options: object) => () => render(() => imgTag(set, options as never));
      assert.throws(
        call({}),
        (e: unknown) =>
          e instanceof InvalidArgumentError &&
          e.message === "Expected a string (use '' for a decorative image) for options.alt but received undefined",
      );
      assert.throws(call({ alt: '', width: 0 }), {
        message: 'Expected an integer >= 1 for options.width but received 0 of type number',
      });
      assert.throws(call({ alt: '', loading: 'soon' }), {
        message: `Expected "lazy" or "eager" for options.loading but received "soon" of type string`,
      });
      assert.throws(call({ alt: '', attributes: { 'onload="x"': 1 } }), {
        message: /for options\.attributes but received "onload=\\"x\\"" of type string/,
      });
      assert.throws(() => imgTag(undefined as never, { alt: '' }), {
        message: 'Expected an image (a row of an Image model) or an ImageSet for source but received undefined',
      });
    });

    it('throws ImageNotFoundError for a set with no original', async function () {
      const nobody = await User.query().insert({ name: 'Bob' });
      await nobody.$fetchGraph('picture');
      assert.throws(() => render(() => imgTag(imageSet(nobody, 'picture'), { alt: '' })), ImageNotFoundError);
    });

    it('asks for the relation to be loaded rather than querying', async function () {
      const unloaded = (await User.query().findById(1))!;
      assert.throws(() => render(() => imgTag(imageSet(unloaded, 'picture'), { alt: '' })), {
        code: 'ERR_IMAGE_SET_NOT_LOADED',
      });
    });
  });

  describe('srcset', function () {
    it('lists the <img> types by width, narrowest first', function () {
      assert.equal(
        stripTs(render(() => srcset(set))),
        `${url('100x75')} 100w, ${url('400x300')} 400w, ${url('800x600')} 800w`,
      );
    });

    it("percent-encodes whitespace and commas of a store's URLs, which would split srcset's entries", function () {
      class OddStore extends FileSystemStore {
        override getUrl(key: ImageKey) {
          return super.getUrl(key).replace('user-picture', 'user\tpic\nture, x');
        }
      }
      const odd = new OddStore({ path: root, baseUrl: BASE });
      const value = stripTs(withStore(odd, () => srcset(set)));
      assert.equal(value.split(', ')[0], `${BASE}user%09pic%0Ature%2C%20x/1/0/1.100x75.jpe 100w`);
    });

    it('lists one type when asked', function () {
      assert.equal(stripTs(render(() => srcset(set, { type: 'image/webp' }))), `${url('200x150', 'webp')} 200w`);
    });
  });

  describe('pictureTag', function () {
    it('puts an AVIF source, then a WebP one, before the <img>', function () {
      const html = stripTs(render(() => pictureTag(set, { width: 400, alt: 'Ann' })));
      assert.equal(
        html,
        '<picture>' +
          `<source type="image/avif" srcset="${url('300x225', 'avif')} 300w" sizes="400px">` +
          `<source type="image/webp" srcset="${url('200x150', 'webp')} 200w" sizes="400px">` +
          `<img src="${url('400x300')}" srcset="${url('100x75')} 100w, ${url('400x300')} 400w, ${url('800x600')} 800w" sizes="400px" width="400" height="300" alt="Ann">` +
          '</picture>',
      );
    });

    it('has no <source> when the set has no AVIF or WebP images', async function () {
      const bob = await User.query().insert({ name: 'Bob' });
      await withStore(store, () => imageSet(bob, 'picture').fromBlob(Buffer.from(jpegBytes)));
      await bob.$fetchGraph('picture');
      const html = render(() => pictureTag(imageSet(bob, 'picture'), { alt: '' }));
      assert.match(
        html,
        /^<picture><img src="[^"]+" srcset="[^"]+ 40w" sizes="40px" width="40" height="30" alt=""><\/picture>$/,
      );
    });
  });

  describe('rendering cost', function () {
    it('renders a page of owners with no query and no store I/O', async function () {
      for (let i = 0; i < 5; i++) {
        const u = await User.query().insert({ name: `u${i}` });
        await withStore(store, () => imageSet(u, 'picture').fromBlob(Buffer.from(jpegBytes)));
      }
      const users = await User.query().withGraphFetched('picture').orderBy('id');
      let queries = 0;
      const count = () => queries++;
      knex.on('query', count);
      const ioBefore = store.io;
      try {
        const html = render(() =>
          users
            .filter((u) => imageSet(u, 'picture').original)
            .map(
              (u) =>
                imgTag(imageSet(u, 'picture'), { width: 100, alt: u.name }) +
                pictureTag(imageSet(u, 'picture'), { width: 40, alt: '' }),
            )
            .join('\n'),
        );
        assert.equal(html.split('\n').length, users.length - 1); // Bob from an earlier test has none
      } finally {
        knex.off('query', count);
      }
      assert.equal(queries, 0);
      assert.equal(store.io, ioBefore);
    });
  });

  describe('while a thumbnail is not ready', function () {
    let queue: ThumbnailQueue | undefined;
    afterEach(async function () {
      await disposeQueue(queue);
      queue = undefined;
    });

    /** A new user with an 800×601 original (601: truncation shows), and the thumbnails asked. */
    async function ownerWith(widths: number[]): Promise<User> {
      const owner = await User.query().insert({ name: 'Cy' });
      await withStore(store, async () => {
        const s = imageSet(owner, 'picture');
        await s.fromBlob(await jpeg(800, 601));
        for (const width of widths) await s.generateThumbnail({ width });
      });
      return (await User.query().findById(owner.id).withGraphFetched('picture'))!;
    }
    const srcOf = (html: string) => /src="([^"]+)"/.exec(html)![1]!;
    /** `fn`'s result, asserting it ran no query and no store I/O. */
    function renderWithoutIO<T>(fn: () => T): T {
      let queries = 0;
      const count = () => queries++;
      const ioBefore = store.io;
      knex.on('query', count);
      try {
        return render(fn);
      } finally {
        knex.off('query', count);
        assert.equal(queries, 0, 'queries while rendering');
        assert.equal(store.io, ioBefore, 'store I/O while rendering');
      }
    }

    it('shows the original at the size the pending thumbnail will have, with no query and no store I/O', async function () {
      const owner = await ownerWith([]);
      queue = thumbnailQueue({
        connection: REDIS_URL,
        queueName: uniqueQueueName('html'),
        models: { User },
        stores: { default: store },
      });
      const [queued] = await queue.enqueue(owner, 'picture', [{ width: 100 }]);
      assert.equal(queued!.status, 'queued');
      const pending = imageSet(owner, 'picture');
      const original = render(() => pending.original!.locate());
      const img = renderWithoutIO(() => imgTag(pending, { width: 100, alt: '' }));
      assert.equal(img, `<img src="${original}" width="100" height="75" alt="">`);
      const picture = renderWithoutIO(() => pictureTag(pending, { width: 100, alt: '' }));
      assert.equal(
        picture,
        `<picture><img src="${original}" srcset="${original} 800w" sizes="100px" width="100" height="75" alt=""></picture>`,
      );
    });

    it('puts the thumbnail in its place once a worker has made it, with the same attributes', async function () {
      const owner = await ownerWith([]);
      queue = thumbnailQueue({
        connection: REDIS_URL,
        queueName: uniqueQueueName('html'),
        models: { User },
        stores: { default: store },
      });
      await queue.enqueue(owner, 'picture', [{ width: 100 }]);
      const before = render(() => imgTag(imageSet(owner, 'picture'), { width: 100, alt: '' }));
      await (await recordingWorker(queue)).completions(1);
      await owner.$fetchGraph('picture');
      const after = render(() => imgTag(imageSet(owner, 'picture'), { width: 100, alt: '' }));
      assert.match(srcOf(before), /\.800x601\.jpe\?/);
      assert.match(srcOf(after), /\.100x75\.jpe\?/);
      assert.equal(after.replace(srcOf(after), ''), before.replace(srcOf(before), ''));
    });

    it("lets a wider thumbnail stand in, drawn at the missing thumbnail's size, not its own aspect", async function () {
      // 450 wide is 450×338; 410 wide will be 410×308 (trunc(601 × (410 / 800))), where 338's
      // aspect would give 307: the page would move by a pixel when the real one arrived.
      const owner = await ownerWith([450]);
      const html = renderWithoutIO(() => imgTag(imageSet(owner, 'picture'), { width: 410, alt: '' }));
      assert.match(srcOf(html), /\.450x338\.jpe\?/);
      assert.deepEqual(thumbnailDimensions(800, 601, { width: 410 }), { width: 410, height: 308 });
      assert.match(html, / width="410" height="308" /);
    });

    describe('helpers given a queue', function () {
      /** The queue, recording what the helpers asked of it. */
      function recordingQueue(q: ThumbnailQueue) {
        const calls: unknown[][] = [];
        const results: Promise<unknown>[] = [];
        const enqueue = (...args: Parameters<ThumbnailQueue['enqueue']>) => {
          calls.push(args);
          const result = q.enqueue(...args);
          results.push(result.catch(() => undefined));
          return result;
        };
        return { calls, enqueue, settled: () => Promise.all(results) };
      }

      it('queue the missing thumbnail a tag asked for, once however many pages ask', async function () {
        const owner = await ownerWith([]);
        queue = thumbnailQueue({
          connection: REDIS_URL,
          queueName: uniqueQueueName('html'),
          models: { User },
          stores: { default: store },
        });
        const recorder = recordingQueue(queue);
        const errors: Error[] = [];
        const helpers = htmlHelpers({ store, queue: recorder, onEnqueueError: (e) => errors.push(e) });
        const s = imageSet(owner, 'picture');
        const pages = renderWithoutIO(() =>
          [1, 2, 3].map(
            () => helpers.imgTag(s, { width: 100, alt: '' }) + helpers.pictureTag(s, { width: 100, alt: '' }),
          ),
        );
        assert.match(srcOf(pages[0]!), /\.800x601\.jpe\?/);
        assert.equal(recorder.calls.length, 6);
        assert.deepEqual(recorder.calls[0]!.slice(1), ['picture', [{ width: 100 }], { subset: {}, store }]);
        const bull = await queue.bullQueue();
        await recorder.settled();
        assert.deepEqual(
          (await bull.getJobs(['waiting'])).map((job) => (job.data as ThumbnailJobData).size),
          [{ width: 100 }],
        );
        assert.deepEqual(errors, []);
      });

      it('queue nothing for a size the set has, the original size or larger, or a tag of one image', async function () {
        const owner = await ownerWith([450]);
        queue = thumbnailQueue({
          connection: REDIS_URL,
          queueName: uniqueQueueName('html'),
          models: { User },
          stores: { default: store },
        });
        const recorder = recordingQueue(queue);
        const helpers = htmlHelpers({ store, queue: recorder });
        const s = imageSet(owner, 'picture');
        render(() => {
          for (const width of [450, 800, 1600]) helpers.imgTag(s, { width, alt: '' });
          helpers.pictureTag(s, { height: 601, alt: '' });
          helpers.imgTag(s, { alt: '' });
          helpers.imgTag(s.original!, { width: 100, alt: '' });
        });
        assert.equal(recorder.calls.length, 0);
      });

      it('still render when Redis is down, and tell onEnqueueError', async function () {
        const owner = await ownerWith([]);
        const down = thumbnailQueue({
          connection: 'redis://127.0.0.1:1',
          enqueueTimeout: 200,
          models: { User },
          stores: { default: store },
        });
        const errors: Error[] = [];
        try {
          const html = render(() =>
            htmlHelpers({ store, queue: down, onEnqueueError: (e) => errors.push(e) }).imgTag(
              imageSet(owner, 'picture'),
              { width: 100, alt: '' },
            ),
          );
          assert.match(html, / width="100" height="75" alt="">$/);
          await until(() => errors.length === 1, 5_000, 'the enqueue error');
          assert.equal((errors[0] as Error & { code?: string }).code, 'ERR_QUEUE_UNAVAILABLE');
        } finally {
          await down.close();
        }
      });

      it('are given the queue by imageHelpers({ queue }) too', async function () {
        const owner = await ownerWith([]);
        queue = thumbnailQueue({
          connection: REDIS_URL,
          queueName: uniqueQueueName('html'),
          models: { User },
          stores: { default: store },
        });
        const app = express();
        app.use(imageHelpers({ store, queue }));
        app.get('/', (_req, res) => res.send(res.locals.imgTag(imageSet(owner, 'picture'), { width: 200, alt: '' })));
        await request(app)
          .get('/')
          .expect(200)
          .expect(/ width="200" height="150" /);
        const bull = await queue.bullQueue();
        await until(async () => (await bull.getJobCounts('waiting')).waiting === 1, 5_000, 'the job');
      });
    });

    it('never emits the URL of an image the set does not have', async function () {
      const owner = await ownerWith([]);
      const s = imageSet(owner, 'picture');
      const html = renderWithoutIO(() =>
        [50, 100, 400, 799, 800, 1600]
          .map((width) => imgTag(s, { width, alt: '', sizes: `${width}px` }) + pictureTag(s, { width, alt: '' }))
          .join(''),
      );
      const urls = new Set([...html.matchAll(/(?:src|srcset)="([^" ]+)/g)].map((m) => m[1]!));
      assert.deepEqual([...urls], [render(() => s.original!.locate())]);
    });
  });

  describe('imageHelpers()', function () {
    let views: string;
    before(async function () {
      views = await tempDir('views');
      await writeFile(
        path.join(views, 'user.ejs'),
        '<%- imgTag(set, { width: 100, alt: name }) %>|<%= srcset(set) %>|<%- pictureTag(set, { width: 100, alt: name }) %>',
      );
    });
    after(async function () {
      await removeDir(views);
    });

    function appWith(setup: (app: express.Express) => void) {
      const app = express();
      app.set('views', views);
      app.set('view engine', 'ejs');
      setup(app);
      app.get('/', (req, res) => res.render('user', { set, name: 'Ann <3' }));
      return app;
    }

    it('puts the helpers on res.locals for a view engine, with URLs on the request origin', async function () {
      const imageStore = new HttpExposedFileSystemStore({ path: root, trustHostHeader: true });
      const app = appWith((a) => a.use(storeContext(imageStore), imageHelpers()));
      const res = await request(app).get('/').set('Host', 'photos.test:8080').expect(200);
      const [img, list, picture] = res.text.split('|');
      assert.match(
        img!,
        /^<img src="http:\/\/photos\.test:8080\/__images__\/user-picture\/1\/0\/1\.100x75\.jpe\?_ts=\d+" width="100" height="75" alt="Ann &lt;3">$/,
      );
      // <%= %> escapes the srcset value once more, as a template should.
      assert.match(
        list!,
        /^http:\/\/photos\.test:8080\/__images__\/user-picture\/1\/0\/1\.100x75\.jpe\?_ts=\d+ 100w, /,
      );
      assert.match(picture!, /^<picture><source type="image\/avif"/);
    });

    it('binds a given store, and works from app.locals too', async function () {
      const app = appWith((a) => Object.assign(a.locals, htmlHelpers({ store })));
      const res = await request(app).get('/').expect(200);
      assert.match(res.text, /^<img src="http:\/\/img\.example\.com\/user-picture\/1\/0\/1\.100x75\.jpe/);
    });
  });
});

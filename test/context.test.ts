import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import request from 'supertest';
import {
  ContextError,
  currentStore,
  FileSystemStore,
  getCurrentStore,
  HttpExposedFileSystemStore,
  InvalidArgumentError,
  popStoreContext,
  pushStoreContext,
  withStore,
} from '../src/index.js';
import { storeContext } from '../src/express.js';
import { sampleKey } from '../src/testing.js';

const storeA = new FileSystemStore({ path: '/tmp/oia-context-a', baseUrl: 'http://a.example/' });
const storeB = new FileSystemStore({ path: '/tmp/oia-context-b', baseUrl: 'http://b.example/' });

describe('store context', function () {
  describe('withStore', function () {
    it('binds the store for the function and everything it awaits', async function () {
      const seen = await withStore(storeA, async () => {
        await sleep(5);
        await new Promise((resolve) => setImmediate(resolve));
        return getCurrentStore();
      });
      assert.equal(seen, storeA);
    });
    it('nests, and unbinds when it returns', async function () {
      await withStore(storeA, async () => {
        await withStore(storeB, async () => assert.equal(getCurrentStore(), storeB));
        assert.equal(getCurrentStore(), storeA);
      });
      assert.throws(
        () => getCurrentStore(),
        (e: unknown) => e instanceof ContextError && e.code === 'ERR_NO_STORE_CONTEXT',
      );
    });
    it('rejects something that is not a store, naming the argument', function () {
      assert.throws(
        () => withStore({} as never, () => 1),
        (e: unknown) => e instanceof InvalidArgumentError && /for store but received an object/.test(e.message),
      );
    });
  });

  describe('currentStore', function () {
    it('resolves to the bound store at each call', function () {
      assert.equal(
        withStore(storeA, () => currentStore.getUrl(sampleKey)),
        'http://a.example/testing/234/1/1234.405x640.jpe',
      );
      assert.equal(
        withStore(storeB, () => currentStore.getUrl(sampleKey)),
        'http://b.example/testing/234/1/1234.405x640.jpe',
      );
    });
    it('throws ContextError outside any binding', function () {
      assert.throws(() => currentStore.getUrl(sampleKey), ContextError);
    });
  });

  describe('pushStoreContext / popStoreContext', function () {
    it('push and pop like SQLAlchemy-ImageAttach, innermost first', function () {
      pushStoreContext(storeA);
      pushStoreContext(storeB);
      assert.equal(getCurrentStore(), storeB);
      assert.equal(popStoreContext(), storeB);
      assert.equal(getCurrentStore(), storeA);
      assert.equal(popStoreContext(), storeA);
    });
    it('popping an empty stack is a ContextError, not a crash', function () {
      assert.throws(
        () => popStoreContext(),
        (e: unknown) => e instanceof ContextError && e.code === 'ERR_CONTEXT_STACK_EMPTY',
      );
    });
    it('a push inside withStore stays inside it', async function () {
      await withStore(storeA, async () => {
        pushStoreContext(storeB);
        assert.equal(getCurrentStore(), storeB);
      });
      assert.throws(() => popStoreContext(), ContextError);
    });
  });

  describe('storeContext middleware', function () {
    it('keeps 200 interleaved requests on two stores apart, across awaits and timers', async function () {
      const app = express();
      const a = express.Router().use(storeContext(storeA));
      const b = express.Router().use(storeContext(storeB));
      const handler: express.RequestHandler = async (req, res) => {
        const seen: string[] = [];
        seen.push(currentStore.getUrl(sampleKey));
        await sleep(Number(req.query.delay));
        seen.push(currentStore.getUrl(sampleKey));
        await new Promise<void>((resolve) =>
          setTimeout(() => {
            seen.push(getCurrentStore().getUrl(sampleKey));
            resolve();
          }, 1),
        );
        res.json(seen);
      };
      a.get('/', handler);
      b.get('/', handler);
      app.use('/a', a);
      app.use('/b', b);
      const server = app.listen(0);
      try {
        const agent = request(server);
        const results = await Promise.all(
          Array.from({ length: 200 }, (_, i) => {
            const which = i % 2 === 0 ? 'a' : 'b';
            return agent.get(`/${which}/?delay=${(i * 7) % 13}`).then((res) => ({ which, body: res.body as string[] }));
          }),
        );
        for (const { which, body } of results) {
          assert.deepEqual(body, Array(3).fill(`http://${which}.example/testing/234/1/1234.405x640.jpe`));
        }
      } finally {
        server.close();
      }
    });

    it("binds the request's origin for HttpExposedFileSystemStore URLs", async function () {
      const store = new HttpExposedFileSystemStore({ path: '/tmp/oia-context-http', trustHostHeader: true });
      const app = express();
      app.use(storeContext(store));
      app.get('/', (_req, res) => {
        res.send(currentStore.getUrl(sampleKey));
      });
      const res = await request(app).get('/').set('Host', 'pictures.example:8080');
      assert.equal(res.text, 'http://pictures.example:8080/__images__/testing/234/1/1234.405x640.jpe');
    });

    it("honours Express's trust proxy for X-Forwarded-Proto and -Host", async function () {
      const store = new HttpExposedFileSystemStore({ path: '/tmp/oia-context-http', trustHostHeader: true });
      const app = express();
      app.set('trust proxy', true);
      app.use(storeContext(store));
      app.get('/', (_req, res) => {
        res.send(currentStore.getUrl(sampleKey));
      });
      const res = await request(app).get('/').set('X-Forwarded-Proto', 'https').set('X-Forwarded-Host', 'cdn.example');
      assert.equal(res.text, 'https://cdn.example/__images__/testing/234/1/1234.405x640.jpe');
    });
  });
});

/**
 * The middlewares that need no Express run on a bare `http.createServer` with a Connect-style
 * chain (`(req, res, next)`, an error passed to `next` skipping to the error handler).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import path from 'node:path';
import request from 'supertest';
import { HttpExposedFileSystemStore, type StoredImage } from '../../src/index.js';
import { imageUpload, serveStore, staticServer, storeContext } from '../../src/express.js';
import { currentStore } from '../../src/context.js';
import { sampleKey } from '../../src/testing.js';
import { png } from '../support/images.js';
import { listTree, removeDir, tempDir } from '../support/tmp.js';
import { EXPRESS_MAJORS, takeDeprecations } from './express-majors.js';

type Next = (error?: unknown) => void;
type Middleware = (req: IncomingMessage, res: ServerResponse, next: Next) => void;

/** A Connect-style chain on a bare server: the middlewares in order, then 404; an error answers `<status> <code>`. */
function serverOf(...middlewares: Middleware[]): http.Server {
  return http.createServer((req, res) => {
    const run = (index: number, error?: unknown): void => {
      if (error !== undefined) {
        const { statusCode = 500, code } = error as { statusCode?: number; code?: string };
        res.statusCode = statusCode;
        return void res.end(`${statusCode} ${code}`);
      }
      const middleware = middlewares[index];
      if (middleware === undefined) {
        res.statusCode = 404;
        return void res.end('fell through');
      }
      try {
        middleware(req, res, (err?: unknown) => run(index + 1, err));
      } catch (err) {
        run(middlewares.length, err);
      }
    };
    run(0);
  });
}

const image: StoredImage = { ...sampleKey, original: true, created_at: new Date('2024-03-05T06:07:08.123Z') };

describe('on a bare http server, without Express', function () {
  let root: string;
  beforeEach(async function () {
    root = await tempDir('plain-http');
  });
  afterEach(async function () {
    await removeDir(root);
  });

  it('storeContext() and a store middleware serve files and give locate() the Host (forwarded headers ignored)', async function () {
    const store = new HttpExposedFileSystemStore({ path: path.join(root, 'images'), trustHostHeader: true });
    const bytes = randomBytes(5000);
    await store.store(image, bytes);
    const page: Middleware = (req, res, next) => {
      if (req.url !== '/page') return next();
      res.end(currentStore.locate(image));
    };
    const server = serverOf(serveStore(store), storeContext(store), page);
    const url = (
      await request(server).get('/page').set('Host', 'a.example:8080').set('X-Forwarded-Host', 'evil.example')
    ).text;
    assert.match(url, /^http:\/\/a\.example:8080\/__images__\/testing\/.+\?_ts=20240305060708123000$/);
    const served = await request(server).get(new URL(url).pathname).buffer(true);
    assert.equal(served.status, 200);
    assert.equal(served.headers['content-type'], 'image/jpeg');
    assert.equal(Number(served.headers['content-length']), bytes.length);
  });

  it('staticServer() answers files, 304s and ranges, and passes the rest on', async function () {
    await mkdir(path.join(root, 'files'));
    await writeFile(path.join(root, 'files', 'a.png'), Buffer.alloc(1000, 7));
    const server = serverOf(staticServer({ root: path.join(root, 'files'), prefix: 'static' }));
    const first = await request(server).get('/static/a.png');
    assert.deepEqual([first.status, first.headers['content-type']], [200, 'image/png']);
    assert.equal((await request(server).get('/static/a.png').set('If-None-Match', first.headers.etag!)).status, 304);
    assert.equal((await request(server).get('/static/a.png').set('Range', 'bytes=0-9')).status, 206);
    assert.equal((await request(server).get('/static/b.png')).text, 'fell through');
  });

  it('imageUpload() hands the next middleware a checked file, and a refusal to the error handler, leaving no temp file', async function () {
    const tmp = path.join(root, 'tmp');
    let seen: unknown;
    const route: Middleware = (req, res) => {
      const file = (req as IncomingMessage & { file?: Express.Multer.File }).file!;
      seen = [file.mimetype, file.width, file.height];
      res.end('stored');
    };
    const server = serverOf(imageUpload({ field: 'picture', tempDir: tmp }), route);
    assert.equal(
      (
        await request(server)
          .post('/')
          .attach('picture', await png(40, 30), 'a.png')
      ).text,
      'stored',
    );
    assert.deepEqual(seen, ['image/png', 40, 30]);
    assert.equal(
      (await request(server).post('/').attach('picture', Buffer.from('no picture'), 'a.png')).text,
      '415 ERR_IMAGE_UNSUPPORTED_TYPE',
    );
    const deadline = Date.now() + 3000;
    while ((await listTree(tmp)).length > 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(await listTree(tmp), []);
  });
});

describe('the deprecation guard of the Express suites (express-majors.ts)', function () {
  it("sees what Express 4 prints through depd, such as req.host's deprecation", async function () {
    const express4 = EXPRESS_MAJORS.find(({ name }) => name === 'Express 4')!.express;
    const app = express4();
    app.get('/', (req, res) => {
      res.send(String((req as unknown as { host: string }).host));
    });
    takeDeprecations();
    await request(app).get('/').set('Host', 'a.example');
    assert.deepEqual(takeDeprecations(), ['DeprecationError: req.host: Use req.hostname instead']);
  });
});

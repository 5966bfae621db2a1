import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import type { Express, NextFunction, Request, Response } from 'express';
import request from 'supertest';
import { ImageNotFoundError, InvalidArgumentError, InvalidImageError, StoreError } from '../../src/errors.js';
import { imageErrors } from '../../src/http/error-handler.js';
import { imageUpload } from '../../src/http/upload.js';
import { removeDir, tempDir } from '../support/tmp.js';
import { forEachExpress } from './express-majors.js';

forEachExpress('imageErrors()', function (express) {
  this.timeout(10_000);
  let dir: string;
  let server: Server | undefined;
  /** What reached the handler after imageErrors(), if anything. */
  let passedOn: unknown[];
  /** The server side of each connection, to count the bytes it read. */
  let sockets: Socket[];

  async function listen(
    build: (app: Express) => void,
    options: Parameters<typeof imageErrors>[0] = {},
  ): Promise<number> {
    const app = express();
    app.use((req, _res, next) => {
      sockets.push(req.socket);
      next();
    });
    build(app);
    app.use(imageErrors(options));
    app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
      passedOn.push(error);
      res.status(599).end('passed on');
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server!.once('listening', resolve));
    return (server.address() as AddressInfo).port;
  }

  beforeEach(async function () {
    dir = await tempDir('error-handler');
    passedOn = [];
    sockets = [];
  });
  afterEach(async function () {
    server?.closeAllConnections();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
    await removeDir(dir);
  });

  const upload = (app: Express) =>
    app.post('/upload', imageUpload({ field: 'picture', tempDir: dir, maxBytes: 50_000 }), (_req, res) => {
      res.end('stored');
    });

  it('answers a refused upload with its status and message as text by default', async function () {
    await listen(upload);
    const res = await request(server!).post('/upload').attach('picture', Buffer.from('not an image at all'), 'a.png');
    assert.equal(res.status, 415);
    assert.match(res.headers['content-type']!, /^text\/plain; charset=utf-8/);
    assert.match(res.text, /^Expected an image .+\n$/);
    assert.doesNotMatch(res.text, /\bat \/|node_modules|\.ts:\d/);
    assert.deepEqual(passedOn, []);
  });

  it('tells the refusals of an image’s structure in their own words (too many frames or segments, malformed)', async function () {
    const refusals = [
      new InvalidImageError('ERR_IMAGE_TOO_MANY_FRAMES', 'Expected an animation of at most 1000 pixels per byte', {
        statusCode: 413,
      }),
      new InvalidImageError('ERR_IMAGE_TOO_MANY_SEGMENTS', 'Expected at most 100000 marker segments in a JPEG image', {
        statusCode: 413,
      }),
      new InvalidImageError('ERR_IMAGE_MALFORMED', 'Expected a well-formed PNG image but its IEND is missing', {
        statusCode: 400,
      }),
    ];
    await listen((app) => app.get('/refuse/:i', (req, _res, next) => next(refusals[Number(req.params.i)])));
    for (const [i, error] of refusals.entries()) {
      const res = await request(server!).get(`/refuse/${i}`).set('Accept', 'application/json');
      assert.equal(res.status, error.statusCode);
      assert.deepEqual(res.body, { error: { code: error.code, message: error.message } });
    }
    assert.deepEqual(passedOn, []);
  });

  it('answers { error: { code, message } } when the client prefers JSON', async function () {
    await listen(upload);
    const res = await request(server!)
      .post('/upload')
      .set('Accept', 'application/json')
      .attach('picture', Buffer.from('not an image at all'), 'a.png');
    assert.equal(res.status, 415);
    assert.match(res.headers['content-type']!, /^application\/json/);
    assert.equal(res.body.error.code, 'ERR_IMAGE_UNSUPPORTED_TYPE');
    assert.equal(typeof res.body.error.message, 'string');
    assert.deepEqual(Object.keys(res.body.error).sort(), ['code', 'message']);
  });

  it('answers text to a browser (text/html first, */* after)', async function () {
    await listen(upload);
    const res = await request(server!)
      .post('/upload')
      .set('Accept', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8')
      .attach('picture', Buffer.from('not an image at all'), 'a.png');
    assert.equal(res.status, 415);
    assert.match(res.headers['content-type']!, /^text\/plain/);
  });

  it('answers a missing image with 404 and its reason phrase, never the path or key in its message', async function () {
    await listen((app) =>
      app.get('/missing', (_req, _res, next) =>
        next(new ImageNotFoundError(`No image file at ${dir}/user-picture/7/0/7.200x150.jpe in the store`)),
      ),
    );
    const text = await request(server!).get('/missing');
    assert.equal(text.status, 404);
    assert.equal(text.text, 'Not Found\n');
    const json = await request(server!).get('/missing').set('Accept', 'application/json');
    assert.deepEqual(json.body, { error: { code: 'ERR_IMAGE_NOT_FOUND', message: 'Not Found' } });
  });

  it('passes on errors that are not the client’s: other errors, 5xx library errors, and any once the response began', async function () {
    const plain = new Error('boom');
    const store = new StoreError('ERR_STORE_WRITE', 'disk full at /var/data', { statusCode: 500 });
    const late = new InvalidImageError('ERR_IMAGE_TRUNCATED', 'truncated', { statusCode: 400 });
    await listen((app) => {
      app.get('/plain', (_req, _res, next) => next(plain));
      app.get('/store', (_req, _res, next) => next(store));
      app.get('/late', (_req, res, next) => {
        res.writeHead(200);
        res.write('begun');
        next(late);
      });
    });
    assert.equal((await request(server!).get('/plain')).status, 599);
    assert.equal((await request(server!).get('/store')).status, 599);
    await request(server!)
      .get('/late')
      .catch(() => undefined);
    assert.deepEqual(passedOn, [plain, store, late]);
  });

  it('calls onError with each error it answers', async function () {
    const seen: string[] = [];
    await listen(upload, { onError: (error, req) => seen.push(`${error.code} ${req.path}`) });
    await request(server!).post('/upload').attach('picture', Buffer.from('not an image at all'), 'a.png');
    assert.deepEqual(seen, ['ERR_IMAGE_UNSUPPORTED_TYPE /upload']);
  });

  it('refuses a bad option at once', function () {
    assert.throws(
      () => imageErrors({ onError: 'log' as never }),
      (error: unknown) => {
        assert.ok(error instanceof InvalidArgumentError);
        assert.equal(error.message, 'Expected a function for options.onError but received "log" of type string');
        return true;
      },
    );
  });

  it('answers a large upload refused early at once, closing the connection without reading the body', async function () {
    await listen(upload);
    const body = Buffer.alloc(64 * 1024 * 1024);
    const started = Date.now();
    const res = await request(server!)
      .post('/upload')
      .set('Content-Type', 'multipart/form-data; boundary=x')
      .set('Accept', 'application/json')
      .send(body);
    assert.equal(res.status, 413);
    assert.equal(res.body.error.code, 'ERR_IMAGE_TOO_LARGE');
    assert.equal(res.headers.connection, 'close');
    assert.ok(Date.now() - started < 2000, `answered after ${Date.now() - started} ms`);
    await new Promise((resolve) => (sockets[0]!.destroyed ? resolve(undefined) : sockets[0]!.once('close', resolve)));
    assert.ok(
      sockets[0]!.bytesRead < body.length / 4,
      `the server read ${sockets[0]!.bytesRead} of ${body.length} bytes`,
    );
  });

  it('closes the connection on any early 4xx whose body is unread, reading no more of it', async function () {
    // A route of the app's own that refuses from the headers alone, with no upload guard involved.
    const port = await listen((app) =>
      app.post('/raw', (_req, _res, next) =>
        next(new InvalidImageError('ERR_IMAGE_TOO_LARGE', 'Expected at most 1000 bytes', { statusCode: 413 })),
      ),
    );
    const total = 256 * 1024 * 1024;
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    let sent = 0;
    socket.on('data', (chunk) => (received += chunk.toString('latin1')));
    socket.on('error', () => {});
    const closed = new Promise((resolve) => socket.once('close', resolve));
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`POST /raw HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${total}\r\n\r\n`);
    // Writes while the server lets it (the socket drains), up to 32 MiB, until the answer comes.
    const chunk = Buffer.alloc(256 * 1024);
    while (received === '' && sent < 32 * 1024 * 1024 && !socket.destroyed) {
      sent += chunk.length;
      if (!socket.write(chunk))
        await Promise.race([
          new Promise((resolve) => socket.once('drain', resolve)),
          closed,
          new Promise((resolve) => setTimeout(resolve, 50)),
        ]);
    }
    await closed;
    assert.match(received, /^HTTP\/1\.1 413 /);
    assert.match(received, /\r\nConnection: close\r\n/i);
    assert.match(received, /\r\n\r\nExpected at most 1000 bytes\n$/);
    assert.ok(sockets[0]!.bytesRead < 32 * 1024 * 1024, `the server read ${sockets[0]!.bytesRead} bytes`);
  });

  it('keeps the connection when the body was read to its end', async function () {
    const port = await listen(upload);
    const form = new FormData();
    form.append('picture', new Blob([Buffer.from('not an image at all')]), 'a.png');
    // fetch keeps connections alive (supertest's client asks to close every one).
    const res = await fetch(`http://127.0.0.1:${port}/upload`, { method: 'POST', body: form });
    assert.equal(res.status, 415);
    assert.equal(res.headers.get('connection'), 'keep-alive');
    await res.text();
  });
});

import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import path from 'node:path';
import express from 'express';
import { Model } from 'objection';
import request from 'supertest';
import {
  HttpExposedFileSystemStore,
  imageSet,
  PENDING_UPLOADS_TABLE,
  pendingUploadsTable,
  withStore,
} from '../../src/index.js';
import { directUploadEndpoint, imageErrors, presignRoute, serveStore, storeContext } from '../../src/express.js';
import { findPendingUpload } from '../../src/entity/pending-uploads.js';
import { verifyUploadToken } from '../../src/entity/upload-token.js';
import type { PresignedUpload } from '../../src/index.js';
import { forEachDialect } from '../support/db.js';
import { removeDir, tempDir } from '../support/tmp.js';
import { createSchema, User } from '../entity/models.js';

const secrets = ['e'.repeat(32)];

/** An app with the presign route (the "user" is the one named by the x-user header) and the endpoint. */
function appFor(store: HttpExposedFileSystemStore, options: { idleTimeout?: number } = {}): express.Express {
  const app = express();
  app.use(serveStore(store));
  app.use(storeContext(store));
  app.use(directUploadEndpoint(store, { ...options, minBytesPerSecond: 0 }));
  app.post(
    '/uploads/presign',
    express.json(),
    presignRoute({
      imageSet: async (req) =>
        imageSet(
          await User.query()
            .findById(Number(req.get('x-user')))
            .throwIfNotFound(),
          'picture',
        ),
      principal: (req) => `user:${req.get('x-user')}`,
    }),
  );
  app.use(imageErrors());
  return app;
}

forEachDialect('presignRoute() and presignUpload()', (db) => {
  let root: string;
  let store: HttpExposedFileSystemStore;
  let user: User;
  before(async function () {
    await createSchema(db());
    await pendingUploadsTable(db());
    Model.knex(db());
    user = await User.query().insert({ name: 'ada' });
  });
  beforeEach(async function () {
    root = await tempDir('presign');
    store = new HttpExposedFileSystemStore({ path: root, directUploads: { secrets, endpoint: '/uploads/direct' } });
  });
  afterEach(async function () {
    await removeDir(root);
  });

  it('records a pending row and answers the upload URL and a token bound to owner, principal, purpose and store', async function () {
    const started = Date.now();
    const res = await request(appFor(store))
      .post('/uploads/presign')
      .set('x-user', String(user.id))
      .send({ size: 1234, type: 'image/PNG' })
      .expect(200)
      .expect('Cache-Control', 'no-store');
    const answer = res.body as PresignedUpload;
    assert.match(answer.id, /^[0-9a-f]{32}$/);
    assert.equal(answer.upload.method, 'PUT');
    assert.ok(answer.upload.url.startsWith(`/uploads/direct/${answer.id}?`));
    const expiresAt = Date.parse(answer.expiresAt);
    assert.ok(expiresAt > started + 590_000 && expiresAt <= started + 600_000, answer.expiresAt);
    const row = await findPendingUpload(db(), answer.id);
    assert.ok(row);
    assert.deepEqual(
      { ...row, created_at: undefined, expires_at: row.expires_at.toISOString() },
      {
        id: answer.id,
        purpose: 'users.picture',
        owner: `{"id":["${user.id}"],"subset":[]}`,
        principal: `user:${user.id}`,
        store: store.directUploads!.tag,
        object_key: `.uploads/${answer.id}`,
        declared_size: 1234,
        declared_type: 'image/png',
        status: 'pending',
        created_at: undefined,
        expires_at: answer.expiresAt,
      },
    );
    const verified = verifyUploadToken(answer.token, secrets, {
      purpose: row.purpose,
      owner: row.owner,
      principal: row.principal,
      store: row.store,
    });
    assert.equal(verified.id, answer.id);
  });

  it('answers early 413 for a declared size over maxBytes and 415 for a type not allowed, recording nothing', async function () {
    const app = appFor(store);
    const before = await db()(PENDING_UPLOADS_TABLE).count({ n: '*' });
    const big = await request(app)
      .post('/uploads/presign')
      .set('x-user', String(user.id))
      .set('Accept', 'application/json')
      .send({ size: 50 * 1024 * 1024 + 1, type: 'image/jpeg' })
      .expect(413);
    assert.equal(big.body.error.code, 'ERR_IMAGE_TOO_LARGE');
    const svg = await request(app)
      .post('/uploads/presign')
      .set('x-user', String(user.id))
      .set('Accept', 'application/json')
      .send({ size: 100, type: 'image/svg+xml' })
      .expect(415);
    assert.equal(svg.body.error.code, 'ERR_IMAGE_UNSUPPORTED_TYPE');
    for (const body of [{ size: 0, type: 'image/png' }, { size: '12', type: 'image/png' }, { size: 12 }, [1]]) {
      const res = await request(app)
        .post('/uploads/presign')
        .set('x-user', String(user.id))
        .set('Accept', 'application/json')
        .send(body)
        .expect(400);
      assert.equal(res.body.error.code, 'ERR_INVALID_ARGUMENT');
    }
    assert.deepEqual(await db()(PENDING_UPLOADS_TABLE).count({ n: '*' }), before);
  });

  it('reads the JSON body itself when no body parser ran, and refuses a store without directUploads', async function () {
    const answer = await withStore(store, () =>
      (async () => {
        const app = express();
        app.post('/p', presignRoute({ imageSet: () => imageSet(user, 'picture') }));
        app.use(imageErrors());
        return request(app).post('/p').set('Content-Type', 'application/json').send('{"size":5,"type":"image/gif"}');
      })(),
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const row = await findPendingUpload(db(), (answer.body as PresignedUpload).id);
    assert.equal(row?.principal, null);
    const plain = new HttpExposedFileSystemStore({ path: root });
    const app = express();
    app.post('/p', presignRoute({ imageSet: () => imageSet(user, 'picture'), store: plain }));
    app.use(
      (error: Error & { code?: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
        res.status(500).send(error.message);
      },
    );
    const refused = await request(app).post('/p').send({ size: 5, type: 'image/gif' });
    assert.match(refused.text, /Expected a store made with the directUploads option for store/);
  });
});

describe('directUploadEndpoint(): uploads into a filesystem store', function () {
  let root: string;
  let store: HttpExposedFileSystemStore;
  let port: number;
  let server: import('node:http').Server;
  const target = (size: number, type = 'image/png', expiresAt = new Date(Date.now() + 60_000)) =>
    store.directUploads!.presign({ id: randomId(), size, type, expiresAt });

  beforeEach(async function () {
    root = await tempDir('endpoint');
    store = new HttpExposedFileSystemStore({ path: root, directUploads: { secrets, endpoint: '/uploads/direct' } });
    server = appFor(store, { idleTimeout: 300 }).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterEach(async function () {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await removeDir(root);
  });

  const put = (url: string, body: Buffer | string, headers: Record<string, string>) =>
    fetch(`http://127.0.0.1:${port}${url}`, { method: 'PUT', headers, body });

  async function staged(): Promise<string[]> {
    return readdir(path.join(root, '.uploads')).catch(() => []);
  }

  it('stores a matching upload (204), never serves it, and answers 409 to a second upload', async function () {
    const answer = await target(5);
    const res = await put(answer.url, 'hello', { 'Content-Type': 'image/png' });
    assert.equal(res.status, 204);
    const id = new URL(answer.url, 'http://x').pathname.split('/').pop()!;
    assert.deepEqual(await staged(), [id]);
    const again = await put(answer.url, 'world', { 'Content-Type': 'image/png', Accept: 'application/json' });
    assert.equal(again.status, 409);
    assert.equal(((await again.json()) as { error: { code: string } }).error.code, 'ERR_UPLOAD_ALREADY_RECEIVED');
    // The staging folder is under the served root, and a dot-folder: serveStore() refuses it.
    for (const url of [
      `/__images__/.uploads/${id}`,
      `/__images__/%2Euploads/${id}`,
      `/__images__/x/../.uploads/${id}`,
    ]) {
      const served = await fetch(`http://127.0.0.1:${port}${url}`);
      assert.notEqual(served.status, 200, url);
      assert.notEqual(await served.text(), 'hello', url);
    }
  });

  it('refuses a mismatched Content-Length (400 under, 413 over) or Content-Type (400) before reading', async function () {
    const answer = await target(5);
    const short = await put(answer.url, 'hey', { 'Content-Type': 'image/png', Accept: 'application/json' });
    assert.equal(short.status, 400);
    assert.equal(((await short.json()) as { error: { code: string } }).error.code, 'ERR_UPLOAD_MISMATCH');
    const long = await put(answer.url, 'hello world', { 'Content-Type': 'image/png', Accept: 'application/json' });
    assert.equal(long.status, 413);
    assert.equal(((await long.json()) as { error: { code: string } }).error.code, 'ERR_IMAGE_TOO_LARGE');
    const html = await put(answer.url, '<html', { 'Content-Type': 'text/html', Accept: 'application/json' });
    assert.equal(html.status, 400);
    assert.match(((await html.json()) as { error: { message: string } }).error.message, /Content-Type "image\/png"/);
    assert.deepEqual(await staged(), []);
    // Nothing was taken: the real upload still goes through.
    assert.equal((await put(answer.url, 'hello', { 'Content-Type': 'image/png' })).status, 204);
  });

  it('answers 411 to a chunked body', async function () {
    const answer = await target(5);
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('hello'));
        controller.close();
      },
    });
    const res = await fetch(`http://127.0.0.1:${port}${answer.url}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'image/png', Accept: 'application/json' },
      body,
      duplex: 'half',
    } as RequestInit);
    assert.equal(res.status, 411);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ERR_UPLOAD_LENGTH_REQUIRED');
    assert.deepEqual(await staged(), []);
  });

  it('answers 403 to a forged or altered URL and 410 to an expired one', async function () {
    const answer = await target(5);
    const url = new URL(answer.url, 'http://x');
    const altered = (name: string, value: string) => {
      const copy = new URL(url);
      copy.searchParams.set(name, value);
      return `${copy.pathname}${copy.search}`;
    };
    const forgeries = [
      altered('size', '6'),
      altered('type', 'text/html'),
      altered('expires', String(Number(url.searchParams.get('expires')) + 3600)),
      altered('signature', 'A'.repeat(43)),
      `/uploads/direct/${randomId()}${url.search}`,
      `${url.pathname}?size=5&type=image/png`,
    ];
    for (const forged of forgeries) {
      const res = await put(forged, 'hello', { 'Content-Type': 'image/png', Accept: 'application/json' });
      assert.equal(res.status, 403, forged);
    }
    const expired = await target(5, 'image/png', new Date(Date.now() - 1000));
    const res = await put(expired.url, 'hello', { 'Content-Type': 'image/png', Accept: 'application/json' });
    assert.equal(res.status, 410);
    assert.deepEqual(await staged(), []);
  });

  it('takes no path outside the staging folder: other paths pass to next() and write nothing', async function () {
    const answer = await target(5);
    const { search } = new URL(answer.url, 'http://x');
    for (const target of [
      `/uploads/direct/../../etc/passwd${search}`,
      `/uploads/direct/%2E%2E%2Fx${search}`,
      `/uploads/direct/${'A'.repeat(32)}${search}`,
      `/uploads/direct/sub/${randomId()}${search}`,
    ]) {
      const raw = await rawPut(port, target, 'hello');
      assert.match(raw, /^HTTP\/1\.1 404/, target);
    }
    assert.deepEqual(await staged(), []);
    assert.deepEqual((await readdir(root)).sort(), []);
  });

  it('times out a stalled body with 408 and removes what it wrote', async function () {
    const answer = await target(10);
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    let head = '';
    socket.on('data', (chunk) => (head += chunk.toString('latin1')));
    socket.write(`PUT ${answer.url} HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 10\r\n\r\nhalf `);
    await new Promise((resolve) => socket.once('close', resolve));
    assert.match(head, /^HTTP\/1\.1 408/);
    // The .part is removed once the connection is gone.
    for (let i = 0; i < 50 && (await staged()).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(await staged(), []);
  });
});

function randomId(): string {
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** PUT of `target` as written (no URL normalisation), answering the status line and headers. */
async function rawPut(port: number, target: string, body: string): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  let text = '';
  socket.on('data', (chunk) => (text += chunk.toString('latin1')));
  socket.write(
    `PUT ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: image/png\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
  await new Promise((resolve) => socket.once('close', resolve));
  return text;
}

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdir, utimes, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import type { NextFunction, Request, Response } from 'express';
import request from 'supertest';
import { imageUpload, type ImageUploadOptions } from '../../src/http/upload.js';
import type { UploadedImage } from '../../src/http/upload-storage.js';
import { png } from '../support/images.js';
import { listTree, removeDir, tempDir } from '../support/tmp.js';
import { forEachExpress } from './express-majors.js';

const BOUNDARY = 'guardboundary';

function partHead(extraHeaders: string[] = []): Buffer {
  return Buffer.from(
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="picture"; filename="a.png"\r\nContent-Type: image/png\r\n` +
      extraHeaders.map((h) => `${h}\r\n`).join('') +
      '\r\n',
  );
}
const partTail = Buffer.from(`\r\n--${BOUNDARY}--\r\n`);

/** What a raw client saw: the response head, whether the server closed the socket, and how much it sent. */
interface RawOutcome {
  head: string;
  closed: boolean;
  sent: number;
}

/**
 * Sends `headers`, then calls `write` with a function that sends bytes (false once the server has
 * answered or closed); resolves once the server answered and closed, or after 5 s.
 */
function rawRequest(
  port: number,
  headers: string[],
  write: (send: (bytes: Buffer) => boolean) => Promise<void>,
): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    let sent = 0;
    let answered = false;
    let closed = false;
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ head: received.split('\r\n\r\n')[0] ?? '', closed, sent });
    };
    const timer = setTimeout(finish, 5000);
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
      answered = true;
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.on('connect', () => {
      socket.write(
        `POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=${BOUNDARY}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`,
      );
      void write((bytes) => {
        if (answered || closed || socket.destroyed) return false;
        sent += bytes.length;
        socket.write(bytes);
        return true;
      });
    });
  });
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

forEachExpress('imageUpload() body guard', function (express) {
  this.timeout(10_000);
  let dir: string;
  let server: Server;
  let port: number;
  let errors: Array<{ code?: string; statusCode?: number }>;
  let messages: string[];

  async function listen(options: Partial<ImageUploadOptions>): Promise<void> {
    const app = express();
    app.post('/upload', imageUpload({ field: 'picture', tempDir: dir, ...options }), (req, res) => {
      res.json({ width: (req.file as UploadedImage).width });
    });
    app.use((error: any, _req: Request, res: Response, _next: NextFunction) => {
      errors.push({ code: error.code, statusCode: error.statusCode });
      messages.push(error.message);
      res.status(error.statusCode ?? 500).json({ code: error.code });
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    port = (server.address() as AddressInfo).port;
  }

  beforeEach(async function () {
    dir = await tempDir('upload-guard');
    errors = [];
    messages = [];
  });
  afterEach(async function () {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await removeDir(dir);
  });

  /** Waits (up to 3 s) for the temp folder to hold no upload files. */
  async function noTempFiles(): Promise<void> {
    const deadline = Date.now() + 3000;
    while ((await listTree(dir)).length > 0) {
      if (Date.now() > deadline) assert.fail(`temp files left: ${(await listTree(dir)).join(', ')}`);
      await pause(20);
    }
  }

  it('answers 413 to a declared Content-Length over the limit before reading the body, and closes the connection', async function () {
    await listen({ maxBytes: 100_000 });
    const outcome = await rawRequest(port, [`Content-Length: ${1024 ** 3}`], async (send) => {
      send(partHead());
      // Sends at most 2 MiB of the declared GiB: an answer must come without the rest.
      for (let i = 0; i < 32 && send(Buffer.alloc(64 * 1024)); i++) await pause(5);
    });
    assert.match(outcome.head, /^HTTP\/1\.1 413 /);
    assert.match(outcome.head, /\r\nConnection: close/i);
    assert.ok(outcome.closed, 'the server closed the connection');
    assert.deepEqual(errors, [{ code: 'ERR_IMAGE_TOO_LARGE', statusCode: 413 }]);
    // In a person's units, with what the limit is made of (regression: "a body of 16742760 with the form").
    assert.deepEqual(messages, [
      'Expected an upload of at most 1.1 MB (a file of up to 97.7 KB, and 1 MB for the rest of the form) but the request declares 1 GB',
    ]);
    await noTempFiles();
  });

  it('allows a body of maxBytes and 1 MB for the rest of the form, in all (as docs/uploads.md says)', async function () {
    await listen({ maxBytes: 100_000 });
    const image = await png(40, 30);
    const fields = (count: number, size: number) =>
      Buffer.concat(
        Array.from({ length: count }, (_, i) =>
          Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="f${i}"\r\n\r\n${'x'.repeat(size)}\r\n`),
        ),
      );
    const post = (body: Buffer) =>
      request(server).post('/upload').set('Content-Type', `multipart/form-data; boundary=${BOUNDARY}`).send(body);
    // 15 fields of 60 KB (900 KB) fit; 20 (1.2 MB, past 97.7 KB + 1 MB) do not.
    assert.equal((await post(Buffer.concat([fields(15, 60_000), partHead(), image, partTail]))).status, 200);
    const refused = await post(Buffer.concat([fields(20, 60_000), partHead(), image, partTail]));
    assert.deepEqual([refused.status, refused.body.code], [413, 'ERR_IMAGE_TOO_LARGE']);
    assert.equal(
      messages.at(-1),
      `Expected an upload of at most 1.1 MB (a file of up to 97.7 KB, and 1 MB for the rest of the form) but the request declares 1.15 MB`,
    );
    await noTempFiles();
  });

  it('answers 413 to a chunked body as soon as the file passes the limit, without reading the rest', async function () {
    await listen({ maxBytes: 100_000 });
    const chunk = (bytes: Buffer) =>
      Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n')]);
    const outcome = await rawRequest(port, ['Transfer-Encoding: chunked'], async (send) => {
      send(chunk(partHead()));
      // Never ends the body: 4 MiB at most, then waits for the answer.
      for (let i = 0; i < 64 && send(chunk(Buffer.alloc(64 * 1024))); i++) await pause(5);
    });
    assert.match(outcome.head, /^HTTP\/1\.1 413 /);
    assert.ok(outcome.closed, 'the server closed the connection');
    assert.ok(outcome.sent < 4 * 1024 * 1024, `stopped sending after ${outcome.sent} bytes`);
    assert.deepEqual(errors, [{ code: 'ERR_IMAGE_TOO_LARGE', statusCode: 413 }]);
    await noTempFiles();
  });

  it('answers 408 to a body that stalls for idleTimeout, and removes the temp file', async function () {
    await listen({ idleTimeout: 300 });
    const image = await png(40, 30);
    const outcome = await rawRequest(
      port,
      [`Content-Length: ${partHead().length + image.length + partTail.length}`],
      async (send) => {
        send(partHead());
        send(image.subarray(0, 100));
        // Then nothing: the server must give up on its own.
      },
    );
    assert.match(outcome.head, /^HTTP\/1\.1 408 /);
    assert.ok(outcome.closed, 'the server closed the connection');
    assert.deepEqual(errors, [{ code: 'ERR_UPLOAD_TIMEOUT', statusCode: 408 }]);
    await noTempFiles();
  });

  it('answers 408 to a body trickling slower than minBytesPerSecond', async function () {
    await listen({ idleTimeout: 300, minBytesPerSecond: 1000 });
    const image = await png(40, 30);
    const outcome = await rawRequest(
      port,
      [`Content-Length: ${partHead().length + image.length + partTail.length}`],
      async (send) => {
        send(partHead());
        // A byte every 20 ms (50 B/s): never idle, far too slow. At most 200 bytes (4 s).
        for (let i = 0; i < 200 && send(image.subarray(i, i + 1)); i++) await pause(20);
      },
    );
    assert.match(outcome.head, /^HTTP\/1\.1 408 /);
    assert.deepEqual(errors, [{ code: 'ERR_UPLOAD_TIMEOUT', statusCode: 408 }]);
    await noTempFiles();
  });

  it('still accepts a whole upload sent in pieces within the timeouts', async function () {
    await listen({ idleTimeout: 2000 });
    // The client asks to close after the answer, so the outcome comes without a keep-alive wait.
    const image = await png(40, 30);
    const outcome = await rawRequest(
      port,
      ['Connection: close', `Content-Length: ${partHead().length + image.length + partTail.length}`],
      async (send) => {
        send(partHead());
        send(image.subarray(0, 50));
        await pause(100);
        send(image.subarray(50));
        send(partTail);
      },
    );
    assert.match(outcome.head, /^HTTP\/1\.1 200 /);
    assert.deepEqual(errors, []);
  });

  // busboy bounds a part's header block at 16 KiB (and 2000 lines), whatever the Content-Type's
  // parameters: the line counter this replaced read the boundary its own way and was bypassed.
  for (const contentType of [
    `multipart/form-data; boundary=${BOUNDARY}`,
    `multipart/form-data; x="; boundary=decoy"; boundary=${BOUNDARY}`,
  ]) {
    it(`refuses a part whose headers pass 16 KB, cleanly (400 ERR_UPLOAD_MALFORMED), with ${contentType}`, async function () {
      await listen({});
      const image = await png(4, 4);
      for (const headers of [Array.from({ length: 3000 }, (_, i) => `X-H${i}: v`), [`X-Big: ${'a'.repeat(20_000)}`]]) {
        const res = await request(server)
          .post('/upload')
          .set('Content-Type', contentType)
          .send(Buffer.concat([partHead(headers), image, partTail]));
        assert.deepEqual([res.status, res.body.code], [400, 'ERR_UPLOAD_MALFORMED']);
      }
      assert.deepEqual(messages, [
        'The form is malformed: Malformed part header',
        'The form is malformed: Malformed part header',
      ]);
      await noTempFiles();
    });
  }

  it('accepts a part of 300 short headers: inside 16 KB, busboy parses them at no risk', async function () {
    await listen({});
    const headers = Array.from({ length: 300 }, (_, i) => `X-H${i}: v`);
    const res = await request(server)
      .post('/upload')
      .set('Content-Type', `multipart/form-data; boundary=${BOUNDARY}`)
      .send(Buffer.concat([partHead(headers), await png(4, 4), partTail]));
    assert.deepEqual([res.status, res.body], [200, { width: 4 }]);
  });

  it('accepts a part with a few extra headers', async function () {
    await listen({});
    const body = Buffer.concat([
      partHead(['Content-Transfer-Encoding: binary', 'X-Note: yes']),
      await png(4, 4),
      partTail,
    ]);
    const res = await request(server)
      .post('/upload')
      .set('Content-Type', `multipart/form-data; boundary=${BOUNDARY}`)
      .send(body);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { width: 4 });
  });

  it('names its temp files with the pid, and sweeps those of a dead process', async function () {
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
    const leftover = path.join(dir, `objection-imageattach-${gone}-0123456789abcdef.upload`);
    await writeFile(leftover, 'x');
    const old = new Date(Date.now() - 11 * 60 * 1000);
    await utimes(leftover, old, old);
    let seenName = '';
    const app = express();
    app.post('/upload', imageUpload({ field: 'picture', tempDir: dir }), (req, res) => {
      seenName = path.basename((req.file as UploadedImage).path);
      res.end();
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    await request(server)
      .post('/upload')
      .attach('picture', await png(4, 4), 'a.png')
      .expect(200);
    assert.match(seenName, new RegExp(`^objection-imageattach-${process.pid}-[0-9a-f]{16}\\.upload$`));
    const deadline = Date.now() + 3000;
    while ((await readdir(dir)).length > 0 && Date.now() < deadline) await pause(20);
    assert.deepEqual(await readdir(dir), []);
  });
});

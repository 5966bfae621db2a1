import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import type { Server } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import request from 'supertest';
import { imageUpload, type UploadedImage } from '../../src/express.js';
import { InvalidArgumentError } from '../../src/index.js';
import { jpeg, png, pngDeclaring } from '../support/images.js';
import { listTree, removeDir, tempDir } from '../support/tmp.js';
import { forEachExpress } from './express-majors.js';
import { emptied, until } from './upload-wait.js';

forEachExpress('imageUpload()', function (express) {
  let dir: string;
  let app: ReturnType<typeof express>;
  /** What the route saw: the file, and whether its temp file existed while the route ran. */
  let seen: { file: UploadedImage; existed: boolean } | undefined;
  let errors: Array<{ code?: string; statusCode?: number; message: string }>;

  beforeEach(async function () {
    dir = await tempDir('upload');
    seen = undefined;
    errors = [];
    app = express();
    app.post(
      '/upload',
      imageUpload({ field: 'picture', maxBytes: 300_000, maxPixels: 4_000_000, tempDir: dir }),
      (req, res) => {
        const file = req.file as UploadedImage;
        seen = { file, existed: existsSync(file.path) };
        res.json({ ok: true });
      },
    );
    app.post('/fails-after-upload', imageUpload({ field: 'picture', tempDir: dir }), () => {
      throw new Error('the route broke');
    });
    app.use((error: any, _req: Request, res: Response, _next: NextFunction) => {
      errors.push({ code: error.code, statusCode: error.statusCode, message: error.message });
      res.status(error.statusCode ?? 500).json({ code: error.code, message: error.message });
    });
  });
  afterEach(async function () {
    await removeDir(dir);
  });

  describe('a valid image', function () {
    it('reaches the route as a temp file with the type and size read from its bytes', async function () {
      const bytes = await jpeg(640, 480);
      // The client's name and type lie; the bytes decide.
      const res = await request(app)
        .post('/upload')
        .attach('picture', bytes, { filename: 'me.png', contentType: 'text/plain' });
      assert.equal(res.status, 200);
      assert.ok(seen);
      assert.equal(seen.existed, true);
      const { file } = seen;
      assert.deepEqual(
        [file.mimetype, file.clientMimetype, file.width, file.height, file.size],
        ['image/jpeg', 'text/plain', 640, 480, bytes.length],
      );
      assert.deepEqual(file.probed, {
        mimetype: 'image/jpeg',
        width: 640,
        height: 480,
        size: bytes.length,
        pixels: 640 * 480,
        orientation: 1,
      });
      assert.equal(file.originalname, 'me.png');
      assert.ok(file.path.startsWith(dir));
    });

    it('removes the temp file once the response has finished', async function () {
      await request(app)
        .post('/upload')
        .attach('picture', await png(40, 30), 'a.png')
        .expect(200);
      assert.ok(seen);
      await emptied(dir);
      assert.equal(existsSync(seen.file.path), false);
    });

    it('removes the temp file when the route fails after the upload', async function () {
      const res = await request(app)
        .post('/fails-after-upload')
        .attach('picture', await png(40, 30), 'a.png');
      assert.equal(res.status, 500);
      await emptied(dir);
    });

    it('keeps the other form fields in req.body', async function () {
      let body: unknown;
      app = express();
      app.post('/upload', imageUpload({ field: 'picture', tempDir: dir }), (req, res) => {
        body = { ...req.body };
        res.end();
      });
      await request(app)
        .post('/upload')
        .field('caption', 'at the beach')
        .attach('picture', await png(4, 4), 'a.png')
        .expect(200);
      assert.deepEqual(body, { caption: 'at the beach' });
    });
  });

  describe('rejections reach next(err) typed, and leave no temp file', function () {
    const cases: Array<[string, () => Promise<Buffer>, number, string]> = [
      ['a file over maxBytes', () => jpeg(1200, 900), 413, 'ERR_IMAGE_TOO_LARGE'],
      [
        'a text file sent as image/jpeg',
        async () => Buffer.from('just some text, no picture\n'),
        415,
        'ERR_IMAGE_UNSUPPORTED_TYPE',
      ],
      [
        'a pixel bomb (a tiny PNG declaring 30000×30000)',
        async () => pngDeclaring(30000, 30000),
        413,
        'ERR_IMAGE_TOO_MANY_PIXELS',
      ],
      ['a truncated JPEG', async () => (await jpeg(300, 200)).subarray(0, 700), 400, 'ERR_IMAGE_TRUNCATED'],
      ['an empty file', async () => Buffer.alloc(0), 400, 'ERR_IMAGE_EMPTY'],
    ];
    for (const [what, make, status, code] of cases) {
      it(`${what}: ${status} ${code}`, async function () {
        const bytes = await make();
        const res = await request(app)
          .post('/upload')
          .attach('picture', bytes, { filename: 'x.jpg', contentType: 'image/jpeg' });
        assert.equal(res.status, status);
        assert.equal(res.body.code, code);
        assert.equal(seen, undefined);
        await emptied(dir);
      });
    }

    it('says how large is too large', async function () {
      const res = await request(app)
        .post('/upload')
        .attach('picture', await jpeg(1200, 900), 'big.jpg');
      assert.equal(res.body.message, 'Expected at most 300000 bytes but the image is larger');
    });

    it('a form without the file: 400 ERR_UPLOAD_NO_FILE', async function () {
      const res = await request(app).post('/upload').field('name', 'Ann');
      assert.deepEqual(
        [res.status, res.body.code, res.body.message],
        [400, 'ERR_UPLOAD_NO_FILE', 'Expected an image file in field "picture" but the form has none'],
      );
    });

    it('a file in another field: 400 ERR_UPLOAD_UNEXPECTED_FILE', async function () {
      const res = await request(app)
        .post('/upload')
        .attach('avatar', await png(4, 4), 'a.png');
      assert.deepEqual([res.status, res.body.code], [400, 'ERR_UPLOAD_UNEXPECTED_FILE']);
      assert.match(res.body.message, /in field "avatar"/);
      await emptied(dir);
    });

    it('a second file after a stored first one: 400, and the first one removed', async function () {
      const res = await request(app)
        .post('/upload')
        .attach('picture', await png(4, 4), 'a.png')
        .attach('picture', await png(4, 4), 'b.png');
      assert.deepEqual([res.status, res.body.code], [400, 'ERR_UPLOAD_UNEXPECTED_FILE']);
      await emptied(dir);
    });

    it('a body that is not multipart: 415 ERR_UPLOAD_NOT_MULTIPART', async function () {
      const res = await request(app)
        .post('/upload')
        .set('Content-Type', 'image/jpeg')
        .send(await jpeg(10, 10));
      assert.deepEqual([res.status, res.body.code], [415, 'ERR_UPLOAD_NOT_MULTIPART']);
    });

    it('a multipart body that ends before its closing boundary: 400 ERR_UPLOAD_MALFORMED', async function () {
      const bytes = await png(4, 4);
      const body = Buffer.concat([
        Buffer.from(
          '--XYZ\r\nContent-Disposition: form-data; name="picture"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n',
        ),
        bytes,
      ]);
      const res = await request(app)
        .post('/upload')
        .set('Content-Type', 'multipart/form-data; boundary=XYZ')
        .send(body);
      assert.deepEqual([res.status, res.body.code], [400, 'ERR_UPLOAD_MALFORMED']);
      await emptied(dir);
    });
  });

  describe('a client that goes away mid-upload', function () {
    let server: Server;
    beforeEach(async function () {
      server = await new Promise<Server>((resolve) => {
        const s = app.listen(0, '127.0.0.1', () => resolve(s));
      });
    });
    afterEach(async function () {
      await new Promise((resolve) => server.close(resolve));
    });

    it('leaves no temp file, and reports ERR_UPLOAD_ABORTED to the error handler', async function () {
      const { port } = server.address() as AddressInfo;
      const socket = net.connect(port, '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      const head =
        '--XYZ\r\nContent-Disposition: form-data; name="picture"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n';
      // Promise 250 000 bytes, send a JPEG's first 20 000, then hang up.
      socket.write(
        'POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: 250000\r\n\r\n' +
          head,
      );
      socket.write((await jpeg(800, 600)).subarray(0, 20_000));
      await until(async () => (await listTree(dir)).length > 0, 'the temp file to appear');
      socket.destroy();
      await emptied(dir);
      await until(() => errors.length > 0, 'the error handler');
      assert.equal(errors[0]!.code, 'ERR_UPLOAD_ABORTED');
      assert.equal(seen, undefined);
    });
  });

  describe('a client that hangs up while the route works', function () {
    it('keeps the temp file until the route ends the response, then removes it', async function () {
      let hungUp!: () => void;
      const clientGone = new Promise<void>((resolve) => (hungUp = resolve));
      let readable: boolean | undefined;
      app = express();
      app.post('/upload', imageUpload({ field: 'picture', tempDir: dir }), async (req, res) => {
        const file = req.file as UploadedImage;
        hungUp();
        await new Promise((resolve) => res.once('close', resolve));
        // The client is gone; the route still attaches what it fully received.
        readable = existsSync(file.path);
        res.end();
      });
      const server = await new Promise<Server>((resolve) => {
        const s = app.listen(0, '127.0.0.1', () => resolve(s));
      });
      try {
        const bytes = await png(8, 8);
        const head =
          '--XYZ\r\nContent-Disposition: form-data; name="picture"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n';
        const tail = '\r\n--XYZ--\r\n';
        const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
        await new Promise((resolve) => socket.once('connect', resolve));
        socket.write(
          `POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: ${head.length + bytes.length + tail.length}\r\n\r\n${head}`,
        );
        socket.write(bytes);
        socket.write(tail);
        await clientGone;
        socket.destroy();
        await until(() => readable !== undefined, 'the route to answer');
        assert.equal(readable, true);
        await emptied(dir);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });
  });

  describe('options', function () {
    it('are validated when the middleware is made, naming the option', function () {
      assert.throws(
        () => imageUpload({ field: '' }),
        (e: unknown) =>
          e instanceof InvalidArgumentError &&
          e.message ===
            'Expected the name of a form field (a non-empty string) for options.field but received "" of type string',
      );
      assert.throws(() => imageUpload({ field: 'picture', maxBytes: 0 }), {
        message: 'Expected an integer >= 1 for maxBytes but received 0 of type number',
      });
      assert.throws(
        () => imageUpload({ field: 'picture', types: ['text/html'] }),
        /for types but received an array of length 1/,
      );
      assert.throws(() => imageUpload({ field: 'picture', tempDir: '' }), {
        message: 'Expected a folder path (a non-empty string) for options.tempDir but received "" of type string',
      });
      assert.throws(() => imageUpload(undefined as never), {
        message: 'Expected an object with a field for options but received undefined',
      });
      assert.throws(() => imageUpload({ field: 'picture', verifyDecode: 'no' as never }), {
        message: 'Expected a boolean for options.verifyDecode but received "no" of type string',
      });
    });

    it('verifyDecode: false checks the header only, and marks the probe undecoded for the attach to finish', async function () {
      let probed: unknown;
      app = express();
      app.post('/upload', imageUpload({ field: 'picture', tempDir: dir, verifyDecode: false }), (req, res) => {
        probed = (req.file as UploadedImage).probed;
        res.end();
      });
      // A truncated JPEG passes here (its header is good): the route's attach decodes it and refuses it.
      const truncated = (await jpeg(300, 200)).subarray(0, 700);
      await request(app).post('/upload').attach('picture', truncated, 'a.jpg').expect(200);
      assert.deepEqual(probed, {
        mimetype: 'image/jpeg',
        width: 300,
        height: 200,
        size: 700,
        pixels: 300 * 200,
        orientation: 1,
        decoded: false,
      });
      // The header checks still run.
      await request(app).post('/upload').attach('picture', Buffer.from('not an image'), 'a.jpg').expect(415);
    });

    it('makes the temp folder when it is missing', async function () {
      const nested = `${dir}/a/b`;
      app = express();
      app.post('/upload', imageUpload({ field: 'picture', tempDir: nested }), (req, res) => {
        res.json({ inside: (req.file as UploadedImage).path.startsWith(nested) });
      });
      const res = await request(app)
        .post('/upload')
        .attach('picture', await png(4, 4), 'a.png');
      assert.deepEqual(res.body, { inside: true });
    });
  });
});

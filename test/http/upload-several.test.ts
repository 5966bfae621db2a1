/** `imageUpload({ maxCount })`: several files in one field, each checked and cleaned up like one. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { NextFunction, Request, Response } from 'express';
import request from 'supertest';
import { imageUpload, type ImageUploadOptions, type UploadedImage } from '../../src/express.js';
import { jpeg, png, pngDeclaring } from '../support/images.js';
import { listTree, removeDir, tempDir } from '../support/tmp.js';
import { forEachExpress } from './express-majors.js';
import { emptied, until } from './upload-wait.js';

forEachExpress('imageUpload() with several files (maxCount)', function (express) {
  let dir: string;
  let app: ReturnType<typeof express>;
  let errors: Array<{ code?: string; statusCode?: number; message: string }>;

  beforeEach(async function () {
    dir = await tempDir('upload-several');
    errors = [];
  });
  afterEach(async function () {
    await removeDir(dir);
  });

  /** What the route saw: the files, whether each temp file existed then, and the set-aside ones. */
  let got: { files: UploadedImage[]; existed: boolean[]; rejected: Array<[number, string, string]> } | undefined;

  function gallery(options: Partial<ImageUploadOptions> = {}): void {
    app = express();
    app.post(
      '/photos',
      imageUpload({ field: 'photos', maxCount: 3, maxBytes: 300_000, tempDir: dir, ...options }),
      (req, res) => {
        // Typed by the module augmentation: no cast.
        const files = Array.isArray(req.files) ? req.files : [];
        got = {
          files,
          existed: files.map((file) => existsSync(file.path)),
          rejected: (req.rejectedImages ?? []).map((r) => [r.index, r.originalname, r.error.code]),
        };
        res.json({ widths: files.map((file) => file.width) });
      },
    );
    app.use((error: any, _req: Request, res: Response, _next: NextFunction) => {
      errors.push({ code: error.code, statusCode: error.statusCode, message: error.message });
      res.status(error.statusCode ?? 500).json({ code: error.code, message: error.message });
    });
  }
  beforeEach(function () {
    got = undefined;
  });

  it('hands the route every file in req.files, each checked and spooled, and removes them all after', async function () {
    gallery();
    const res = await request(app)
      .post('/photos')
      .attach('photos', await png(40, 30), 'a.png')
      .attach('photos', await jpeg(64, 48), 'b.jpg')
      .attach('photos', await png(8, 8), 'c.png');
    assert.deepEqual([res.status, res.body], [200, { widths: [40, 64, 8] }]);
    assert.ok(got);
    assert.deepEqual(got.existed, [true, true, true]);
    assert.deepEqual(
      got.files.map((file) => [file.mimetype, file.originalname, file.probed.width]),
      [
        ['image/png', 'a.png', 40],
        ['image/jpeg', 'b.jpg', 64],
        ['image/png', 'c.png', 8],
      ],
    );
    assert.deepEqual(got.rejected, []);
    await emptied(dir);
  });

  it('sets a bad file aside in req.rejectedImages and hands the route the others (a file over maxBytes, a text file)', async function () {
    gallery();
    const res = await request(app)
      .post('/photos')
      .attach('photos', await png(40, 30), 'a.png')
      .attach('photos', await jpeg(1200, 900), 'huge.jpg')
      .attach('photos', Buffer.from('no picture here'), { filename: 'notes.jpg', contentType: 'image/jpeg' });
    assert.deepEqual([res.status, res.body], [200, { widths: [40] }]);
    assert.deepEqual(got?.rejected, [
      [1, 'huge.jpg', 'ERR_IMAGE_TOO_LARGE'],
      [2, 'notes.jpg', 'ERR_IMAGE_UNSUPPORTED_TYPE'],
    ]);
    await emptied(dir);
  });

  it('passes the first refusal to next(err) when no file is accepted', async function () {
    gallery();
    const res = await request(app)
      .post('/photos')
      .attach('photos', Buffer.from('text'), 'a.jpg')
      .attach('photos', await pngDeclaring(30000, 30000), 'b.png');
    assert.deepEqual([res.status, res.body.code], [415, 'ERR_IMAGE_UNSUPPORTED_TYPE']);
    assert.equal(got, undefined);
    await emptied(dir);
  });

  it('allOrNothing: one bad file refuses the request, and no file is left', async function () {
    gallery({ allOrNothing: true });
    const res = await request(app)
      .post('/photos')
      .attach('photos', await png(40, 30), 'a.png')
      .attach('photos', await png(8, 8), 'b.png')
      .attach('photos', await jpeg(1200, 900), 'huge.jpg');
    assert.deepEqual([res.status, res.body.code], [413, 'ERR_IMAGE_TOO_LARGE']);
    assert.equal(got, undefined);
    await emptied(dir);
  });

  it('refuses more files than maxCount (400 ERR_UPLOAD_UNEXPECTED_FILE), leaving none', async function () {
    gallery();
    const image = await png(4, 4);
    const res = await request(app)
      .post('/photos')
      .attach('photos', image, 'a.png')
      .attach('photos', image, 'b.png')
      .attach('photos', image, 'c.png')
      .attach('photos', image, 'd.png');
    assert.deepEqual(
      [res.status, res.body.code, res.body.message],
      [400, 'ERR_UPLOAD_UNEXPECTED_FILE', 'Expected at most 3 files, in field "photos", but received more than 3'],
    );
    await emptied(dir);
  });

  it('bounds the body at maxCount × maxBytes and 1 MB for the form, and says so', async function () {
    gallery({ maxCount: 2 });
    const noise = (await import('node:crypto')).randomBytes(900_000);
    const res = await request(app).post('/photos').attach('photos', noise, 'a.png').attach('photos', noise, 'b.png');
    assert.deepEqual([res.status, res.body.code], [413, 'ERR_IMAGE_TOO_LARGE']);
    assert.match(
      res.body.message,
      /^Expected an upload of at most 1\.57 MB \(2 files of up to 293 KB each, and 1 MB for the rest of the form\) but the request declares 1\.72 MB$/,
    );
    await emptied(dir);
  });

  it('removes a stored first file and the half-written second when the client goes away', async function () {
    gallery();
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      const head = (name: string) =>
        `--XYZ\r\nContent-Disposition: form-data; name="photos"; filename="${name}"\r\nContent-Type: image/png\r\n\r\n`;
      socket.write(
        `POST /photos HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: 250000\r\n\r\n${head('a.png')}`,
      );
      socket.write(
        Buffer.concat([
          await png(8, 8),
          Buffer.from(`\r\n${head('b.jpg')}`),
          (await jpeg(800, 600)).subarray(0, 20_000),
        ]),
      );
      await until(async () => (await listTree(dir)).length === 2, 'both temp files to appear');
      socket.destroy();
      await emptied(dir);
      await until(() => errors.length > 0, 'the error handler');
      assert.equal(errors[0]!.code, 'ERR_UPLOAD_ABORTED');
      assert.equal(got, undefined);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('validates maxCount and allOrNothing', function () {
    assert.throws(() => imageUpload({ field: 'photos', maxCount: 0 }), {
      message: 'Expected an integer from 1 to 1000 for options.maxCount but received 0 of type number',
    });
    assert.throws(() => imageUpload({ field: 'photos', maxCount: 2, allOrNothing: 'yes' as never }), {
      message: 'Expected a boolean for options.allOrNothing but received "yes" of type string',
    });
  });
});

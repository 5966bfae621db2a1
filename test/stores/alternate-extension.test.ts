import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import express from 'express';
import request from 'supertest';
import { ImageNotFoundError } from '../../src/errors.js';
import { serveStore, staticServer } from '../../src/express.js';
import { FileSystemStore } from '../../src/stores/fs.js';
import { HttpExposedFileSystemStore } from '../../src/stores/http-exposed-fs.js';
import type { Store } from '../../src/stores/store.js';
import { useS3Server } from '../support/s3.js';
import { removeDir, tempDir } from '../support/tmp.js';

/** A TIFF as SQLAlchemy-ImageAttach on Python 3.6 names it: `.tif` (`mimetypes` says `.tiff` since 3.7). */
const tiff = { objectType: 'testing', objectId: 1234, width: 405, height: 640, mimetype: 'image/tiff' };
const PYTHON_BYTES = Buffer.from('tiff bytes python 3.6 wrote');

/** What every store does with a file that lies under `.tif` only. */
async function checkReadsTheOtherExtension(
  store: Store,
  names: () => Promise<string[]>,
  tifName: string,
): Promise<void> {
  assert.equal((await buffer(await store.getFile(tiff))).toString(), PYTHON_BYTES.toString());
  assert.equal((await buffer(await store.getFile(tiff, { start: 0, end: 3 }))).toString(), 'tiff');
  const stat = await store.statFile(tiff);
  assert.deepEqual([stat?.size, stat?.extension], [PYTHON_BYTES.length, '.tif']);
  const listed = [];
  for await (const key of store.listFiles()) listed.push(key);
  assert.deepEqual(listed, [{ ...tiff, objectId: 1234n }]);
  // The expected name, when present, comes first.
  await store.putFile(tiff, Readable.from([Buffer.from('ours')]), { reproducible: false });
  assert.equal((await buffer(await store.getFile(tiff))).toString(), 'ours');
  assert.equal((await store.statFile(tiff))?.extension, undefined);
  // Deleting the image removes both names.
  assert.ok((await names()).includes(tifName));
  await store.deleteFile(tiff);
  assert.deepEqual(await names(), []);
  await assert.rejects(store.getFile(tiff), ImageNotFoundError);
  assert.equal(await store.statFile(tiff), null);
}

describe('a file under the other extension of its type (.tif for .tiff)', function () {
  describe('FileSystemStore', function () {
    let root: string;
    beforeEach(async function () {
      root = await tempDir('tif');
    });
    afterEach(async function () {
      await removeDir(root);
    });

    it('reads, stats, lists and deletes testing/234/1/1234.405x640.tif as the .tiff it stands for', async function () {
      const store = new FileSystemStore({ path: root, baseUrl: 'http://static.example.com/' });
      const dir = path.join(root, 'testing', '234', '1');
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, '1234.405x640.tif'), PYTHON_BYTES);
      assert.equal(store.localPath(tiff), path.join(dir, '1234.405x640.tif'));
      // URLs are computed without I/O: they name the expected extension.
      assert.equal(store.getUrl(tiff), 'http://static.example.com/testing/234/1/1234.405x640.tiff');
      const names = async () => readdir(dir).catch(() => [] as string[]);
      await checkReadsTheOtherExtension(store, names, '1234.405x640.tif');
    });
  });

  describe('served by the app (serveStore(store), staticServer())', function () {
    let root: string;
    let dir: string;
    beforeEach(async function () {
      root = await tempDir('tif-served');
      dir = path.join(root, 'testing', '234', '1');
      await mkdir(dir, { recursive: true });
    });
    afterEach(async function () {
      await removeDir(root);
    });
    const get = (app: express.Express, url: string) =>
      request(app)
        .get(url)
        .buffer(true)
        .parse((res, done) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => done(null, Buffer.concat(chunks)));
        });

    it('answer the URL locate() gives (….tiff) with the .tif file when the .tiff is missing', async function () {
      await writeFile(path.join(dir, '1234.405x640.tif'), PYTHON_BYTES);
      const store = new HttpExposedFileSystemStore({ path: root });
      const app = express().use(serveStore(store));
      const url = store.locate({ ...tiff, original: true, created_at: new Date('2024-03-05T06:07:08Z') });
      assert.match(url, /^\/__images__\/testing\/234\/1\/1234\.405x640\.tiff\?_ts=/);
      const res = await get(app, url);
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'image/tiff');
      assert.deepEqual(res.body, PYTHON_BYTES);
      const partial = await request(app).get(url).set('Range', 'bytes=0-3');
      assert.equal(partial.status, 206);
      assert.equal(partial.headers['content-range'], `bytes 0-3/${PYTHON_BYTES.length}`);
    });
    it('serve the .tiff when both exist, and fall through when neither does', async function () {
      await writeFile(path.join(dir, '1234.405x640.tif'), PYTHON_BYTES);
      await writeFile(path.join(dir, '1234.405x640.tiff'), 'ours');
      const app = express().use(staticServer({ root }));
      app.use((_req, res) => res.status(404).send('fell through'));
      assert.equal((await get(app, '/testing/234/1/1234.405x640.tiff')).body.toString(), 'ours');
      const missing = await get(app, '/testing/234/1/9999.405x640.tiff');
      assert.deepEqual([missing.status, missing.body.toString()], [404, 'fell through']);
      // Only the type's own name leads to the other: a .tif URL is not answered with a .tiff.
      await writeFile(path.join(dir, '5.1x1.tiff'), 'only tiff');
      assert.equal((await get(app, '/testing/234/1/5.1x1.tif')).status, 404);
    });
  });

  describe('S3Store over s3rver', function () {
    const server = useS3Server();

    it('reads, stats, lists and deletes testing/1234/405x640.tif as the .tiff it stands for', async function () {
      const bucket = await server.current.createBucket('tif');
      await server.current.client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: 'testing/1234/405x640.tif',
          Body: PYTHON_BYTES,
          ContentType: 'image/tiff',
        }),
      );
      const store = server.current.store(bucket);
      await checkReadsTheOtherExtension(store, () => server.current.listAll(bucket), 'testing/1234/405x640.tif');
    });
  });
});

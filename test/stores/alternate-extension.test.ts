import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { ImageNotFoundError } from '../../src/errors.js';
import { FileSystemStore } from '../../src/stores/fs.js';
import type { Store } from '../../src/stores/store.js';
import { useS3Server } from '../support/s3.js';
import { removeDir, tempDir } from '../support/tmp.js';

/** A TIFF as SQLAlchemy-ImageAttach on Python 3.6 names it: `.tif` (`mimetypes` says `.tiff` since 3.7). */
const tiff = { objectType: 'testing', objectId: 1234, width: 405, height: 640, mimetype: 'image/tiff' };
const PYTHON_BYTES = Buffer.from('tiff bytes python 3.6 wrote');

/** What every store does with a file that lies under `.tif` only. */
async function checkReadsTheOtherExtension(store: Store, names: () => Promise<string[]>, tifName: string): Promise<void> {
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

  describe('S3Store over s3rver', function () {
    const server = useS3Server();

    it('reads, stats, lists and deletes testing/1234/405x640.tif as the .tiff it stands for', async function () {
      const bucket = await server.current.createBucket('tif');
      await server.current.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'testing/1234/405x640.tif', Body: PYTHON_BYTES, ContentType: 'image/tiff' }));
      const store = server.current.store(bucket);
      await checkReadsTheOtherExtension(store, () => server.current.listAll(bucket), 'testing/1234/405x640.tif');
    });
  });
});

import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  ContextError,
  FileSystemStore,
  HttpExposedFileSystemStore,
  ImageNotFoundError,
  InvalidArgumentError,
} from '../../src/index.js';
import { withRequestOrigin } from '../../src/context.js';
import { listTree, removeDir, tempDir } from '../support/tmp.js';
import { failingStream, sampleKey, storeContract } from '../../src/testing.js';

storeContract('FileSystemStore', async () => {
  const root = await tempDir('fs-store');
  return {
    store: new FileSystemStore({ path: root, baseUrl: 'http://static.example.com/' }),
    snapshot: () => listTree(root),
    cleanup: () => removeDir(root),
  };
});

storeContract('HttpExposedFileSystemStore', async () => {
  const root = await tempDir('http-fs-store');
  return {
    store: new HttpExposedFileSystemStore({ path: root, hostUrl: 'http://localhost:3000' }),
    snapshot: () => listTree(root),
    cleanup: () => removeDir(root),
  };
});

describe('FileSystemStore', function () {
  let root: string;
  beforeEach(async function () {
    root = await tempDir('fs-layout');
  });
  afterEach(async function () {
    await removeDir(root);
  });

  it("writes SQLAlchemy-ImageAttach's path layout (testing/234/1/1234.405x640.jpe)", async function () {
    const store = new FileSystemStore({ path: root, baseUrl: 'http://static.example.com/' });
    await store.putFile(sampleKey, Readable.from([Buffer.from('jpeg bytes')]), { reproducible: false });
    assert.equal(await readFile(path.join(root, 'testing/234/1/1234.405x640.jpe'), 'utf8'), 'jpeg bytes');
  });

  it("gives SQLAlchemy-ImageAttach's URL for that path", function () {
    const store = new FileSystemStore({ path: root, baseUrl: 'http://static.example.com/' });
    assert.equal(store.getUrl(sampleKey), 'http://static.example.com/testing/234/1/1234.405x640.jpe');
    const noSlash = new FileSystemStore({ path: root, baseUrl: 'http://static.example.com/images' });
    assert.equal(noSlash.getUrl(sampleKey), 'http://static.example.com/images/testing/234/1/1234.405x640.jpe');
  });

  it('uses floor semantics for negative ids, as Python did', function () {
    const store = new FileSystemStore({ path: root, baseUrl: 'http://s/' });
    assert.equal(store.pathFor({ ...sampleKey, objectId: -1 }), path.join(root, 'testing/999/-1/-1.405x640.jpe'));
    assert.equal(store.pathFor({ ...sampleKey, objectId: -1000 }), path.join(root, 'testing/0/-1/-1000.405x640.jpe'));
    assert.equal(store.pathFor({ ...sampleKey, objectId: -1234 }), path.join(root, 'testing/766/-2/-1234.405x640.jpe'));
  });

  it('maps every known mimetype to a fixed extension', function () {
    const store = new FileSystemStore({ path: root, baseUrl: 'http://s/' });
    const names = [
      'image/jpeg',
      'image/png',
      'image/gif',
      'image/webp',
      'image/avif',
      'image/svg+xml',
      'image/tiff',
      'image/bmp',
    ].map((mimetype) => path.extname(store.pathFor({ ...sampleKey, mimetype })));
    assert.deepEqual(names, ['.jpe', '.png', '.gif', '.webp', '.avif', '.svg', '.tiff', '.bmp']);
  });

  it('names a missing file inside the store, never by its absolute path, in the message (the path is in data)', async function () {
    const store = new FileSystemStore({ path: root, baseUrl: 'http://s/' });
    await assert.rejects(store.getFile(sampleKey), (e: unknown) => {
      assert.ok(e instanceof ImageNotFoundError);
      assert.equal(e.message, 'No image file at testing/234/1/1234.405x640.jpe in the store');
      assert.equal(e.data.path, path.join(root, 'testing/234/1/1234.405x640.jpe'));
      return true;
    });
    await assert.rejects(
      store.putLocalFile(sampleKey, path.join(root, 'gone.jpg'), { reproducible: false }),
      (e: unknown) => {
        assert.ok(e instanceof ImageNotFoundError);
        assert.ok(!e.message.includes(root), e.message);
        return true;
      },
    );
  });

  it('removes the folders a failed first write created', async function () {
    const store = new FileSystemStore({ path: root, baseUrl: 'http://s/' });
    await assert.rejects(store.putFile(sampleKey, failingStream([Buffer.from('half')]), { reproducible: false }));
    assert.deepEqual(await listTree(root), []);
  });

  it('prunes emptied folders on delete, keeping ones still in use', async function () {
    const store = new FileSystemStore({ path: root, baseUrl: 'http://s/' });
    const other = { ...sampleKey, width: 10, height: 15 };
    await store.putFile(sampleKey, Readable.from([Buffer.from('a')]), { reproducible: false });
    await store.putFile(other, Readable.from([Buffer.from('b')]), { reproducible: true });
    await store.deleteFile(sampleKey);
    assert.deepEqual(await listTree(root), [
      'testing/',
      'testing/234/',
      'testing/234/1/',
      'testing/234/1/1234.10x15.jpe',
    ]);
    await store.deleteFile(other);
    assert.deepEqual(await listTree(root), []);
  });

  describe('stagingPath() and putLocalFile(…, { move: true })', function () {
    it('gives a dot-name beside the final file, its folder made, that putLocalFile moves into place', async function () {
      const store = new FileSystemStore({ path: root, baseUrl: 'http://s/' });
      const staged = await store.stagingPath(sampleKey);
      assert.equal(path.dirname(staged), path.dirname(store.pathFor(sampleKey)));
      assert.match(path.basename(staged), /^\.1234\.405x640\.jpe\.[0-9a-f]{12}\.tmp$/);
      await writeFile(staged, 'rendered');
      const { ino } = await stat(staged);
      assert.equal(await store.putLocalFile(sampleKey, staged, { reproducible: true, move: true }), 8);
      // A rename: the very inode, and no temp file left behind.
      assert.equal((await stat(store.pathFor(sampleKey))).ino, ino);
      assert.deepEqual(await listTree(root), [
        'testing/',
        'testing/234/',
        'testing/234/1/',
        'testing/234/1/1234.405x640.jpe',
      ]);
    });

    it('copies a file from another folder with move, then removes it: a file given away is gone either way', async function () {
      const store = new FileSystemStore({ path: path.join(root, 'store'), baseUrl: 'http://s/' });
      const elsewhere = path.join(root, 'upload.bin');
      await writeFile(elsewhere, 'bytes');
      assert.equal(await store.putLocalFile(sampleKey, elsewhere, { reproducible: false, move: true }), 5);
      assert.equal(await readFile(store.pathFor(sampleKey), 'utf8'), 'bytes');
      await assert.rejects(stat(elsewhere), { code: 'ENOENT' });
    });

    it('without move, leaves the file where it was', async function () {
      const store = new FileSystemStore({ path: path.join(root, 'store'), baseUrl: 'http://s/' });
      const elsewhere = path.join(root, 'upload.bin');
      await writeFile(elsewhere, 'bytes');
      await store.putLocalFile(sampleKey, elsewhere, { reproducible: false });
      assert.equal(await readFile(elsewhere, 'utf8'), 'bytes');
    });

    it('returns the size the caller gives instead of reading it, and names a staged file that is not there', async function () {
      const store = new FileSystemStore({ path: root, baseUrl: 'http://s/' });
      const staged = await store.stagingPath(sampleKey);
      await writeFile(staged, 'rendered');
      assert.equal(await store.putLocalFile(sampleKey, staged, { reproducible: true, move: true, size: 8 }), 8);
      await assert.rejects(
        store.putLocalFile(sampleKey, staged, { reproducible: true, move: true, size: 8 }),
        ImageNotFoundError,
      );
    });
  });

  describe('options', function () {
    it('rejects a missing path, naming the option', function () {
      assert.throws(
        () => new FileSystemStore({ path: '', baseUrl: 'http://s/' }),
        (e: unknown) =>
          e instanceof InvalidArgumentError &&
          e.message === 'Expected a folder path (a non-empty string) for options.path but received "" of type string',
      );
    });
    it('rejects a baseUrl that is not an http(s) URL', function () {
      assert.throws(
        () => new FileSystemStore({ path: root, baseUrl: 'static/' }),
        (e: unknown) =>
          e instanceof InvalidArgumentError &&
          e.message === 'Expected an absolute http(s) URL for options.baseUrl but received "static/" of type string',
      );
    });
  });
});

describe('HttpExposedFileSystemStore', function () {
  let root: string;
  beforeEach(async function () {
    root = await tempDir('http-fs-layout');
  });
  afterEach(async function () {
    await removeDir(root);
  });

  it('uses hostUrl and the default __images__ prefix', function () {
    const store = new HttpExposedFileSystemStore({ path: root, hostUrl: 'https://example.com/' });
    assert.equal(store.getUrl(sampleKey), 'https://example.com/__images__/testing/234/1/1234.405x640.jpe');
  });

  it('normalises the prefix slashes', function () {
    const store = new HttpExposedFileSystemStore({ path: root, prefix: '/static/images/', hostUrl: 'http://h' });
    assert.equal(store.getUrl(sampleKey), 'http://h/static/images/testing/234/1/1234.405x640.jpe');
  });

  it('uses the origin of the request being served with trustHostHeader', function () {
    const store = new HttpExposedFileSystemStore({ path: root, trustHostHeader: true });
    const a = withRequestOrigin('http://a.example:8080', () => store.getUrl(sampleKey));
    const b = withRequestOrigin('https://b.example', () => store.getUrl(sampleKey));
    assert.equal(a, 'http://a.example:8080/__images__/testing/234/1/1234.405x640.jpe');
    assert.equal(b, 'https://b.example/__images__/testing/234/1/1234.405x640.jpe');
  });

  it('throws ContextError when told to use the request origin and there is no request', function () {
    for (const options of [{ trustHostHeader: true }, { allowedHosts: ['a.example'] }]) {
      const store = new HttpExposedFileSystemStore({ path: root, ...options });
      assert.throws(
        () => store.getUrl(sampleKey),
        (e: unknown) => e instanceof ContextError && e.code === 'ERR_NO_REQUEST_ORIGIN',
      );
    }
  });

  it('gives root-relative URLs by default, never built from the Host header', function () {
    const store = new HttpExposedFileSystemStore({ path: root });
    assert.equal(store.getUrl(sampleKey), '/__images__/testing/234/1/1234.405x640.jpe');
    assert.equal(
      withRequestOrigin('http://evil.example', () => store.getUrl(sampleKey)),
      '/__images__/testing/234/1/1234.405x640.jpe',
    );
  });

  it('uses the request origin only for allowedHosts, root-relative URLs for other hosts', function () {
    const store = new HttpExposedFileSystemStore({ path: root, allowedHosts: ['a.example:8080', 'B.example'] });
    const url = (origin: string) => withRequestOrigin(origin, () => store.getUrl(sampleKey));
    assert.equal(url('http://a.example:8080'), 'http://a.example:8080/__images__/testing/234/1/1234.405x640.jpe');
    assert.equal(url('https://b.example'), 'https://b.example/__images__/testing/234/1/1234.405x640.jpe');
    assert.equal(url('http://a.example'), '/__images__/testing/234/1/1234.405x640.jpe');
    assert.equal(url('http://evil.example'), '/__images__/testing/234/1/1234.405x640.jpe');
  });

  it('builds URLs from the parsed host, never the raw Host text (allowedHosts and trustHostHeader)', function () {
    for (const options of [{ allowedHosts: ['images.example.com'] }, { trustHostHeader: true }]) {
      const store = new HttpExposedFileSystemStore({ path: root, ...options });
      const url = (origin: string) => withRequestOrigin(origin, () => store.getUrl(sampleKey));
      const clean = `https://images.example.com/__images__/testing/234/1/1234.405x640.jpe`;
      assert.equal(url('https://images.example.com/"onerror="alert(1)'), clean);
      assert.equal(url('https://images.example.com?x=<script>'), clean);
      assert.equal(url('https://images.example.com#"><img'), clean);
      assert.equal(url('https://someone@images.example.com'), clean);
      assert.equal(url('https://IMAGES.example.com'), clean);
    }
  });

  it('checks allowedHosts and trustHostHeader, naming them', function () {
    assert.throws(() => new HttpExposedFileSystemStore({ path: root, allowedHosts: ['http://a.example'] }), {
      message: /for options\.allowedHosts/,
    });
    assert.throws(() => new HttpExposedFileSystemStore({ path: root, trustHostHeader: 'yes' as never }), {
      message: /Expected a boolean for options\.trustHostHeader/,
    });
  });

  it('rejects a prefix that climbs out', function () {
    for (const prefix of ['..', 'a/../b', 'a b', '']) {
      assert.throws(() => new HttpExposedFileSystemStore({ path: root, prefix }), InvalidArgumentError, prefix);
    }
  });
});

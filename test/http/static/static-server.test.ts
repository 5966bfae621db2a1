import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { rename, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import request from 'supertest';
import { InvalidArgumentError } from '../../../src/index.js';
import { staticServer, type StaticServerOptions } from '../../../src/express.js';
import { removeDir, tempDir } from '../../support/tmp.js';
import { appWith, bodyOf, bytes, type Fixtures, listen, MTIME, writeFixtures } from '../fixtures.js';
import { abortMidBody, openDescriptorCount, rawRequest } from '../raw.js';

describe('staticServer', function () {
  let root: string;
  let files: Fixtures;
  let app: express.Express;
  const HTTP_MTIME = MTIME.toUTCString();
  const EARLIER = new Date(MTIME.getTime() - 60_000).toUTCString();
  const LATER = new Date(MTIME.getTime() + 60_000).toUTCString();
  /** The strong tag: `"<size hex>-<mtime ms hex>-<inode hex>-<ctime µs hex>"`. */
  const tagOf = (file: string) => {
    const stats = statSync(file);
    const hex = (value: number) => Math.floor(value).toString(16);
    return `"${hex(stats.size)}-${hex(stats.mtimeMs)}-${hex(stats.ino)}-${hex(stats.ctimeMs * 1000)}"`;
  };
  let PHOTO_TAG: string;

  before(async function () {
    root = await tempDir('static-server');
    files = await writeFixtures(root);
    PHOTO_TAG = tagOf(path.join(root, 'photo.jpe'));
    app = appWith(staticServer({ root }));
  });
  after(async function () {
    await removeDir(root);
  });

  const get = (target: string, headers: Record<string, string> = {}, server = app) =>
    request(server).get(target).set(headers).buffer(true).parse(bytes);

  describe('Content-Type', function () {
    it('comes from the extension, .jpe being JPEG', async function () {
      assert.equal((await get('/photo.jpe')).headers['content-type'], 'image/jpeg');
      assert.equal((await get('/small.png')).headers['content-type'], 'image/png');
      assert.equal((await get('/nested/deeper/thumb.webp')).headers['content-type'], 'image/webp');
    });
    it('is application/octet-stream for an unknown extension', async function () {
      assert.equal((await get('/README')).headers['content-type'], 'application/octet-stream');
    });
  });

  describe('Content-Security-Policy', function () {
    it('forbids script in SVG', async function () {
      const res = await get('/drawing.svg');
      assert.equal(res.headers['content-type'], 'image/svg+xml');
      assert.match(res.headers['content-security-policy'], /default-src 'none'/);
      assert.match(res.headers['content-security-policy'], /sandbox/);
      assert.doesNotMatch(res.headers['content-security-policy'], /script-src/);
    });
    it('is not sent with raster images', async function () {
      assert.equal((await get('/photo.jpe')).headers['content-security-policy'], undefined);
    });
  });

  describe('X-Content-Type-Options', function () {
    it('is nosniff on full and partial answers', async function () {
      assert.equal((await get('/photo.jpe')).headers['x-content-type-options'], 'nosniff');
      assert.equal((await get('/photo.jpe', { Range: 'bytes=0-9' })).headers['x-content-type-options'], 'nosniff');
    });
  });

  describe('Content-Length', function () {
    it('is the file size on a 200 and the range length on a 206', async function () {
      assert.equal((await get('/photo.jpe')).headers['content-length'], '300007');
      assert.equal((await get('/photo.jpe', { Range: 'bytes=10-19' })).headers['content-length'], '10');
    });
    it('is 0 for an empty file', async function () {
      const res = await get('/empty.gif');
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-length'], '0');
      assert.equal(bodyOf(res).length, 0);
    });
  });

  describe('Accept-Ranges', function () {
    it('is bytes', async function () {
      assert.equal((await get('/photo.jpe')).headers['accept-ranges'], 'bytes');
    });
  });

  describe('ETag', function () {
    it('is a strong tag of size, mtime, inode and ctime', async function () {
      assert.equal((await get('/photo.jpe')).headers.etag, PHOTO_TAG);
    });
    for (const [how, replace] of [
      ['rewritten in place (cp -p)', (file: string, bytes: Buffer) => writeFile(file, bytes)],
      [
        'renamed over (rsync -t)',
        async (file: string, bytes: Buffer) => {
          await writeFile(`${file}.tmp`, bytes);
          await rename(`${file}.tmp`, file);
        },
      ],
    ] as const) {
      it(`changes when the file is ${how} with same-size bytes and its mtime restored`, async function () {
        const dir = await tempDir('static-server-etag');
        try {
          const file = path.join(dir, 'a.png');
          const [before, after] = [Buffer.alloc(5000, 'a'), Buffer.alloc(5000, 'b')];
          await writeFile(file, before);
          await utimes(file, MTIME, MTIME);
          const server = appWith(staticServer({ root: dir }));
          const first = await get('/a.png', {}, server);
          const tag = first.headers.etag as string;
          await replace(file, after);
          await utimes(file, MTIME, MTIME);
          assert.equal(statSync(file).mtimeMs, MTIME.getTime());
          const revalidated = await get('/a.png', { 'If-None-Match': tag }, server);
          assert.equal(revalidated.status, 200);
          assert.deepEqual(bodyOf(revalidated), after);
          assert.notEqual(revalidated.headers.etag, tag);
          const resumed = await get('/a.png', { Range: 'bytes=100-', 'If-Range': tag }, server);
          assert.equal(resumed.status, 200);
          assert.deepEqual(bodyOf(resumed), after);
        } finally {
          await removeDir(dir);
        }
      });
    }
  });

  describe('Last-Modified', function () {
    it("is the file's mtime as an HTTP-date", async function () {
      assert.equal((await get('/photo.jpe')).headers['last-modified'], HTTP_MTIME);
    });
  });

  describe('Cache-Control', function () {
    it('is public, max-age=0 by default', async function () {
      assert.equal((await get('/photo.jpe')).headers['cache-control'], 'public, max-age=0');
    });
    it('carries maxAge (seconds) and immutable', async function () {
      const cached = appWith(staticServer({ root, maxAge: 31536000, immutable: true }));
      assert.equal(
        (await get('/photo.jpe', {}, cached)).headers['cache-control'],
        'public, max-age=31536000, immutable',
      );
    });
  });

  describe('Range', function () {
    const partial = async (range: string, start: number, end: number) => {
      const res = await get('/photo.jpe', { Range: range });
      assert.equal(res.status, 206, range);
      assert.equal(res.headers['content-range'], `bytes ${start}-${end}/300007`, range);
      assert.deepEqual(bodyOf(res), files.photo.subarray(start, end + 1), range);
    };
    it('answers bytes=a-b with a 206 of those bytes', async function () {
      await partial('bytes=0-0', 0, 0);
      await partial('bytes=100-65636', 100, 65636);
    });
    it('answers an open range bytes=a- up to the end', async function () {
      await partial('bytes=299000-', 299000, 300006);
    });
    it('answers a suffix range bytes=-n with the last n bytes', async function () {
      await partial('bytes=-500', 299507, 300006);
    });
    it('gives the whole file for a suffix longer than the file (RFC 9110 §14.1.3)', async function () {
      await partial('bytes=-999999', 0, 300006);
    });
    it('clamps an end past the file to its last byte', async function () {
      await partial('bytes=300000-999999999', 300000, 300006);
    });
    it('merges overlapping ranges into one 206', async function () {
      await partial('bytes=0-9,5-19', 0, 19);
    });
    it('answers a range on a one-block file (read in one go)', async function () {
      const res = await get('/small.png', { Range: 'bytes=10-19' });
      assert.equal(res.status, 206);
      assert.deepEqual(bodyOf(res), files.small.subarray(10, 20));
    });
    it('is a 416 with Content-Range bytes */size when no range is satisfiable', async function () {
      for (const range of ['bytes=300007-', 'bytes=400000-400010', 'bytes=-0']) {
        const res = await get('/photo.jpe', { Range: range });
        assert.equal(res.status, 416, range);
        assert.equal(res.headers['content-range'], 'bytes */300007', range);
        assert.equal(bodyOf(res).length, 0);
      }
      const empty = await get('/empty.gif', { Range: 'bytes=0-' });
      assert.equal(empty.status, 416);
      assert.equal(empty.headers['content-range'], 'bytes */0');
    });
    it('sends the whole file for a malformed Range or another unit', async function () {
      for (const range of ['bytes=abc', 'bytes=1-x', 'bytes', 'items=0-5', '0-5']) {
        const res = await get('/photo.jpe', { Range: range });
        assert.equal(res.status, 200, range);
        assert.equal(res.headers['content-range'], undefined, range);
        assert.deepEqual(bodyOf(res), files.photo, range);
      }
    });
    it('sends the whole file (200) for several disjoint ranges', async function () {
      const res = await get('/photo.jpe', { Range: 'bytes=0-9,20-29' });
      assert.equal(res.status, 200);
      assert.deepEqual(bodyOf(res), files.photo);
    });
  });

  describe('If-Range', function () {
    it('with the current ETag honours the range', async function () {
      const res = await get('/photo.jpe', { Range: 'bytes=0-9', 'If-Range': PHOTO_TAG });
      assert.equal(res.status, 206);
      assert.deepEqual(bodyOf(res), files.photo.subarray(0, 10));
    });
    it('with another or a weak ETag sends the whole file', async function () {
      for (const tag of ['"other"', `W/${PHOTO_TAG}`]) {
        const res = await get('/photo.jpe', { Range: 'bytes=0-9', 'If-Range': tag });
        assert.equal(res.status, 200, tag);
        assert.deepEqual(bodyOf(res), files.photo, tag);
      }
    });
    it('with any date, even Last-Modified, sends the whole file (a kept mtime makes dates no strong validator)', async function () {
      for (const value of [HTTP_MTIME, EARLIER, LATER, 'not a date']) {
        const res = await get('/photo.jpe', { Range: 'bytes=0-9', 'If-Range': value });
        assert.equal(res.status, 200, value);
      }
    });
    it('that fails turns an unsatisfiable range into the whole file', async function () {
      const res = await get('/photo.jpe', { Range: 'bytes=999999-', 'If-Range': '"other"' });
      assert.equal(res.status, 200);
    });
  });

  describe('412 Precondition Failed', function () {
    it('when If-Match names no current tag', async function () {
      for (const value of ['"other"', `W/${PHOTO_TAG}`]) {
        const res = await get('/photo.jpe', { 'If-Match': value });
        assert.equal(res.status, 412, value);
        assert.equal(bodyOf(res).length, 0);
      }
    });
    it('not when If-Match names it, in a list, or is *', async function () {
      for (const value of [PHOTO_TAG, `"a", ${PHOTO_TAG}`, '*']) {
        assert.equal((await get('/photo.jpe', { 'If-Match': value })).status, 200, value);
      }
    });
    it('when the file changed after If-Unmodified-Since', async function () {
      assert.equal((await get('/photo.jpe', { 'If-Unmodified-Since': EARLIER })).status, 412);
      assert.equal((await get('/photo.jpe', { 'If-Unmodified-Since': HTTP_MTIME })).status, 200);
      assert.equal((await get('/photo.jpe', { 'If-Unmodified-Since': 'garbage' })).status, 200);
    });
    it('If-Match decides alone when both are sent', async function () {
      assert.equal((await get('/photo.jpe', { 'If-Match': PHOTO_TAG, 'If-Unmodified-Since': EARLIER })).status, 200);
    });
    it('comes before 304 and before Range', async function () {
      assert.equal((await get('/photo.jpe', { 'If-Match': '"other"', 'If-None-Match': PHOTO_TAG })).status, 412);
      assert.equal((await get('/photo.jpe', { 'If-Match': '"other"', Range: 'bytes=0-1' })).status, 412);
    });
  });

  describe('304 Not Modified', function () {
    it('when If-None-Match names the current tag (weak comparison, lists, *)', async function () {
      for (const value of [PHOTO_TAG, `W/${PHOTO_TAG}`, `"a", ${PHOTO_TAG}`, '*']) {
        const res = await get('/photo.jpe', { 'If-None-Match': value });
        assert.equal(res.status, 304, value);
      }
    });
    it('carries the validators and Cache-Control, and no body or entity headers', async function () {
      const { port, close } = await listen(http.createServer(app));
      try {
        const res = await rawRequest(port, '/photo.jpe', 'GET', { 'If-None-Match': PHOTO_TAG });
        assert.equal(res.status, 304);
        assert.equal(res.headers.etag, PHOTO_TAG);
        assert.equal(res.headers['last-modified'], HTTP_MTIME);
        assert.equal(res.headers['cache-control'], 'public, max-age=0');
        assert.equal(res.headers['content-type'], undefined);
        assert.equal(res.headers['content-length'], undefined);
        assert.equal(res.body.length, 0);
      } finally {
        await close();
      }
    });
    it('when not modified since If-Modified-Since', async function () {
      assert.equal((await get('/photo.jpe', { 'If-Modified-Since': HTTP_MTIME })).status, 304);
      assert.equal((await get('/photo.jpe', { 'If-Modified-Since': LATER })).status, 304);
      assert.equal((await get('/photo.jpe', { 'If-Modified-Since': EARLIER })).status, 200);
    });
    it('not when If-None-Match differs, even if If-Modified-Since would allow it', async function () {
      assert.equal((await get('/photo.jpe', { 'If-None-Match': '"other"', 'If-Modified-Since': LATER })).status, 200);
    });
    it('not when the request says Cache-Control: no-cache', async function () {
      assert.equal((await get('/photo.jpe', { 'If-None-Match': PHOTO_TAG, 'Cache-Control': 'no-cache' })).status, 200);
    });
    it('comes before Range', async function () {
      assert.equal((await get('/photo.jpe', { 'If-None-Match': PHOTO_TAG, Range: 'bytes=0-1' })).status, 304);
    });
  });

  describe('HEAD', function () {
    it('sends the headers of a GET and not one body byte', async function () {
      const { port, close } = await listen(http.createServer(app));
      try {
        const full = await rawRequest(port, '/photo.jpe', 'HEAD');
        assert.equal(full.status, 200);
        assert.equal(full.headers['content-length'], '300007');
        assert.equal(full.headers['content-type'], 'image/jpeg');
        assert.equal(full.headers.etag, PHOTO_TAG);
        assert.equal(full.body.length, 0);
        const partial = await rawRequest(port, '/photo.jpe', 'HEAD', { Range: 'bytes=5-9' });
        assert.equal(partial.status, 206);
        assert.equal(partial.headers['content-range'], 'bytes 5-9/300007');
        assert.equal(partial.headers['content-length'], '5');
        assert.equal(partial.body.length, 0);
      } finally {
        await close();
      }
    });
  });

  describe('blockSize', function () {
    for (const blockSize of [1024, 8192, 1024 * 1024]) {
      it(`sends exact bytes with blockSize ${blockSize}`, async function () {
        // cache: false, so photo.jpe (300 KB) is read in blocks too rather than kept in memory.
        const server = appWith(staticServer({ root, blockSize, cache: false }));
        assert.deepEqual(bodyOf(await get('/big.bin', {}, server)), files.big);
        assert.deepEqual(bodyOf(await get('/photo.jpe', {}, server)), files.photo);
        const middle = await get('/big.bin', { Range: 'bytes=1000003-3500002' }, server);
        assert.equal(middle.status, 206);
        assert.deepEqual(bodyOf(middle), files.big.subarray(1000003, 3500003));
      });
    }
  });

  describe('methods', function () {
    it('passes other methods to next() by default', async function () {
      for (const method of ['post', 'put', 'delete', 'options'] as const) {
        const res = await request(app)[method]('/photo.jpe');
        assert.equal(res.status, 418, method);
      }
    });
    it('answers them 405 with Allow when fallthrough is false', async function () {
      const strict = appWith(staticServer({ root, fallthrough: false }));
      for (const method of ['post', 'put', 'delete'] as const) {
        const res = await request(strict)[method]('/photo.jpe');
        assert.equal(res.status, 405, method);
        assert.equal(res.headers.allow, 'GET, HEAD', method);
      }
    });
  });

  describe('fallthrough', function () {
    it('passes a missing file, a folder, a dot-file or a malformed path to next()', async function () {
      for (const target of ['/missing.jpe', '/nested', '/nested/', '/.hidden', '/%E0%A4%A']) {
        assert.equal((await get(target)).status, 418, target);
      }
    });
    it('without it, a missing file is next(error) with a 404 ImageNotFoundError', async function () {
      const strict = appWith(staticServer({ root, fallthrough: false }));
      const res = await request(strict).get('/missing.jpe');
      assert.equal(res.status, 404);
      assert.equal(res.text, '404 ERR_IMAGE_NOT_FOUND');
    });
    it('without it, malformed encoding or a NUL byte is a 400', async function () {
      const strict = appWith(staticServer({ root, fallthrough: false }));
      assert.equal((await request(strict).get('/%E0%A4%A')).text, '400 ERR_INVALID_ARGUMENT');
      assert.equal((await request(strict).get('/photo.jpe%00')).text, '400 ERR_INVALID_ARGUMENT');
    });
  });

  describe('prefix', function () {
    it('serves only below the prefix and leaves the rest to next()', async function () {
      const prefixed = appWith(staticServer({ root, prefix: '/static/files/', fallthrough: false }));
      assert.deepEqual(bodyOf(await get('/static/files/photo.jpe', {}, prefixed)), files.photo);
      assert.deepEqual(bodyOf(await get('/static/files/photo.jpe?v=1', {}, prefixed)), files.photo);
      for (const target of [
        '/photo.jpe',
        '/static/files',
        '/static/filesphoto.jpe',
        '/static/photo.jpe',
        '/other/files/photo.jpe',
      ]) {
        assert.equal((await get(target, {}, prefixed)).status, 418, target);
      }
    });
    it('works under an Express mount path too', async function () {
      const mounted = express();
      mounted.use('/mount', staticServer({ root }));
      assert.deepEqual(bodyOf(await get('/mount/photo.jpe', {}, mounted)), files.photo);
    });
  });

  describe('file changes', function () {
    let dir: string;
    let changing: express.Express;
    beforeEach(async function () {
      dir = await tempDir('static-changes');
      changing = appWith(staticServer({ root: dir }));
    });
    afterEach(async function () {
      await removeDir(dir);
    });

    it('serves the new bytes and tag after a file is rewritten or replaced', async function () {
      const file = path.join(dir, 'a.png');
      await writeFile(file, 'first');
      const first = await get('/a.png', {}, changing);
      assert.equal(bodyOf(first).toString(), 'first');
      await writeFile(file, 'second!');
      const second = await get('/a.png', {}, changing);
      assert.equal(bodyOf(second).toString(), 'second!');
      assert.notEqual(second.headers.etag, first.headers.etag);
      // Same size, replaced by rename as the stores do.
      await writeFile(path.join(dir, 'next.tmp'), 'third!!');
      await rename(path.join(dir, 'next.tmp'), file);
      assert.equal(bodyOf(await get('/a.png', {}, changing)).toString(), 'third!!');
    });
    it('stops serving a file once it is deleted', async function () {
      await writeFile(path.join(dir, 'gone.png'), 'bytes');
      assert.equal((await get('/gone.png', {}, changing)).status, 200);
      await rm(path.join(dir, 'gone.png'));
      assert.equal((await get('/gone.png', {}, changing)).status, 418);
    });
    it('stops serving a path once it becomes a symlink out of the root', async function () {
      const outside = await tempDir('static-outside');
      try {
        await writeFile(path.join(outside, 'secret.png'), 'SECRET');
        await writeFile(path.join(dir, 'swap.png'), 'public');
        assert.equal(bodyOf(await get('/swap.png', {}, changing)).toString(), 'public');
        await rm(path.join(dir, 'swap.png'));
        await symlink(path.join(outside, 'secret.png'), path.join(dir, 'swap.png'));
        const res = await get('/swap.png', {}, changing);
        assert.equal(res.status, 418);
        assert.doesNotMatch(bodyOf(res).toString(), /SECRET/);
      } finally {
        await removeDir(outside);
      }
    });
    it('serves a symlink that stays inside the root', async function () {
      await writeFile(path.join(dir, 'target.png'), 'inside');
      await symlink('target.png', path.join(dir, 'alias.png'));
      assert.equal(bodyOf(await get('/alias.png', {}, changing)).toString(), 'inside');
    });
    it('gives a new tag when only the mtime changes, so an old If-None-Match gets the file', async function () {
      const file = path.join(dir, 'dated.png');
      await writeFile(file, 'x');
      const tag = (await get('/dated.png', {}, changing)).headers.etag;
      await utimes(file, MTIME, MTIME);
      assert.equal((await get('/dated.png', { 'If-None-Match': tag }, changing)).status, 200);
    });
  });

  describe('clients that go away', function () {
    it('leave no open file descriptor behind, after 200 aborted downloads', async function () {
      this.timeout(60_000);
      const { port, close } = await listen(http.createServer(appWith(staticServer({ root, blockSize: 16 * 1024 }))));
      try {
        // One full request first, so whatever is opened once (and kept) is in the baseline.
        await rawRequest(port, '/small.png');
        await settle();
        const before = openDescriptorCount();
        for (let batch = 0; batch < 10; batch++) {
          await Promise.all(Array.from({ length: 20 }, () => abortMidBody(port, '/big.bin')));
        }
        assert.equal(await settledCount(before), before);
      } finally {
        await close();
      }
    });
    it('answers without a body (HEAD, 304, 412, 416) close the file too', async function () {
      const { port, close } = await listen(http.createServer(app));
      try {
        await rawRequest(port, '/small.png');
        await settle();
        const before = openDescriptorCount();
        for (let i = 0; i < 25; i++) {
          await rawRequest(port, '/photo.jpe', 'HEAD');
          await rawRequest(port, '/photo.jpe', 'GET', { 'If-None-Match': PHOTO_TAG });
          await rawRequest(port, '/photo.jpe', 'GET', { 'If-Match': '"other"' });
          await rawRequest(port, '/photo.jpe', 'GET', { Range: 'bytes=999999-' });
        }
        assert.equal(await settledCount(before), before);
      } finally {
        await close();
      }
    });
  });

  describe('options', function () {
    const rejects = (options: unknown, message: string) =>
      assert.throws(
        () => staticServer(options as StaticServerOptions),
        (error: unknown) => error instanceof InvalidArgumentError && error.message === message,
      );
    it('needs an options object with a root', function () {
      rejects(undefined, 'Expected an object with a root folder for options but received undefined');
      rejects(
        { root: '' },
        'Expected a folder path (a non-empty string) for options.root but received "" of type string',
      );
      rejects(
        { root: 42 },
        'Expected a folder path (a non-empty string) for options.root but received 42 of type number',
      );
    });
    it('checks prefix', function () {
      rejects(
        { root, prefix: 'a b' },
        'Expected a URL path like "/" or "/static/images" for options.prefix but received "a b" of type string',
      );
      rejects(
        { root, prefix: '/static/../etc' },
        'Expected a URL path like "/" or "/static/images" for options.prefix but received "/static/../etc" of type string',
      );
    });
    it('checks blockSize', function () {
      const expected = 'an integer from 1 to 1073741824 (bytes) for options.blockSize';
      rejects({ root, blockSize: 0 }, `Expected ${expected} but received 0 of type number`);
      rejects({ root, blockSize: 1.5 }, `Expected ${expected} but received 1.5 of type number`);
      rejects({ root, blockSize: '64' }, `Expected ${expected} but received "64" of type string`);
    });
    it('checks maxAge, immutable and fallthrough', function () {
      rejects(
        { root, maxAge: -1 },
        'Expected an integer >= 0 (seconds) for options.maxAge but received -1 of type number',
      );
      rejects({ root, immutable: 'yes' }, 'Expected a boolean for options.immutable but received "yes" of type string');
      rejects({ root, fallthrough: 0 }, 'Expected a boolean for options.fallthrough but received 0 of type number');
    });
  });
});

/** Lets the event loop run the closes that follow a response. */
async function settle(): Promise<void> {
  await sleep(50);
}

/** Waits up to 5 s for the descriptor count to come back to `target`, and returns the last count. */
async function settledCount(target: number): Promise<number> {
  let count = openDescriptorCount();
  for (let waited = 0; count > target && waited < 5000; waited += 50) {
    await sleep(50);
    count = openDescriptorCount();
  }
  return count;
}

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { realpath, rename, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import request from 'supertest';
import { ContentCache, ENTRY_OVERHEAD_BYTES } from '../../../src/http/static/content-cache.js';
import { canStatSynchronously } from '../../../src/http/static/local-filesystems.js';
import { InvalidArgumentError } from '../../../src/index.js';
import { staticServer, type StaticServerOptions } from '../../../src/express.js';
import { removeDir, tempDir } from '../../support/tmp.js';
import { appWith, bodyOf, bytes } from '../fixtures.js';

/** Old enough that the cache keeps the bytes (it skips files written in the last 2 s). */
const PAST = new Date('2024-03-05T06:07:08.000Z');
const LATER_PAST = new Date(PAST.getTime() + 60_000);

describe('staticServer content cache', function () {
  let dir: string;
  let serve: ReturnType<typeof staticServer>;
  let app: ReturnType<typeof appWith>;
  /** What a file of `size` bytes named like `a.png` counts against maxBytes. */
  let cost: (size: number) => number;
  /** Room for three 300-byte files, not four. */
  let maxBytes: number;
  beforeEach(async function () {
    dir = await tempDir('static-cache');
    const pathLength = path.join(await realpath(dir), 'a.png').length;
    cost = (size) => size + pathLength + ENTRY_OVERHEAD_BYTES;
    maxBytes = 3 * cost(300) + 100;
    serve = staticServer({ root: dir, cache: { maxBytes, maxFileBytes: 400 } });
    app = appWith(serve);
  });
  afterEach(async function () {
    await removeDir(dir);
  });

  const get = (target: string, headers: Record<string, string> = {}, server = app) =>
    request(server).get(target).set(headers).buffer(true).parse(bytes);
  /** Writes `bytes` to `name` under the root, dated `mtime`. */
  const put = async (name: string, bytes: Buffer | string, mtime = PAST) => {
    const file = path.join(dir, name);
    await writeFile(file, bytes);
    await utimes(file, mtime, mtime);
    return file;
  };

  describe('hits', function () {
    it('serve the same bytes and headers as the first, disk-read answer', async function () {
      const content = randomBytes(300);
      await put('a.png', content);
      const first = await get('/a.png');
      const second = await get('/a.png');
      assert.deepEqual(bodyOf(first), content);
      assert.deepEqual(bodyOf(second), content);
      for (const name of [
        'content-type',
        'content-length',
        'etag',
        'last-modified',
        'cache-control',
        'x-content-type-options',
      ]) {
        assert.equal(second.headers[name], first.headers[name], name);
      }
      assert.deepEqual(serve.cacheStats(), { entries: 1, bytes: cost(300), hits: 1, misses: 1 });
    });
    it('answer ranges, 304, 412, 416 and HEAD from memory', async function () {
      const content = randomBytes(300);
      await put('a.png', content);
      const tag = (await get('/a.png')).headers.etag as string;
      const partial = await get('/a.png', { Range: 'bytes=10-19' });
      assert.equal(partial.status, 206);
      assert.equal(partial.headers['content-range'], 'bytes 10-19/300');
      assert.deepEqual(bodyOf(partial), content.subarray(10, 20));
      assert.equal((await get('/a.png', { 'If-None-Match': tag })).status, 304);
      assert.equal((await get('/a.png', { 'If-Match': '"other"' })).status, 412);
      const unsatisfiable = await get('/a.png', { Range: 'bytes=999-' });
      assert.equal(unsatisfiable.status, 416);
      assert.equal(unsatisfiable.headers['content-range'], 'bytes */300');
      const head = await request(app).head('/a.png');
      assert.equal(head.status, 200);
      assert.equal(head.headers['content-length'], '300');
      assert.equal(serve.cacheStats()!.hits, 5);
    });
    it('fill the cache from a range request too', async function () {
      const content = randomBytes(300);
      await put('a.png', content);
      assert.deepEqual(bodyOf(await get('/a.png', { Range: 'bytes=-5' })), content.subarray(295));
      assert.deepEqual(bodyOf(await get('/a.png')), content);
      assert.equal(serve.cacheStats()!.hits, 1);
    });
  });

  describe('changed files', function () {
    // The temp folder is on a local disk here: once its device is learnt, these run the
    // synchronous check of local-filesystems.ts (before that, the asynchronous one; both must hold).
    beforeEach(async function () {
      canStatSynchronously(statSync(dir).dev, dir);
      await new Promise((resolve) => setTimeout(resolve, 20));
    });
    it('are read again when rewritten with the same size and a new mtime', async function () {
      await put('a.png', 'first-bytes');
      assert.equal(bodyOf(await get('/a.png')).toString(), 'first-bytes');
      await put('a.png', 'other-bytes', LATER_PAST);
      assert.equal(bodyOf(await get('/a.png')).toString(), 'other-bytes');
      assert.equal(bodyOf(await get('/a.png')).toString(), 'other-bytes');
      assert.deepEqual(serve.cacheStats(), { entries: 1, bytes: cost(11), hits: 1, misses: 2 });
    });
    it('are read again when rewritten with the same size and the same mtime (ctime moves)', async function () {
      await put('a.png', 'first-bytes');
      await get('/a.png');
      await put('a.png', 'other-bytes');
      assert.equal(bodyOf(await get('/a.png')).toString(), 'other-bytes');
    });
    it('are read again when rewritten with another size', async function () {
      await put('a.png', 'short');
      await get('/a.png');
      await put('a.png', 'much longer now');
      const res = await get('/a.png');
      assert.equal(bodyOf(res).toString(), 'much longer now');
      assert.equal(res.headers['content-length'], '15');
    });
    it('are read again when replaced by rename, as the stores write', async function () {
      const file = await put('a.png', 'first-bytes');
      await get('/a.png');
      await put('next.tmp', 'renamed-in!');
      await rename(path.join(dir, 'next.tmp'), file);
      assert.equal(bodyOf(await get('/a.png')).toString(), 'renamed-in!');
    });
    it('are refused once swapped for a symlink out of the root', async function () {
      const outside = await tempDir('static-cache-outside');
      try {
        await writeFile(path.join(outside, 'secret.png'), 'SECRET');
        await utimes(path.join(outside, 'secret.png'), PAST, PAST);
        await put('swap.png', 'public');
        await get('/swap.png');
        assert.equal(serve.cacheStats()!.entries, 1);
        await rm(path.join(dir, 'swap.png'));
        await symlink(path.join(outside, 'secret.png'), path.join(dir, 'swap.png'));
        const res = await get('/swap.png');
        assert.equal(res.status, 418);
        assert.doesNotMatch(bodyOf(res).toString(), /SECRET|public/);
      } finally {
        await removeDir(outside);
      }
    });
    it('are no longer served once deleted', async function () {
      await put('gone.png', 'bytes');
      await get('/gone.png');
      await rm(path.join(dir, 'gone.png'));
      assert.equal((await get('/gone.png')).status, 418);
    });
    it('are not kept while their mtime is under 2 s old (timestamps may not have ticked yet)', async function () {
      await writeFile(path.join(dir, 'fresh.png'), 'fresh');
      assert.equal(bodyOf(await get('/fresh.png')).toString(), 'fresh');
      assert.equal(serve.cacheStats()!.entries, 0);
    });
  });

  describe('limits', function () {
    it('evicts the least recently used files beyond maxBytes', async function () {
      for (const name of ['a', 'b', 'c']) await put(`${name}.png`, Buffer.alloc(300, name));
      await get('/a.png');
      await get('/b.png');
      await get('/c.png');
      await get('/a.png'); // a is now the most recent; b the least
      await put('d.png', Buffer.alloc(300, 'd'));
      await get('/d.png'); // four do not fit: b goes
      assert.deepEqual(serve.cacheStats(), { entries: 3, bytes: 3 * cost(300), hits: 1, misses: 4 });
      assert.deepEqual(bodyOf(await get('/b.png')), Buffer.alloc(300, 'b'));
      assert.equal(serve.cacheStats()!.misses, 5);
      // Bytes are exact whatever was evicted.
      for (const name of ['a', 'c', 'd']) assert.deepEqual(bodyOf(await get(`/${name}.png`)), Buffer.alloc(300, name));
    });
    it('does not keep files larger than maxFileBytes', async function () {
      const content = randomBytes(401);
      await put('big.png', content);
      assert.deepEqual(bodyOf(await get('/big.png')), content);
      assert.deepEqual(bodyOf(await get('/big.png')), content);
      assert.deepEqual(serve.cacheStats(), { entries: 0, bytes: 0, hits: 0, misses: 0 });
    });
    it('is off with cache: false', async function () {
      const off = staticServer({ root: dir, cache: false });
      await put('a.png', 'bytes');
      assert.equal(bodyOf(await get('/a.png', {}, appWith(off))).toString(), 'bytes');
      await put('a.png', 'BYTES', LATER_PAST);
      assert.equal(bodyOf(await get('/a.png', {}, appWith(off))).toString(), 'BYTES');
      assert.equal(off.cacheStats(), null);
    });
    it('is on by default, with 32 MiB and 1 MiB files', async function () {
      const defaults = staticServer({ root: dir });
      await put('a.png', randomBytes(1024 * 1024));
      await put('b.png', randomBytes(1024 * 1024 + 1));
      await get('/a.png', {}, appWith(defaults));
      await get('/b.png', {}, appWith(defaults));
      assert.deepEqual(defaults.cacheStats(), { entries: 1, bytes: cost(1024 * 1024), hits: 0, misses: 1 });
    });
    it("counts each entry's path and overhead against maxBytes, not only its body", async function () {
      // Body bytes only would let 20 files of 10 bytes (200) sit in a bound of ~4 KB, each costing
      // a kilobyte of memory; counted as they cost, only what fits stays.
      for (let i = 0; i < 20; i++) await put(`${String.fromCharCode(97 + i)}.png`, Buffer.alloc(10, i));
      for (let i = 0; i < 20; i++) await get(`/${String.fromCharCode(97 + i)}.png`);
      const stats = serve.cacheStats()!;
      assert.equal(stats.entries, Math.floor(maxBytes / cost(10)));
      assert.equal(stats.bytes, stats.entries * cost(10));
      assert.ok(stats.bytes <= maxBytes);
    });
    it('keeps a small body in memory of its own, not a slice that pins a slab of the shared pool', async function () {
      const file = await put('a.png', 'tiny body');
      const stats = statSync(file);
      const pooled = Buffer.from('tiny body');
      assert.ok(pooled.buffer.byteLength > pooled.length, 'Buffer.from of a short string slices the pool');
      const cache = new ContentCache(maxBytes, 400);
      cache.set(file, stats, stats, pooled);
      const kept = cache.get(file, stats)!;
      assert.equal(kept.toString(), 'tiny body');
      assert.equal(kept.buffer.byteLength, kept.length);
    });
  });

  describe('options', function () {
    const rejects = (cache: unknown, message: string) =>
      assert.throws(
        () => staticServer({ root: dir, cache } as StaticServerOptions),
        (error: unknown) => error instanceof InvalidArgumentError && error.message === message,
      );
    it('checks cache is false or an object', function () {
      rejects(
        true,
        'Expected false or an object { maxBytes?, maxFileBytes? } for options.cache but received true of type boolean',
      );
      rejects(null, 'Expected false or an object { maxBytes?, maxFileBytes? } for options.cache but received null');
    });
    it('checks maxBytes', function () {
      const expected = 'an integer from 1 to 1099511627776 (bytes) for options.cache.maxBytes';
      rejects({ maxBytes: 0 }, `Expected ${expected} but received 0 of type number`);
      rejects({ maxBytes: 1.5 }, `Expected ${expected} but received 1.5 of type number`);
      rejects({ maxBytes: '32' }, `Expected ${expected} but received "32" of type string`);
    });
    it('checks maxFileBytes against maxBytes', function () {
      rejects(
        { maxFileBytes: 0 },
        'Expected an integer from 1 to options.cache.maxBytes (33554432) for options.cache.maxFileBytes but received 0 of type number',
      );
      rejects(
        { maxBytes: 100, maxFileBytes: 101 },
        'Expected an integer from 1 to options.cache.maxBytes (100) for options.cache.maxFileBytes but received 101 of type number',
      );
    });
  });
});

/**
 * The store contract suite: the checks every built-in store passes (filesystem, HTTP-exposed
 * filesystem, S3, sandbox), shipped so that a user's own store is held to the same rules, as
 * Shrine ships its storage linter. It imports no test runner: the caller's runs it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { ImageAttachError, ImageNotFoundError, InvalidArgumentError } from '../errors.js';
import * as check from '../util/check.js';
import type { ImageKey, NormalizedKey, StoredImage } from '../stores/keys.js';
import { type ByteRange, Store } from '../stores/store.js';
import { failingStream, sampleKey } from './samples.js';
import { resolveTestFunctions, type TestFunctions } from './test-functions.js';

/** A fresh store for one check, and what the suite may ask of its backend. */
export interface StoreUnderTest {
  /** An empty store, used by one check only. */
  store: Store;
  /**
   * Every name the backend holds: files, objects and temp files alike, in any order. With it, the
   * suite also checks that failed writes, deletes and refused keys leave nothing behind.
   */
  snapshot?: () => Promise<string[]> | string[];
  /** Run after each check, passed or failed: remove the folder, the bucket… */
  cleanup?: () => Promise<void> | void;
}

/**
 * Registers the store contract suite, `<name>: store contract`, with the test runner: each check
 * gets a fresh store from `makeStore`.
 *
 * The runner's functions are `testFunctions` when given; else the global `describe`, `it`,
 * `beforeEach` and `afterEach` when all four are defined (as mocha defines them); else
 * node:test's. Call it where a `describe` may be called: at the top of a test file or in a suite.
 * @throws InvalidArgumentError for a `name` that is no string, a `makeStore` that is no function or
 * `testFunctions` that lack one of the four; each check fails with it when `makeStore` gives no
 * `{ store }` with a `Store`
 * @example
 * // mocha: test/memory-store.test.ts
 * import { storeContract } from 'objection-imageattach/testing';
 * storeContract('MemoryStore', () => ({ store: new MemoryStore() }));
 */
export function storeContract(
  name: string,
  makeStore: () => StoreUnderTest | Promise<StoreUnderTest>,
  testFunctions?: TestFunctions,
): void {
  check.nonEmptyString(name, 'name');
  check.func(makeStore, 'makeStore');
  const { describe, it, beforeEach, afterEach } = resolveTestFunctions(testFunctions);

  describe(`${name}: store contract`, () => {
    let subject: StoreUnderTest | undefined;
    let store: Store;
    beforeEach(async () => {
      subject = checkedSubject(await makeStore());
      store = subject.store;
    });
    afterEach(async () => {
      await subject?.cleanup?.();
      subject = undefined;
    });
    /** What the backend holds, sorted; `undefined` when the store under test gives no snapshot. */
    const snapshot = async (): Promise<string[] | undefined> => {
      const names = await subject?.snapshot?.();
      return names === undefined ? undefined : [...names].sort();
    };
    /** Checks that the backend holds `expected` (what a snapshot showed), when it can be seen. */
    const assertHolds = async (expected: string[] | undefined, what: string): Promise<void> => {
      const now = await snapshot();
      if (now !== undefined) assert.deepEqual(now, expected ?? [], what);
    };
    /** Writes `chunks` (an original's file, unless `reproducible`) as the file of `key`. */
    const put = (key: ImageKey, chunks: Buffer[] | Readable, reproducible = false): Promise<void> =>
      store.putFile(key, Array.isArray(chunks) ? Readable.from(chunks) : chunks, { reproducible });
    /** The bytes `getFile` reads. */
    const read = async (key: ImageKey, range?: ByteRange): Promise<Buffer> => buffer(await store.getFile(key, range));
    /** Every key `listFiles` gives. */
    const list = async (): Promise<NormalizedKey[]> => {
      const keys = [];
      for await (const key of store.listFiles()) keys.push(key);
      return keys;
    };

    describe('putFile and getFile', () => {
      it('round-trips a streamed file byte for byte', async () => {
        const data = randomBytes(300_000);
        await put(sampleKey, [data.subarray(0, 1000), data.subarray(1000)]);
        assert.ok((await read(sampleKey)).equals(data), 'getFile gave other bytes than putFile was given');
      });

      it('round-trips a Buffer through store() and open()', async () => {
        const data = randomBytes(5000);
        const image: StoredImage = { ...sampleKey, original: true, created_at: new Date() };
        await store.store(image, data);
        assert.ok((await buffer(await store.open(image))).equals(data), 'open gave other bytes than store was given');
      });

      it('replaces an existing file', async () => {
        await put(sampleKey, [Buffer.from('first version')]);
        await put(sampleKey, [Buffer.from('second')]);
        assert.equal((await read(sampleKey)).toString(), 'second');
      });

      it('keeps a 128-bit object id exact', async () => {
        const key = { ...sampleKey, objectId: 0xffffffffffffffffffffffffffffffffn };
        await put(key, [Buffer.from('uuid')]);
        assert.equal((await read({ ...key, objectId: BigInt(key.objectId.toString()) })).toString(), 'uuid');
        const ids = (await list()).map((k) => k.objectId);
        assert.deepEqual(ids, [key.objectId], 'listFiles gives every objectId as the exact bigint');
      });
    });

    describe('putLocalFile', () => {
      it('stores a local file byte for byte and returns its size', async () => {
        const data = randomBytes(70_000);
        const file = path.join(tmpdir(), `oia-local-${process.pid}-${randomBytes(6).toString('hex')}.bin`);
        await writeFile(file, data);
        try {
          assert.equal(await store.putLocalFile(sampleKey, file, { reproducible: true }), data.length);
          assert.ok((await read(sampleKey)).equals(data), 'getFile gave other bytes than the local file holds');
        } finally {
          await rm(file, { force: true });
        }
      });
      it('rejects a missing local file with ImageNotFoundError, storing nothing', async () => {
        const missing = path.join(tmpdir(), `oia-no-such-file-${randomBytes(6).toString('hex')}.bin`);
        await assert.rejects(store.putLocalFile(sampleKey, missing, { reproducible: false }), ImageNotFoundError);
        await assertHolds([], 'the backend holds nothing');
      });
    });

    describe('ranged reads', () => {
      const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
      beforeEach(async () => {
        await put(sampleKey, [data]);
      });
      for (const [start, end] of [
        [0, 0],
        [10, 99],
        [990, 999],
        [0, 999],
      ] as const) {
        it(`reads bytes ${start}-${end}`, async () => {
          const got = await read(sampleKey, { start, end });
          assert.ok(got.equals(data.subarray(start, end + 1)), `getFile gave ${got.length} bytes, not ${start}-${end}`);
        });
      }
      it('stops at the end of the file when the range runs past it', async () => {
        const got = await read(sampleKey, { start: 995, end: 5000 });
        assert.ok(got.equals(data.subarray(995)), `getFile gave ${got.length} bytes, not the last 5`);
      });
      it('rejects a reversed range with InvalidArgumentError', async () => {
        await assert.rejects(
          store.getFile(sampleKey, { start: 10, end: 5 }),
          (e: unknown) => e instanceof InvalidArgumentError && /range\.end/.test(e.message),
        );
      });
    });

    describe('missing files', () => {
      it('getFile rejects with ImageNotFoundError', async () => {
        await assert.rejects(store.getFile(sampleKey), ImageNotFoundError);
      });
      it('statFile answers null', async () => {
        assert.equal(await store.statFile(sampleKey), null);
      });
      it('getUrl needs no file (computation only)', () => {
        assert.equal(typeof store.getUrl(sampleKey), 'string');
      });
    });

    describe('deleteFile', () => {
      it('removes the file, and is idempotent', async () => {
        await put(sampleKey, [Buffer.from('x')]);
        await store.deleteFile(sampleKey);
        await store.deleteFile(sampleKey);
        await assert.rejects(store.getFile(sampleKey), ImageNotFoundError);
        await assertHolds([], 'the backend holds nothing after the delete');
      });
      it('is not an error for a file that never existed', async () => {
        await store.deleteFile({ ...sampleKey, objectId: 99 });
      });
    });

    describe('statFile and listFiles', () => {
      it('report the size and the keys stored', async () => {
        await put(sampleKey, [Buffer.alloc(321)]);
        await put({ ...sampleKey, width: 100, height: 158 }, [Buffer.alloc(12)], true);
        assert.equal((await store.statFile(sampleKey))?.size, 321);
        const listed = (await list()).map((k) => `${k.objectType}/${k.objectId}/${k.width}x${k.height}/${k.mimetype}`);
        assert.deepEqual(listed.sort(), ['testing/1234/100x158/image/jpeg', 'testing/1234/405x640/image/jpeg']);
      });
    });

    describe('atomic writes', () => {
      it('leaves nothing behind when the input stream fails halfway', async () => {
        const before = await snapshot();
        await assert.rejects(
          put(sampleKey, failingStream([randomBytes(64 * 1024), randomBytes(64 * 1024)])),
          (e: unknown) => e instanceof ImageAttachError && /client went away/.test(e.message),
        );
        await assert.rejects(store.getFile(sampleKey), ImageNotFoundError);
        await assertHolds(before, 'the failed write left something behind');
      });
      it('keeps the previous file intact when a replacement fails', async () => {
        await put(sampleKey, [Buffer.from('good')]);
        const before = await snapshot();
        await assert.rejects(put(sampleKey, failingStream([Buffer.from('bad')])), ImageAttachError);
        assert.equal((await read(sampleKey)).toString(), 'good');
        await assertHolds(before, 'the failed replacement left something behind');
      });
    });

    describe('bad keys', () => {
      const bad: Array<[string, Partial<ImageKey>, RegExp]> = [
        ['a non-integer object id', { objectId: 1.5 }, /objectId/],
        ['an unsafe number object id', { objectId: 2 ** 60 }, /objectId/],
        ['".." as object type', { objectType: '..' }, /objectType/],
        ['a "/" in the object type', { objectType: 'a/b' }, /objectType/],
        ['a NUL in the object type', { objectType: 'a\0b' }, /objectType/],
        ['a width of 0', { width: 0 }, /width/],
        ['a height of -1', { height: -1 }, /height/],
        ['an unknown mimetype', { mimetype: 'image/x-unknown' }, /mimetype/],
      ];
      for (const [label, change, pattern] of bad) {
        // Through the caller methods, which check keys for every store (the library checks them
        // before each call it makes into a store; a store's own methods need not).
        it(`rejects ${label} with a typed error naming it, writing nothing`, async () => {
          const image: StoredImage = { ...sampleKey, ...change, original: true, created_at: new Date() } as StoredImage;
          await assert.rejects(
            store.store(image, Readable.from([Buffer.from('x')])),
            (e: unknown) => e instanceof ImageAttachError && pattern.test(e.message),
          );
          assert.throws(() => store.locate(image), ImageAttachError);
          await assertHolds([], 'the backend holds nothing');
        });
      }
    });

    describe('locate', () => {
      it('is getUrl plus the _ts cache buster', () => {
        const image: StoredImage = { ...sampleKey, original: true, created_at: new Date('2013-09-20T03:08:39.123Z') };
        const url = store.getUrl(sampleKey);
        assert.equal(store.locate(image), `${url}${url.includes('?') ? '&' : '?'}_ts=20130920030839123000`);
      });
    });
  });
}

/** What `makeStore()` gave, checked, so that a mistake there reads as such and not as a failed check. */
function checkedSubject(subject: StoreUnderTest): StoreUnderTest {
  const expected = '{ store, snapshot?, cleanup? } with an instance of Store';
  check.object(subject, 'makeStore()', expected);
  check.instanceOf(subject.store, Store, 'makeStore().store');
  for (const option of ['snapshot', 'cleanup'] as const) {
    const given: unknown = subject[option];
    if (given !== undefined) check.func(given, `makeStore().${option}`, 'a function or undefined');
  }
  return subject;
}

/**
 * The store contract suite: every store runs it (filesystem, HTTP-exposed filesystem, S3, sandbox).
 * A store plugs in with a factory that makes a fresh, empty store and can list everything its
 * backend holds, temp files included, so the suite can prove a failed write leaves nothing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import {
  ImageAttachError,
  type ImageKey,
  ImageNotFoundError,
  InvalidArgumentError,
  type Store,
  type StoredImage,
} from '../../src/index.js';

export interface StoreUnderTest {
  store: Store;
  /** Every name the backend holds (files, objects, temp files), sorted. */
  snapshot(): Promise<string[]>;
  cleanup(): Promise<void>;
}

export const sampleKey: ImageKey = { objectType: 'testing', objectId: 1234, width: 405, height: 640, mimetype: 'image/jpeg' };

/** A stream that yields `chunks` and then fails, as a client that drops mid-upload would. */
export function failingStream(chunks: Buffer[], error = new Error('client went away')): Readable {
  return new Readable({
    read() {
      const next = chunks.shift();
      if (next) this.push(next);
      else this.destroy(error);
    },
  });
}

export function storeContract(name: string, make: () => Promise<StoreUnderTest>): void {
  describe(`${name}: store contract`, function () {
    let subject: StoreUnderTest;
    let store: Store;
    beforeEach(async function () {
      subject = await make();
      store = subject.store;
    });
    afterEach(async function () {
      await subject.cleanup();
    });

    describe('putFile and getFile', function () {
      it('round-trips a streamed file byte for byte', async function () {
        const data = randomBytes(300_000);
        await store.putFile(sampleKey, Readable.from([data.subarray(0, 1000), data.subarray(1000)]), { reproducible: false });
        assert.ok((await buffer(await store.getFile(sampleKey))).equals(data));
      });

      it('round-trips a Buffer through store() and open()', async function () {
        const data = randomBytes(5000);
        const image: StoredImage = { ...sampleKey, original: true, created_at: new Date() };
        await store.store(image, data);
        assert.ok((await buffer(await store.open(image))).equals(data));
      });

      it('replaces an existing file', async function () {
        await store.putFile(sampleKey, Readable.from([Buffer.from('first version')]), { reproducible: false });
        await store.putFile(sampleKey, Readable.from([Buffer.from('second')]), { reproducible: false });
        assert.equal((await buffer(await store.getFile(sampleKey))).toString(), 'second');
      });

      it('keeps a 128-bit object id exact', async function () {
        const key = { ...sampleKey, objectId: 0xffffffffffffffffffffffffffffffffn };
        await store.putFile(key, Readable.from([Buffer.from('uuid')]), { reproducible: false });
        assert.equal((await buffer(await store.getFile({ ...key, objectId: BigInt(key.objectId.toString()) }))).toString(), 'uuid');
        const listed = [];
        for await (const k of store.listFiles()) listed.push(k);
        assert.deepEqual(listed.map((k) => k.objectId), [key.objectId]);
      });
    });

    describe('putLocalFile', function () {
      it('stores a local file byte for byte and returns its size', async function () {
        const data = randomBytes(70_000);
        const file = path.join(tmpdir(), `oia-local-${process.pid}-${Date.now()}.bin`);
        await writeFile(file, data);
        try {
          assert.equal(await store.putLocalFile(sampleKey, file, { reproducible: true }), data.length);
          assert.ok((await buffer(await store.getFile(sampleKey))).equals(data));
        } finally {
          await rm(file, { force: true });
        }
      });
      it('rejects a missing local file with ImageNotFoundError, storing nothing', async function () {
        await assert.rejects(store.putLocalFile(sampleKey, path.join(tmpdir(), 'oia-no-such-file.bin'), { reproducible: false }), ImageNotFoundError);
        assert.deepEqual(await subject.snapshot(), []);
      });
    });

    describe('ranged reads', function () {
      const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
      beforeEach(async function () {
        await store.putFile(sampleKey, Readable.from([data]), { reproducible: false });
      });
      for (const [start, end] of [[0, 0], [10, 99], [990, 999], [0, 999]] as const) {
        it(`reads bytes ${start}-${end}`, async function () {
          const got = await buffer(await store.getFile(sampleKey, { start, end }));
          assert.ok(got.equals(data.subarray(start, end + 1)));
        });
      }
      it('stops at the end of the file when the range runs past it', async function () {
        const got = await buffer(await store.getFile(sampleKey, { start: 995, end: 5000 }));
        assert.ok(got.equals(data.subarray(995)));
      });
      it('rejects a reversed range with InvalidArgumentError', async function () {
        await assert.rejects(store.getFile(sampleKey, { start: 10, end: 5 }), (e: unknown) => e instanceof InvalidArgumentError && /range\.end/.test(e.message));
      });
    });

    describe('missing files', function () {
      it('getFile rejects with ImageNotFoundError', async function () {
        await assert.rejects(store.getFile(sampleKey), ImageNotFoundError);
      });
      it('statFile answers null', async function () {
        assert.equal(await store.statFile(sampleKey), null);
      });
      it('getUrl needs no file (computation only)', function () {
        assert.equal(typeof store.getUrl(sampleKey), 'string');
      });
    });

    describe('deleteFile', function () {
      it('removes the file, and is idempotent', async function () {
        await store.putFile(sampleKey, Readable.from([Buffer.from('x')]), { reproducible: false });
        await store.deleteFile(sampleKey);
        await store.deleteFile(sampleKey);
        await assert.rejects(store.getFile(sampleKey), ImageNotFoundError);
        assert.deepEqual(await subject.snapshot(), []);
      });
      it('is not an error for a file that never existed', async function () {
        await store.deleteFile({ ...sampleKey, objectId: 99 });
      });
    });

    describe('statFile and listFiles', function () {
      it('report the size and the keys stored', async function () {
        await store.putFile(sampleKey, Readable.from([Buffer.alloc(321)]), { reproducible: false });
        const thumb = { ...sampleKey, width: 100, height: 158 };
        await store.putFile(thumb, Readable.from([Buffer.alloc(12)]), { reproducible: true });
        assert.equal((await store.statFile(sampleKey))?.size, 321);
        const listed = [];
        for await (const key of store.listFiles()) listed.push(`${key.objectType}/${key.objectId}/${key.width}x${key.height}/${key.mimetype}`);
        assert.deepEqual(listed.sort(), ['testing/1234/100x158/image/jpeg', 'testing/1234/405x640/image/jpeg']);
      });
    });

    describe('atomic writes', function () {
      it('leaves nothing behind when the input stream fails halfway', async function () {
        const before = await subject.snapshot();
        await assert.rejects(
          store.putFile(sampleKey, failingStream([randomBytes(64 * 1024), randomBytes(64 * 1024)]), { reproducible: false }),
          (e: unknown) => e instanceof ImageAttachError && /client went away/.test(e.message),
        );
        assert.deepEqual(await subject.snapshot(), before);
      });
      it('keeps the previous file intact when a replacement fails', async function () {
        await store.putFile(sampleKey, Readable.from([Buffer.from('good')]), { reproducible: false });
        const before = await subject.snapshot();
        await assert.rejects(store.putFile(sampleKey, failingStream([Buffer.from('bad')]), { reproducible: false }), ImageAttachError);
        assert.equal((await buffer(await store.getFile(sampleKey))).toString(), 'good');
        assert.deepEqual(await subject.snapshot(), before);
      });
    });

    describe('bad keys', function () {
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
        it(`rejects ${label} with a typed error naming it, writing nothing`, async function () {
          const key = { ...sampleKey, ...change } as ImageKey;
          await assert.rejects(
            store.putFile(key, Readable.from([Buffer.from('x')]), { reproducible: false }),
            (e: unknown) => e instanceof ImageAttachError && pattern.test(e.message),
          );
          assert.throws(() => store.getUrl(key), ImageAttachError);
          assert.deepEqual(await subject.snapshot(), []);
        });
      }
    });

    describe('locate', function () {
      it('is getUrl plus the _ts cache buster', function () {
        const image: StoredImage = { ...sampleKey, original: true, created_at: new Date('2013-09-20T03:08:39.123Z') };
        const url = store.getUrl(sampleKey);
        assert.equal(store.locate(image), `${url}${url.includes('?') ? '&' : '?'}_ts=20130920030839123000`);
      });
    });
  });
}

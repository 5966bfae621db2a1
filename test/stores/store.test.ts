import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { ImageNotFoundError, InvalidArgumentError } from '../../src/errors.js';
import { checked } from '../../src/stores/checked-calls.js';
import { FileSystemStore } from '../../src/stores/fs.js';
import type { ImageKey, NormalizedKey } from '../../src/stores/keys.js';
import { type FileStat, type PutFileOptions, Store } from '../../src/stores/store.js';
import { RecordingStore } from '../support/stores.js';

/** A user's own store, as small as the contract allows: it checks nothing and records each call. */
class MapStore extends Store {
  readonly files = new Map<string, Buffer>();
  readonly calls: Array<[string, ImageKey]> = [];
  private name(key: ImageKey): string {
    return `${key.objectType}/${key.objectId}/${key.width}x${key.height}/${key.mimetype}`;
  }
  async putFile(key: ImageKey, stream: Readable, _options: PutFileOptions): Promise<void> {
    this.calls.push(['putFile', key]);
    this.files.set(this.name(key), await buffer(stream));
  }
  async getFile(key: ImageKey): Promise<Readable> {
    this.calls.push(['getFile', key]);
    const data = this.files.get(this.name(key));
    if (data === undefined) throw new ImageNotFoundError(`no ${this.name(key)}`);
    return Readable.from([data]);
  }
  getUrl(key: ImageKey): string {
    this.calls.push(['getUrl', key]);
    return `https://example.com/${this.name(key)}`;
  }
  async deleteFile(key: ImageKey): Promise<void> {
    this.calls.push(['deleteFile', key]);
    this.files.delete(this.name(key));
  }
  async statFile(key: ImageKey): Promise<FileStat | null> {
    this.calls.push(['statFile', key]);
    const data = this.files.get(this.name(key));
    return data === undefined ? null : { size: data.length };
  }
  async *listFiles(): AsyncIterable<NormalizedKey> {}
}

const good = { objectType: 'testing', objectId: 1234, width: 405, height: 640, mimetype: 'image/jpeg' };
const bad: Array<[string, Record<string, unknown>, string]> = [
  ['a missing objectId', { ...good, objectId: undefined }, 'objectId'],
  ['a non-integer objectId', { ...good, objectId: 12.5 }, 'objectId'],
  ['a string objectId that is no integer', { ...good, objectId: 'abc' }, 'objectId'],
  ['an objectType of the wrong type', { ...good, objectType: 7 }, 'objectType'],
  ['a width of the wrong type', { ...good, width: '405' }, 'width'],
];

describe("Store: keys are validated by the caller methods and at the library's calls into a store, before any implementation runs", function () {
  for (const [what, key, argument] of bad) {
    it(`${what}: InvalidArgumentError from every caller method and every library call of a custom store, which is never called`, async function () {
      const store = new MapStore();
      const calls = checked(store);
      const image = { ...(key as never as ImageKey), original: true, created_at: new Date() };
      const expected = (e: unknown) => e instanceof InvalidArgumentError && e.argument === argument;
      const stream = Readable.from([Buffer.from('x')]);
      await assert.rejects(store.store(image, stream), expected);
      assert.equal(stream.destroyed, true, 'the stream handed to store() is ended');
      await assert.rejects(store.open(image), expected);
      assert.throws(() => store.locate(image), expected);
      await assert.rejects(store.delete(image), expected);
      const streamed = Readable.from([Buffer.from('x')]);
      await assert.rejects(calls.putFile(key as never, streamed, { reproducible: false }), expected);
      assert.equal(streamed.destroyed, true, 'the stream handed to putFile is ended');
      await assert.rejects(calls.putLocalFile(key as never, '/nonexistent', { reproducible: false }), expected);
      await assert.rejects(calls.getFile(key as never), expected);
      await assert.rejects(calls.deleteFile(key as never), expected);
      await assert.rejects(calls.statFile(key as never), expected);
      await assert.rejects(calls.stagingPath(key as never), expected);
      assert.throws(() => calls.getUrl(key as never), expected);
      assert.throws(() => calls.localPath(key as never), expected);
      assert.deepEqual(store.calls, []);
    });
  }

  it('a built-in store checks the key at the top of its own methods, and ends the stream handed to putFile', async function () {
    const store = new FileSystemStore({ path: '/tmp/oia-bad-keys', baseUrl: 'http://img.test/' });
    const key = { ...good, objectId: 12.5 } as never;
    const stream = Readable.from([Buffer.from('x')]);
    const expected = (e: unknown) => e instanceof InvalidArgumentError && e.argument === 'objectId';
    await assert.rejects(store.putFile(key, stream, { reproducible: false }), expected);
    assert.equal(stream.destroyed, true);
    await assert.rejects(store.getFile(key), expected);
    await assert.rejects(store.statFile(key), expected);
    await assert.rejects(store.deleteFile(key), expected);
    assert.throws(() => store.getUrl(key), expected);
    assert.throws(() => store.localPath(key), expected);
  });

  it('hands the implementation the key normalised: objectId a bigint (a string of digits accepted)', async function () {
    const store = new MapStore();
    await checked(store).putFile({ ...good, objectId: '1234' as never }, Readable.from([Buffer.from('x')]), {
      reproducible: false,
    });
    assert.equal(
      store.locate({ ...good, original: true, created_at: new Date('2013-09-20T03:08:39.123Z') }),
      'https://example.com/testing/1234/405x640/image/jpeg?_ts=20130920030839123000',
    );
    assert.deepEqual(
      store.calls.map(([, key]) => key),
      [
        { ...good, objectId: 1234n },
        { ...good, objectId: 1234n },
      ],
    );
    assert.equal((await buffer(await store.getFile(good))).toString(), 'x');
  });
});

describe('Store.staging: the one seam for staged writes', function () {
  it("is undefined on a user's store, set on a filesystem store, and undefined again on a subclass with its own putFile (its writes would bypass staging)", function () {
    assert.equal(new MapStore().staging, undefined);
    const options = { path: '/tmp/oia-staging-seam', baseUrl: 'http://img.test/' };
    const store = new FileSystemStore(options);
    assert.equal(typeof store.staging?.stage, 'function');
    assert.equal(store.staging, store.staging, 'one area per store');
    assert.equal(new RecordingStore(options).staging, undefined);
  });
});

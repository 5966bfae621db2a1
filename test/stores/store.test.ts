import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { ImageNotFoundError, InvalidArgumentError } from '../../src/errors.js';
import type { ImageKey, NormalizedKey } from '../../src/stores/keys.js';
import { type FileStat, type PutFileOptions, Store } from '../../src/stores/store.js';

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

describe('Store: keys are validated by the base class, before any implementation runs', function () {
  for (const [what, key, argument] of bad) {
    it(`${what}: InvalidArgumentError from every keyed method of a custom store, which is never called`, async function () {
      const store = new MapStore();
      const stream = Readable.from([Buffer.from('x')]);
      const expected = (e: unknown) => e instanceof InvalidArgumentError && e.argument === argument;
      await assert.rejects(store.putFile(key as never, stream, { reproducible: false }), expected);
      assert.equal(stream.destroyed, true, 'the stream handed to putFile is ended');
      await assert.rejects(store.getFile(key as never), expected);
      await assert.rejects(store.deleteFile(key as never), expected);
      await assert.rejects(store.statFile(key as never), expected);
      assert.throws(() => store.getUrl(key as never), expected);
      await assert.rejects(store.open({ ...(key as never as ImageKey), original: true, created_at: new Date() }), expected);
      assert.throws(() => store.locate({ ...(key as never as ImageKey), original: true, created_at: new Date() }), expected);
      assert.deepEqual(store.calls, []);
    });
  }

  it('hands the implementation the key normalised: objectId a bigint (a string of digits accepted)', async function () {
    const store = new MapStore();
    await store.putFile({ ...good, objectId: '1234' as never }, Readable.from([Buffer.from('x')]), { reproducible: false });
    assert.equal(store.getUrl(good), 'https://example.com/testing/1234/405x640/image/jpeg');
    assert.deepEqual(store.calls.map(([, key]) => key), [
      { ...good, objectId: 1234n },
      { ...good, objectId: 1234n },
    ]);
    assert.equal((await buffer(await store.getFile(good))).toString(), 'x');
  });
});

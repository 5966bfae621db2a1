import assert from 'node:assert/strict';
import { Model } from 'objection';
import { FileSystemStore, ImageAttachError, ImageNotFoundError, InvalidArgumentError } from '../../src/index.js';
import { thumbnailQueue, type ThumbnailJobData } from '../../src/queue.js';
import {
  canonicalJson,
  decodeValue,
  encodeValue,
  isSameOriginal,
  parseJobData,
  thumbnailJobId,
  variantJobId,
} from '../../src/queue/job.js';
import { User, UserPicture } from '../entity/models.js';
import { REDIS_URL } from './support.js';

describe('thumbnail jobs', function () {
  describe('key values through JSON', function () {
    it('keep bigints past 2^53, buffers, dates and composite arrays', function () {
      const id = [
        9007199254740993n,
        'acme',
        7,
        Buffer.from('6ba7b8109dad11d1', 'hex'),
        new Date('2024-05-06T07:08:09.123Z'),
        null,
      ];
      const back = decodeValue(JSON.parse(JSON.stringify(encodeValue(id)))) as unknown[];
      assert.equal(back[0], 9007199254740993n);
      assert.deepEqual(back.slice(1, 3), ['acme', 7]);
      assert.ok(Buffer.isBuffer(back[3]) && (back[3] as Buffer).equals(id[3] as Buffer));
      assert.equal((back[4] as Date).toISOString(), '2024-05-06T07:08:09.123Z');
      assert.equal(back[5], null);
    });

    it('refuse what a key cannot be', function () {
      assert.throws(
        () => encodeValue({ a: 1 }),
        (e: unknown) => e instanceof ImageAttachError && e.code === 'ERR_QUEUE_JOB_INVALID',
      );
      assert.throws(() => encodeValue(Number.NaN), /cannot be queued/);
      assert.throws(() => decodeValue({ $what: 1 }), /unknown encoded value/);
    });
  });

  describe('job ids', function () {
    const data: ThumbnailJobData = {
      v: 1,
      model: 'User',
      id: 1,
      relation: 'picture',
      subset: {},
      size: { width: 100 },
      store: 'default',
      original: { width: 400, height: 200, mimetype: 'image/jpeg', createdAt: '2024-05-06T07:08:09.123Z' },
    };

    it('are equal for equal jobs, whatever the order of their keys', function () {
      const reordered = JSON.parse(canonicalJson(data)) as ThumbnailJobData;
      assert.equal(thumbnailJobId(reordered), thumbnailJobId({ ...data, original: { ...data.original } }));
      assert.match(thumbnailJobId(data), /^thumbnail-[0-9a-f]{32}$/);
    });

    it('differ by size, format, store, subset and original', function () {
      const variants = [
        { ...data, size: { width: 101 } },
        { ...data, format: 'webp' as const },
        { ...data, store: 'other' },
        { ...data, subset: { slot: 2 } },
        { ...data, original: { ...data.original, createdAt: '2024-05-06T07:08:09.124Z' } },
      ];
      const ids = new Set([data, ...variants].map(thumbnailJobId));
      assert.equal(ids.size, 6);
    });

    it('an original is the same to the millisecond, or to the second where the database keeps whole seconds', function () {
      const original = { width: 400, height: 200, mimetype: 'image/jpeg', original: true };
      const expected = { ...data.original, createdAt: '2024-05-06T07:08:09.123Z' };
      assert.ok(isSameOriginal({ ...original, created_at: new Date('2024-05-06T07:08:09.123Z') }, expected));
      assert.ok(isSameOriginal({ ...original, created_at: new Date('2024-05-06T07:08:09.000Z') }, expected));
      assert.ok(!isSameOriginal({ ...original, created_at: new Date('2024-05-06T07:08:09.124Z') }, expected));
      assert.ok(!isSameOriginal({ ...original, created_at: new Date('2024-05-06T07:08:10.000Z') }, expected));
      assert.ok(
        !isSameOriginal({ ...original, original: false, created_at: new Date('2024-05-06T07:08:09.123Z') }, expected),
      );
      assert.ok(
        !isSameOriginal(
          { ...original, mimetype: 'image/png', created_at: new Date('2024-05-06T07:08:09.123Z') },
          expected,
        ),
      );
    });

    it('job data from elsewhere is checked before it is used', function () {
      assert.throws(() => parseJobData({ ...data, v: 2 }), /Invalid thumbnail job: unknown job data version 2/);
      assert.throws(() => parseJobData({ ...data, original: { width: 1 } }), /original is not/);
      assert.deepEqual(parseJobData(JSON.parse(JSON.stringify(data))), data);
    });

    it('a variant job is told apart by its kind, checked, and identified by what it makes', function () {
      const variant = {
        v: 1 as const,
        kind: 'variant' as const,
        model: 'User',
        id: 7,
        relation: 'picture',
        subset: {},
        variants: ['avatar', 'card'],
        store: 'default',
        original: data.original,
      };
      assert.deepEqual(parseJobData(JSON.parse(JSON.stringify(variant))), variant);
      assert.throws(() => parseJobData({ ...variant, variants: 'avatar' }), /variants is not a list of names/);
      assert.throws(() => parseJobData({ ...variant, kind: 'resize' }), /unknown job kind "resize"/);
      assert.match(variantJobId(variant), /^variant-[0-9a-f]{32}$/);
      assert.equal(variantJobId({ ...variant }), variantJobId(variant));
      assert.notEqual(variantJobId({ ...variant, variants: ['avatar'] }), variantJobId(variant));
      assert.notEqual(
        variantJobId({ ...variant, original: { ...variant.original, createdAt: '2030-01-01T00:00:00.000Z' } }),
        variantJobId(variant),
      );
    });
  });

  describe('options', function () {
    const store = new FileSystemStore({ path: '/tmp/oia-unused', baseUrl: 'http://x.example/' });
    const good = { connection: REDIS_URL, models: { User }, stores: { default: store } };
    const rejects = (options: object, message: string) =>
      assert.throws(
        () => thumbnailQueue(options as never),
        (e: unknown) => e instanceof InvalidArgumentError && e.message === message,
      );

    it('name the bad option, what was expected and what came', function () {
      rejects(
        { ...good, connection: undefined },
        'Expected a Redis URL, ioredis options or a Redis client for options.connection but received undefined',
      );
      rejects(
        { ...good, connection: 'http://127.0.0.1' },
        'Expected a redis:// or rediss:// URL for options.connection but received "http://127.0.0.1" of type string',
      );
      rejects(
        { ...good, queueName: 'a:b' },
        'Expected a non-empty string without ":" for options.queueName but received "a:b" of type string',
      );
      rejects(
        { ...good, models: {} },
        'Expected an object naming at least one Objection model class for options.models but received an object',
      );
      rejects(
        { ...good, models: { User: {} } },
        'Expected an Objection model class for options.models.User but received an object',
      );
      rejects(
        { ...good, stores: { default: '/tmp' } },
        'Expected a Store for options.stores.default but received "/tmp" of type string',
      );
      rejects(
        { ...good, defaultStore: 's3' },
        'Expected the name of one of options.stores (default) for options.defaultStore but received "s3" of type string',
      );
      rejects({ ...good, attempts: 0 }, 'Expected an integer >= 1 for options.attempts but received 0 of type number');
      rejects(
        { ...good, backoff: -1 },
        'Expected an integer >= 0 (milliseconds) for options.backoff but received -1 of type number',
      );
      rejects(
        { ...good, keepFailed: {} },
        'Expected { age } and/or { count } for options.keepFailed but received an object',
      );
      rejects(
        { ...good, enqueueTimeout: 0 },
        'Expected an integer >= 1 (milliseconds) for options.enqueueTimeout but received 0 of type number',
      );
    });

    it('worker options too', async function () {
      const queue = thumbnailQueue(good);
      await assert.rejects(queue.worker({ concurrency: 0 }), {
        message: 'Expected an integer >= 1 for options.concurrency but received 0 of type number',
      });
      await assert.rejects(queue.worker({ onFailed: 'log' as never }), {
        message: 'Expected a function for options.onFailed but received "log" of type string',
      });
      await queue.close();
    });

    it('enqueue checks owner, relation, store and sizes before it touches Redis', async function () {
      // An unreachable Redis: none of these may get that far.
      const queue = thumbnailQueue({ ...good, connection: 'redis://127.0.0.1:1' });
      const user = User.fromJson({ id: 1, name: 'Ann' });
      user.picture = [];
      class Other extends Model {}
      await assert.rejects(queue.enqueue(new Other(), 'picture', [{ width: 1 }]), {
        message: "Expected an instance of one of the queue's models (User) for owner but received an instance of Other",
      });
      await assert.rejects(queue.enqueue(user, 'avatar', [{ width: 1 }]), InvalidArgumentError);
      await assert.rejects(queue.enqueue(user, 'picture', [{ width: 1 }], { store: 's3' }), {
        message: `Expected the name or instance of one of the queue's stores (default) for options.store but received "s3" of type string`,
      });
      await assert.rejects(queue.enqueue(user, 'picture', []), InvalidArgumentError);
      await assert.rejects(queue.enqueue(user, 'picture', [{ width: 0 }]), {
        message: 'Expected an integer >= 1 for width but received 0 of type number',
      });
      await assert.rejects(queue.enqueue(user, 'picture', [{ width: 10, format: 'gif' as never }]), {
        message: 'Expected "jpeg", "png", "webp" or "avif" for format but received "gif" of type string',
      });
      await assert.rejects(queue.enqueue(user, 'picture', [{ width: 10, height: 10 } as never]), InvalidArgumentError);
      await assert.rejects(queue.enqueue(user, 'picture', [{ width: 10 }]), ImageNotFoundError);
      await queue.close();
    });

    it('enqueue fails with ERR_QUEUE_UNAVAILABLE (503) when Redis does not answer in time, and close() still returns', async function () {
      const queue = thumbnailQueue({ ...good, connection: 'redis://127.0.0.1:1', enqueueTimeout: 300 });
      const user = User.fromJson({ id: 1, name: 'Ann' });
      user.picture = [
        UserPicture.fromJson({
          user_id: 1,
          width: 40,
          height: 20,
          mimetype: 'image/jpeg',
          original: true,
          created_at: new Date(),
        }),
      ];
      await assert.rejects(
        queue.enqueue(user, 'picture', [{ width: 10 }]),
        (e: unknown) => e instanceof ImageAttachError && e.code === 'ERR_QUEUE_UNAVAILABLE' && e.statusCode === 503,
      );
      await queue.close();
    });
  });
});

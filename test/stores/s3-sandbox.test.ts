import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { DELETED_MARK_MIMETYPE } from '../../src/stores/s3-sandbox.js';
import { ImageNotFoundError, InvalidArgumentError, type StoredImage } from '../../src/index.js';
import { S3SandboxStore, type S3Store } from '../../src/s3.js';
import { useS3Server } from '../support/s3.js';
import { sampleKey, storeContract } from '../../src/testing.js';

describe('S3SandboxStore over s3rver', function () {
  const server = useS3Server();

  storeContract('S3SandboxStore', async () => {
    const [underlyingBucket, overridingBucket] = [
      await server.current.createBucket('underlying'),
      await server.current.createBucket('overriding'),
    ];
    return {
      store: new S3SandboxStore({
        underlying: server.current.store(underlyingBucket),
        overriding: server.current.store(overridingBucket),
      }),
      snapshot: async () => [
        ...(await server.current.listAll(underlyingBucket)).map((k) => `underlying:${k}`),
        ...(await server.current.listAll(overridingBucket)).map((k) => `overriding:${k}`),
      ],
      cleanup: async () => {},
    };
  });

  describe("SQLAlchemy-ImageAttach's sandbox cases", function () {
    const image: StoredImage = { ...sampleKey, original: true, created_at: new Date('2013-09-20T03:08:39.123Z') };
    const objectKey = 'testing/1234/405x640.jpe';
    let underlyingBucket: string;
    let overridingBucket: string;
    let underlying: S3Store;
    let overriding: S3Store;
    let sandbox: S3SandboxStore;
    beforeEach(async function () {
      underlyingBucket = await server.current.createBucket('underlying');
      overridingBucket = await server.current.createBucket('overriding');
      underlying = server.current.store(underlyingBucket);
      overriding = server.current.store(overridingBucket);
      sandbox = new S3SandboxStore({ underlying, overriding });
    });

    it('reads an underlying image through the sandbox, with the underlying URL', async function () {
      await underlying.store(image, Buffer.from('production'));
      assert.equal((await buffer(await sandbox.open(image))).toString(), 'production');
      assert.equal(
        sandbox.locate(image),
        `${server.current.endpoint}/${underlyingBucket}/${objectKey}?_ts=20130920030839123000`,
      );
      assert.equal(sandbox.getUrl(image), underlying.getUrl(image));
      assert.equal((await sandbox.statFile(image))?.size, 'production'.length);
    });

    it('writes only to overriding, and then reads and locates the sandbox copy', async function () {
      await underlying.store(image, Buffer.from('production'));
      await sandbox.store(image, Buffer.from('sandbox'));
      assert.deepEqual(await server.current.listAll(overridingBucket), [objectKey]);
      assert.equal((await buffer(await underlying.open(image))).toString(), 'production');
      assert.equal((await buffer(await sandbox.open(image))).toString(), 'sandbox');
      assert.equal(
        sandbox.locate(image),
        `${server.current.endpoint}/${overridingBucket}/${objectKey}?_ts=20130920030839123000`,
      );
    });

    it('stages a replacement in overriding: production and reads stay as they were until it is promoted', async function () {
      await underlying.store(image, Buffer.from('production'));
      const note = {
        key: { ...sampleKey, objectId: String(sampleKey.objectId) },
        row: { table: 't', id: { id: 1 }, createdAt: 0 },
      };
      assert.ok(sandbox.staging);
      const token = await sandbox.staging!.stage(image, Readable.from([Buffer.from('staged')]), note);
      assert.equal((await buffer(await sandbox.open(image))).toString(), 'production');
      assert.deepEqual(
        (await sandbox.staging!.list()).map((e) => e.token),
        [token],
      );
      await sandbox.staging!.promote(image, token);
      assert.deepEqual(await server.current.listAll(overridingBucket), [objectKey]);
      assert.equal((await buffer(await sandbox.open(image))).toString(), 'staged');
      assert.equal(sandbox.getUrl(image), overriding.getUrl(image));
      assert.equal((await buffer(await underlying.open(image))).toString(), 'production');
    });

    it('hides a deleted underlying image behind a marker, leaving the underlying object intact', async function () {
      await underlying.store(image, Buffer.from('production'));
      await sandbox.delete(image);
      await assert.rejects(sandbox.open(image), ImageNotFoundError);
      await assert.rejects(sandbox.open(image, { start: 0, end: 3 }), ImageNotFoundError);
      assert.equal(await sandbox.statFile(image), null);
      const listed = [];
      for await (const key of sandbox.listFiles()) listed.push(key);
      assert.deepEqual(listed, []);
      assert.equal((await buffer(await underlying.open(image))).toString(), 'production');
      assert.deepEqual(await server.current.listAll(underlyingBucket), [objectKey]);
      const marker = await server.current.head(overridingBucket, objectKey);
      assert.equal(marker.ContentType, DELETED_MARK_MIMETYPE);
      assert.equal(marker.ContentLength, 0);
    });

    it('stores again over a deleted image', async function () {
      await underlying.store(image, Buffer.from('production'));
      await sandbox.delete(image);
      await sandbox.store(image, Buffer.from('again'));
      assert.equal((await buffer(await sandbox.open(image))).toString(), 'again');
      assert.equal((await server.current.head(overridingBucket, objectKey)).ContentType, 'image/jpeg');
    });

    it('lists sandbox images and the underlying images it neither replaces nor hides, once each', async function () {
      const kept = { ...image, objectId: 1 };
      const replaced = { ...image, objectId: 2 };
      const hidden = { ...image, objectId: 3 };
      const added = { ...image, objectId: 4 };
      for (const i of [kept, replaced, hidden]) await underlying.store(i, Buffer.from('production'));
      await sandbox.store(replaced, Buffer.from('sandbox'));
      await sandbox.delete(hidden);
      await sandbox.store(added, Buffer.alloc(0));
      const listed = [];
      for await (const key of sandbox.listFiles()) listed.push(Number(key.objectId));
      assert.deepEqual(listed.sort(), [1, 2, 4]);
    });

    it('learns what other processes wrote to overriding from refreshOverrides()', async function () {
      await underlying.store(image, Buffer.from('production'));
      const elsewhere = new S3SandboxStore({ underlying, overriding });
      await elsewhere.store(image, Buffer.from('written by another process'));
      assert.equal(sandbox.getUrl(image), underlying.getUrl(image));
      await sandbox.refreshOverrides();
      assert.equal(sandbox.getUrl(image), overriding.getUrl(image));
    });
  });

  describe('options', function () {
    it('rejects an underlying that is not an S3Store', function () {
      assert.throws(
        () =>
          new S3SandboxStore({ underlying: 'prod-images' as never, overriding: server.current.store('overriding') }),
        (e: unknown) =>
          e instanceof InvalidArgumentError &&
          e.message === 'Expected an S3Store for options.underlying but received "prod-images" of type string',
      );
    });
    it('rejects an overriding store on the same bucket and prefix as the underlying one', function () {
      assert.throws(
        () =>
          new S3SandboxStore({
            underlying: server.current.store('images', { prefix: 'p' }),
            overriding: server.current.store('images', { prefix: 'p/' }),
          }),
        (e: unknown) =>
          e instanceof InvalidArgumentError &&
          e.message ===
            'Expected a store apart from options.underlying (another bucket or prefix than s3://images/p) for options.overriding but received an instance of S3Store',
      );
    });
  });
});

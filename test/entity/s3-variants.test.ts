/**
 * Variant outputs on an S3Store (s3rver): stored, located, replaced and removed as objects under
 * their own object type, exactly as on a filesystem store.
 */
import assert from 'node:assert/strict';
import { Model } from 'objection';
import { filesSettled, imageSet, popStoreContext, pushStoreContext } from '../../src/index.js';
import { type S3Store } from '../../src/s3.js';
import { dialects } from '../support/db.js';
import { jpeg } from '../support/images.js';
import { useS3Server } from '../support/s3.js';
import { createVariantSchema, Member } from './variant-models.js';

describe('variants on an S3Store [sqlite + s3rver]', function () {
  const s3 = useS3Server();
  const sqlite = dialects.find((d) => d.name === 'sqlite')!;
  let knex: Awaited<ReturnType<typeof sqlite.open>>;
  let bucket: string;
  let store: S3Store;

  before(async function () {
    knex = await sqlite.open();
    Model.knex(knex);
    await createVariantSchema(knex);
  });
  after(async function () {
    await sqlite.close(knex);
  });
  beforeEach(async function () {
    bucket = await s3.current.createBucket('variants');
    store = s3.current.store(bucket);
    pushStoreContext(store);
  });
  afterEach(function () {
    popStoreContext();
  });

  it('stores the outputs under the variant object type; a replacement and a removal take them away; a rollback leaves none', async function () {
    const member = await Member.query().insert({ name: 'Sam' });
    const set = imageSet(member, 'picture');
    await set.fromBlob(await jpeg(200, 100));
    await set.findOrCreateVariant('hero', { width: 64 });
    const keys = await s3.current.listAll(bucket);
    const variantKeys = keys.filter((k) => k.startsWith('member-picture.'));
    assert.equal(variantKeys.length, 5);
    for (const output of set.variant('avatar').outputs) {
      const key = `${output.key.objectType}/${member.id}/${output.width}x${output.height}${output.format === 'jpeg' ? '.jpe' : '.webp'}`;
      assert.ok(keys.includes(key), key);
      assert.equal((await s3.current.head(bucket, key)).ContentType, output.mimetype);
    }
    await set.fromBlob(await jpeg(120, 120));
    await filesSettled();
    assert.equal((await s3.current.listAll(bucket)).filter((k) => k.startsWith('member-picture.')).length, 4);
    const trx = await Model.startTransaction();
    await set.setFocalPoint({ x: 0.1, y: 0.9 }, { trx });
    await trx.rollback();
    await filesSettled(trx);
    assert.equal((await s3.current.listAll(bucket)).filter((k) => k.startsWith('member-picture.')).length, 4);
    await set.remove();
    await filesSettled();
    assert.deepEqual(await s3.current.listAll(bucket), []);
  });
});

/**
 * The entity layer on an S3Store (s3rver): attach, thumbnails, rollback and delete move objects
 * exactly as they move files, and a failed upload leaves no row.
 */
import assert from 'node:assert/strict';
import { Model } from 'objection';
import sharp from 'sharp';
import { filesSettled, imageSet, ImageAttachError, popStoreContext, pushStoreContext } from '../../src/index.js';
import { type S3Store } from '../../src/s3.js';
import { dialects } from '../support/db.js';
import { jpeg } from '../support/images.js';
import { useS3Server } from '../support/s3.js';
import { createSchema, User, UserPicture } from './models.js';

describe('image sets on an S3Store [sqlite + s3rver]', function () {
  const s3 = useS3Server();
  const sqlite = dialects.find((d) => d.name === 'sqlite')!;
  let knex: Awaited<ReturnType<typeof sqlite.open>>;
  let bucket: string;
  let store: S3Store;
  let user: User;

  before(async function () {
    knex = await sqlite.open();
    Model.knex(knex);
    await createSchema(knex);
  });
  after(async function () {
    await sqlite.close(knex);
  });
  beforeEach(async function () {
    bucket = await s3.current.createBucket('entity');
    store = s3.current.store(bucket);
    pushStoreContext(store);
    user = await User.query().insert({ name: 'Ann' });
  });
  afterEach(function () {
    popStoreContext();
  });

  it("attaches an original and makes thumbnails as objects in SQLAlchemy-ImageAttach's key layout", async function () {
    const bytes = await jpeg(300, 200);
    await imageSet(user, 'picture').fromBlob(bytes);
    const thumb = await imageSet(user, 'picture').generateThumbnail({ width: 150 });
    assert.deepEqual(await s3.current.listAll(bucket), [
      `user-picture/${user.id}/150x100.jpe`,
      `user-picture/${user.id}/300x200.jpe`,
    ]);
    assert.ok((await imageSet(user, 'picture').makeBlob()).equals(bytes));
    assert.deepEqual([(await sharp(await thumb.makeBlob()).metadata()).width, thumb.height], [150, 100]);
    const head = await s3.current.head(bucket, `user-picture/${user.id}/150x100.jpe`);
    assert.equal(head.ContentType, 'image/jpeg');
  });

  it('a rollback after attach deletes the uploaded object', async function () {
    const trx = await Model.startTransaction();
    await imageSet(user, 'picture').fromBlob(await jpeg(64, 64), { trx });
    assert.equal((await s3.current.listAll(bucket)).length, 1);
    await trx.rollback();
    await filesSettled(trx);
    assert.deepEqual(await s3.current.listAll(bucket), []);
  });

  it('deleting the set removes the objects once committed', async function () {
    await imageSet(user, 'picture').fromBlob(await jpeg(64, 64));
    await imageSet(user, 'picture').generateThumbnail({ width: 16 });
    await imageSet(user, 'picture').remove();
    assert.deepEqual(await s3.current.listAll(bucket), []);
    assert.equal((await UserPicture.query().where('user_id', user.id)).length, 0);
  });

  it('an attach whose upload fails leaves no database row', async function () {
    const missing = s3.current.store(`no-such-bucket-${process.pid}`);
    await assert.rejects(imageSet(user, 'picture').fromBlob(await jpeg(32, 32), { store: missing }), ImageAttachError);
    assert.equal((await UserPicture.query().where('user_id', user.id)).length, 0);
  });
});

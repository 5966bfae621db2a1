/**
 * A process killed (SIGKILL) while replacing an image on an S3Store (s3rver) with one of the same
 * size and type (so the same object keys): a committed row keeps its committed bytes whatever the
 * instant, as on the filesystem (crash-replacement.test.ts). Killed before the commit, the old
 * objects were never overwritten; killed between the commit and the copy into place, the next
 * process's settling (settleInterruptedWrites) copies the new bytes in.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import knexFactory, { type Knex } from 'knex';
import { Model } from 'objection';
import { filesSettled } from '../../src/entity/ledger.js';
import { imageSet } from '../../src/entity/image-set.js';
import { settleInterruptedWrites } from '../../src/entity/staged-writes.js';
import type { S3Store } from '../../src/stores/s3.js';
import { forEachDialect } from '../support/db.js';
import { jpeg } from '../support/images.js';
import { killAt } from '../support/kill-at.js';
import { useS3Server } from '../support/s3.js';
import { removeDir, tempDir } from '../support/tmp.js';
import { createSchema, User, UserPicture } from './models.js';

const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'children', 'replace-and-die-s3.ts');

forEachDialect('a process killed while replacing an image on S3', (db, dialect) => {
  const s3 = useS3Server();
  let dir: string;
  let store: S3Store;
  let bucket: string;
  let knex: Knex;
  let config: unknown;

  before(async function () {
    dir = await tempDir(`s3-crash-${dialect}`);
    if (dialect === 'sqlite') {
      // Another process must reach the database: a file, not the harness's in-memory one.
      config = {
        client: 'better-sqlite3',
        connection: { filename: path.join(dir, 'db.sqlite') },
        useNullAsDefault: true,
        pool: { min: 1, max: 1 },
      };
      knex = knexFactory(config as Knex.Config);
    } else {
      knex = db();
      config = knex.client.config;
    }
    await createSchema(knex);
    Model.knex(knex);
  });
  after(async function () {
    if (dialect === 'sqlite') await knex.destroy();
    await removeDir(dir);
  });
  beforeEach(async function () {
    bucket = await s3.current.createBucket(`crash-${dialect}`);
    store = s3.current.store(bucket);
  });

  const bytesOf = async (key: string) =>
    buffer(
      (await s3.current.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body as NodeJS.ReadableStream,
    );
  const staged = async () => (await s3.current.listAll(bucket)).filter((k) => k.startsWith('.staging/'));

  /** A user with a committed picture (400x300 and a 50-wide thumbnail), and a new image of the same size in a file. */
  async function scene() {
    const user = await User.query(knex).insert({ name: 'Crash' });
    const before = await jpeg(400, 300);
    await knex.transaction((trx) =>
      imageSet(user, 'picture').fromBlob(before, { store, trx, thumbnails: [{ width: 50 }] }),
    );
    const after = await jpeg(400, 300);
    assert.ok(!after.equals(before));
    const file = path.join(dir, `new-${user.id}.jpe`);
    await writeFile(file, after);
    const args = (instant: string) => [
      JSON.stringify(config),
      s3.current.endpoint,
      bucket,
      String(user.id),
      file,
      instant,
    ];
    return {
      user,
      before,
      after,
      args,
      original: `user-picture/${user.id}/400x300.jpe`,
      thumbnail: `user-picture/${user.id}/50x37.jpe`,
    };
  }

  it('killed inside the transaction after writing: the committed rows keep their bytes', async function () {
    this.timeout(90000);
    const { user, before, args, original, thumbnail } = await scene();
    const thumbnailBefore = await bytesOf(thumbnail);
    const committed = await UserPicture.query(knex).where('user_id', user.id).orderBy('width');
    await killAt(child, args('in-transaction'), 'replaced');
    const now = await UserPicture.query(knex).where('user_id', user.id).orderBy('width');
    assert.deepEqual(
      now.map((r) => r.created_at.getTime()),
      committed.map((r) => r.created_at.getTime()),
      'the rows are the committed ones',
    );
    assert.ok((await bytesOf(original)).equals(before), 'the original object holds the committed bytes');
    assert.ok((await bytesOf(thumbnail)).equals(thumbnailBefore), 'the thumbnail object holds the committed bytes');
    // The next process clears what the dead one staged, and changes no committed object.
    assert.deepEqual(await settleInterruptedWrites({ store, knex }), { promoted: 0, discarded: 2, failed: [] });
    assert.deepEqual(await staged(), []);
    assert.ok((await bytesOf(original)).equals(before));
  });

  it('killed between the commit and the copy: the next process puts the committed bytes in place', async function () {
    this.timeout(90000);
    const { user, before, after, args, original } = await scene();
    await killAt(child, args('after-commit'), 'committed');
    assert.equal((await UserPicture.query(knex).where('user_id', user.id)).length, 2);
    // The instant the settling is for: the new row is committed, its bytes still wait in .staging/.
    assert.ok((await bytesOf(original)).equals(before));
    assert.deepEqual(await settleInterruptedWrites({ store, knex }), { promoted: 2, discarded: 0, failed: [] });
    assert.deepEqual(await staged(), []);
    assert.ok(
      (await bytesOf(original)).equals(after),
      'the original object holds the new committed bytes, byte for byte',
    );
    assert.equal((await s3.current.head(bucket, original)).ContentType, 'image/jpeg');
  });

  it('killed between the commit and the copy: the next write to the store settles it in the background', async function () {
    this.timeout(90000);
    const { after, args, original } = await scene();
    await killAt(child, args('after-commit'), 'committed');
    // Any write through this process's ledger to the store starts a settling, at most once a
    // second per store: the scene's own writes, a moment ago, started one already.
    await new Promise((r) => setTimeout(r, 1000));
    const other = await User.query(knex).insert({ name: 'Other' });
    await imageSet(other, 'picture').fromBlob(await jpeg(40, 30), { store });
    await filesSettled();
    for (let i = 0; i < 100 && (await staged()).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await staged(), []);
    assert.ok((await bytesOf(original)).equals(after));
  });
});

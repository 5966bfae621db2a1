/**
 * Replacing a committed image on an S3Store (s3rver, behind a fault proxy): the new bytes wait
 * under `.staging/` and are copied into place only after the commit, so the committed object keeps
 * its bytes whatever happens before; a rollback, even one whose clean-up fails, never touches it.
 */
import assert from 'node:assert/strict';
import { buffer } from 'node:stream/consumers';
import { Model } from 'objection';
import sharp from 'sharp';
import { filesSettled, imageSet, settleInterruptedWrites } from '../../src/index.js';
import { type S3Store } from '../../src/s3.js';
import { dialects } from '../support/db.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { jpeg } from '../support/images.js';
import { useS3Server } from '../support/s3.js';
import { createSchema, User, UserPicture } from './models.js';

/** Collects the process warnings of `code` emitted while `work` runs. */
async function warningsDuring(code: string, work: () => Promise<void>): Promise<Error[]> {
  const seen: Error[] = [];
  const listener = (warning: Error) => {
    if ((warning as { code?: string }).code === code) seen.push(warning);
  };
  process.on('warning', listener);
  try {
    await work();
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', listener);
  }
  return seen;
}

describe('replacing an image on an S3Store stages it [sqlite + s3rver]', function () {
  const s3 = useS3Server();
  const sqlite = dialects.find((d) => d.name === 'sqlite')!;
  let knex: Awaited<ReturnType<typeof sqlite.open>>;
  let bucket: string;
  let store: S3Store;
  let proxy: FaultProxy;
  let user: User;

  before(async function () {
    knex = await sqlite.open();
    Model.knex(knex);
    await createSchema(knex);
    const url = new URL(s3.current.endpoint);
    proxy = new FaultProxy({ host: url.hostname, port: Number(url.port) });
    const endpoint = await proxy.start();
    bucket = await s3.current.createBucket('staging');
    store = s3.current.store(bucket, { endpoint, maxAttempts: 1, connectionTimeout: 500, operationTimeout: 5000 });
  });
  after(async function () {
    await proxy.stop();
    await sqlite.close(knex);
  });
  beforeEach(async function () {
    proxy.set('pass');
    user = await User.query().insert({ name: 'Stager' });
  });

  const originalKey = () => `user-picture/${user.id}/400x300.jpe`;
  /** The bytes of an object, read behind the store's back (not through the proxy). */
  const objectBytes = async (key: string) => {
    const { GetObjectCommand } = await import('@aws-sdk/client-s3');
    return buffer(
      (await s3.current.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body as NodeJS.ReadableStream,
    );
  };
  const staged = async () => (await s3.current.listAll(bucket)).filter((k) => k.startsWith('.staging/'));

  it('keeps the committed object until the commit, then holds the new bytes exactly, with its headers', async function () {
    const before = await jpeg(400, 300);
    const after = await jpeg(400, 300);
    await imageSet(user, 'picture').fromBlob(before, { store });
    const trx = await Model.startTransaction();
    await imageSet(user, 'picture').fromBlob(after, { store, trx });
    assert.ok(
      (await objectBytes(originalKey())).equals(before),
      'before the commit, the object holds the committed bytes',
    );
    assert.equal((await staged()).length, 2, 'the new bytes and their note wait under .staging/');
    await trx.commit();
    await filesSettled(trx);
    assert.ok(
      (await objectBytes(originalKey())).equals(after),
      'after the commit, the object holds the new bytes, byte for byte',
    );
    assert.deepEqual(await staged(), []);
    const head = await s3.current.head(bucket, originalKey());
    assert.equal(head.ContentType, 'image/jpeg');
    assert.equal(head.CacheControl, `max-age=${store.maxAge}`);
  });

  it('downloads nothing while replacing: no backup of the committed object is read inside the transaction', async function () {
    await imageSet(user, 'picture').fromBlob(await jpeg(400, 300), { store });
    const commands: string[] = [];
    const record =
      (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => (args: unknown) => {
        commands.push(context.commandName ?? '?');
        return next(args);
      };
    store.client.middlewareStack.add(record as never, { step: 'initialize', name: 'recordCommands' });
    try {
      await imageSet(user, 'picture').fromBlob(await jpeg(400, 300), { store });
    } finally {
      store.client.middlewareStack.remove('recordCommands');
    }
    assert.ok(commands.includes('CopyObjectCommand'), commands.join(', '));
    assert.ok(!commands.includes('GetObjectCommand'), `no GetObject: ${commands.join(', ')}`);
  });

  it('a rollback leaves the committed object as it was and nothing staged', async function () {
    const before = await jpeg(400, 300);
    await imageSet(user, 'picture').fromBlob(before, { store });
    const trx = await Model.startTransaction();
    await imageSet(user, 'picture').fromBlob(await jpeg(400, 300), { store, trx });
    await trx.rollback();
    await filesSettled(trx);
    assert.ok((await objectBytes(originalKey())).equals(before));
    assert.deepEqual(await staged(), []);
  });

  it('a thumbnail made in the transaction of a replacement is of the new, staged original', async function () {
    const red = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#f00' } })
      .jpeg()
      .toBuffer();
    const blue = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#00f' } })
      .jpeg()
      .toBuffer();
    await imageSet(user, 'picture').fromBlob(red, { store });
    await knex.transaction(async (trx) => {
      await imageSet(user, 'picture').fromBlob(blue, { store, trx });
      const thumbnail = await imageSet(user, 'picture').generateThumbnail({ width: 40 }, { store, trx });
      const { dominant } = await sharp(await objectBytes(`user-picture/${user.id}/40x30.jpe`)).stats();
      assert.ok(dominant.b > 200 && dominant.r < 60, `the thumbnail is blue, not red: ${JSON.stringify(dominant)}`);
      assert.equal(thumbnail.width, 40);
    });
  });

  it('a rollback whose clean-up cannot reach S3 leaves the committed object untouched; settling discards the staged pair later', async function () {
    this.timeout(20_000);
    const before = await jpeg(400, 300);
    await imageSet(user, 'picture').fromBlob(before, { store });
    const trx = await Model.startTransaction();
    await imageSet(user, 'picture').fromBlob(await jpeg(400, 300), { store, trx });
    proxy.set('refuse');
    const warnings = await warningsDuring('ERR_FILE_CLEANUP', async () => {
      await trx.rollback();
      await filesSettled(trx);
    });
    assert.equal(warnings.length, 1, 'the failed clean-up is reported');
    assert.ok(
      (await objectBytes(originalKey())).equals(before),
      'the committed object never held the rolled-back bytes',
    );
    assert.equal((await staged()).length, 2);
    proxy.set('pass');
    assert.deepEqual(await settleInterruptedWrites({ store, knex }), { promoted: 0, discarded: 1, failed: [] });
    assert.deepEqual(await staged(), []);
    assert.ok((await objectBytes(originalKey())).equals(before));
    const rows = await UserPicture.query().where('user_id', user.id);
    assert.equal(rows.length, 1);
  });

  it("leaves another host's young staged write alone: its pid means nothing here", async function () {
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    // A pid no process has here: on this host's own entries, that would mean "dead, settle it".
    const token = '00000000-4194000-abcdef01-0123456789abcdef';
    const note = {
      key: { objectType: 'user-picture', objectId: String(user.id), width: 400, height: 300, mimetype: 'image/jpeg' },
      row: { table: 'user_picture', id: { user_id: user.id, width: 400, height: 300 }, createdAt: 0 },
    };
    await s3.current.client.send(
      new PutObjectCommand({ Bucket: bucket, Key: `.staging/${token}.json`, Body: JSON.stringify(note) }),
    );
    await s3.current.client.send(
      new PutObjectCommand({ Bucket: bucket, Key: `.staging/${token}.stage`, Body: 'bytes' }),
    );
    assert.deepEqual(
      (await store.staging!.list()).map((e) => [e.token, e.host, e.pid]),
      [[token, '00000000', 4194000]],
    );
    assert.deepEqual(await settleInterruptedWrites({ store, knex }), { promoted: 0, discarded: 0, failed: [] });
    assert.equal((await staged()).length, 2, "its pid is dead here, but it is not this host's: only its age can tell");
    await store.staging!.discard(token);
  });
});

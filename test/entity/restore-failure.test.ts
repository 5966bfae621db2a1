/**
 * A rollback on a store that cannot stage (a store of one's own: here a wrapper of a filesystem
 * store) puts the replaced files back from backups. When putting one back keeps failing, its
 * backup is the only copy of committed bytes: it must be kept out of the temp sweep, named in an
 * ERR_RESTORE_FAILED warning, and put back by a later restoreKeptBackups(); the rest of the undo
 * must still run.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Model } from 'objection';
import { filesSettled, FileSystemStore, imageSet, restoreKeptBackups, type ImageKey } from '../../src/index.js';
import { keptBackupsDir } from '../../src/entity/kept-backups.js';
import { dialects } from '../support/db.js';
import { HookedStore } from '../support/hooked-store.js';
import { jpeg } from '../support/images.js';
import { removeDir, tempDir } from '../support/tmp.js';
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
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', listener);
  }
  return seen;
}

describe('a rollback whose put-back fails, on a store that cannot stage [sqlite]', function () {
  const sqlite = dialects.find((d) => d.name === 'sqlite')!;
  let knex: Awaited<ReturnType<typeof sqlite.open>>;
  let root: string;
  let inner: FileSystemStore;
  let store: HookedStore;
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
    root = await tempDir('restore-failure');
    // A base URL of its own: kept backups are matched to their store by it.
    inner = new FileSystemStore({ path: root, baseUrl: `http://static.example.com/${path.basename(root)}/` });
    store = new HookedStore(inner);
    user = await User.query().insert({ name: 'Restorer' });
  });
  afterEach(async function () {
    // What a test left kept is put back (or dropped), so the kept folder holds nothing of ours.
    store.onPut = undefined;
    await restoreKeptBackups({ store, knex });
    await removeDir(root);
  });

  /** A committed picture with a thumbnail; then a replacement of both, rolled back while every put fails. */
  async function failedRollback() {
    const before = await jpeg(400, 300);
    await imageSet(user, 'picture').fromBlob(before, { store, thumbnails: [{ width: 50 }] });
    const rows = await UserPicture.query().where('user_id', user.id).orderBy('width');
    const committed = await Promise.all(rows.map((row) => readFile(inner.pathFor(row))));
    const trx = await Model.startTransaction();
    await imageSet(user, 'picture').fromBlob(await jpeg(400, 300), { store, trx, thumbnails: [{ width: 50 }] });
    const tries: ImageKey[] = [];
    store.onPut = async (key, stream) => {
      tries.push(key);
      stream.destroy();
      throw new Error('the store is down');
    };
    const warnings = await warningsDuring('ERR_RESTORE_FAILED', async () => {
      await trx.rollback();
      await filesSettled(trx);
    });
    store.onPut = undefined;
    return { rows, committed, tries, warnings };
  }

  it('tries each file three times, goes on with the others, and keeps and names every backup', async function () {
    this.timeout(20_000);
    const { tries, warnings } = await failedRollback();
    assert.equal(tries.length, 6, 'three tries for the original, three for the thumbnail');
    assert.equal(warnings.length, 2, 'one warning per file: the first failure did not stop the undo');
    for (const warning of warnings) {
      const kept = (warning as unknown as { data: { path: string } }).data.path;
      assert.equal(path.dirname(kept), keptBackupsDir());
      assert.match(
        warning.message,
        /putting back the committed file of user-picture\/\d+ (400x300|50x37) image\/jpeg after a rollback failed \(3 tries: the store is down\)/,
      );
      assert.ok(warning.message.includes(kept), 'the message names the kept file');
      assert.ok((await readdir(keptBackupsDir())).includes(path.basename(kept)));
    }
  });

  it('restoreKeptBackups puts the committed bytes back, byte for byte, and says so', async function () {
    this.timeout(20_000);
    const { rows, committed } = await failedRollback();
    assert.ok(
      !(await readFile(inner.pathFor(rows[1]!))).equals(committed[1]!),
      'the store holds the rolled-back bytes meanwhile',
    );
    assert.deepEqual(await restoreKeptBackups({ store, knex }), { restored: 2, discarded: 0 });
    for (const [i, row] of rows.entries()) assert.ok((await readFile(inner.pathFor(row))).equals(committed[i]!));
    assert.deepEqual(await restoreKeptBackups({ store, knex }), { restored: 0, discarded: 0 }, 'each is put back once');
  });

  it('two failed rollbacks of one key in a row: the first backup holds the committed bytes, and it is the one put back', async function () {
    this.timeout(20_000);
    const { rows, committed } = await failedRollback();
    // The second rollback's backup is of the first one's rolled-back bytes, still in place.
    const second = await Model.startTransaction();
    await imageSet(user, 'picture').fromBlob(await jpeg(400, 300), { store, trx: second, thumbnails: [{ width: 50 }] });
    store.onPut = async (_key, stream) => {
      stream.destroy();
      throw new Error('the store is down');
    };
    await warningsDuring('ERR_RESTORE_FAILED', async () => {
      await second.rollback();
      await filesSettled(second);
    });
    store.onPut = undefined;
    assert.deepEqual(await restoreKeptBackups({ store, knex }), { restored: 2, discarded: 2 });
    for (const [i, row] of rows.entries()) assert.ok((await readFile(inner.pathFor(row))).equals(committed[i]!));
  });

  it('restoreKeptBackups drops a backup that a newer committed write made stale', async function () {
    this.timeout(20_000);
    const { rows } = await failedRollback();
    const newest = await jpeg(400, 300);
    await imageSet(user, 'picture').fromBlob(newest, { store, thumbnails: [{ width: 50 }] });
    assert.deepEqual(await restoreKeptBackups({ store, knex }), { restored: 0, discarded: 2 });
    assert.ok((await readFile(inner.pathFor(rows[1]!))).equals(newest));
  });
});

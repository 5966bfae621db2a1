/**
 * Concurrent attaches to one owner: they wait for each other (the owner's set lock), or are retried
 * when the database breaks a tie (deadlock, serialization failure), so every one succeeds and the
 * last to commit is the set that stays, rows and files agreeing.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Model } from 'objection';
import { filesSettled } from '../../src/entity/ledger.js';
import { imageSet } from '../../src/entity/image-set.js';
import { FileSystemStore } from '../../src/stores/fs.js';
import { forEachDialect } from '../support/db.js';
import { fsStore } from '../support/fs-store.js';
import { png } from '../support/images.js';
import { listTree, removeDir, tempDir } from '../support/tmp.js';
import { createSchema, User, UserPicture } from './models.js';

forEachDialect('concurrent attaches to one owner', (db, dialect) => {
  let root: string;
  let inputs: string;
  let store: FileSystemStore;
  let cleanup: () => Promise<void>;

  before(async function () {
    Model.knex(db());
    await createSchema(db());
  });
  beforeEach(async function () {
    ({ store, dir: root, cleanup } = await fsStore(`concurrent-${dialect}`));
    inputs = await tempDir(`concurrent-inputs-${dialect}`);
  });
  afterEach(async function () {
    await cleanup();
    await removeDir(inputs);
  });

  /** 20 attaches at once, each of its own image (width 20 + i), with a thumbnail each. */
  async function attachTwenty(user: User) {
    const files = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const file = path.join(inputs, `in-${i}.png`);
        await writeFile(file, await png(20 + i, 10));
        return file;
      }),
    );
    const results = await Promise.allSettled(
      files.map((file) => imageSet(fresh(user), 'picture').fromFile(file, { store, thumbnails: [{ width: 10 }] })),
    );
    await filesSettled();
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.deepEqual(
      failed.map((f) => String(f.reason)),
      [],
      'every attach succeeds',
    );
    return results.map((r) => (r as PromiseFulfilledResult<UserPicture>).value);
  }

  /** A separate owner object per call, as separate requests would have. */
  function fresh(user: User): User {
    return User.fromJson({ id: user.id, name: user.name });
  }

  async function assertLastOneWon(user: User, originals: UserPicture[]) {
    const rows = await UserPicture.query().where('user_id', user.id).orderBy('width');
    const stored = rows.find((r) => r.original)!;
    const latest = originals.reduce((a, b) => (a.created_at.getTime() >= b.created_at.getTime() ? a : b));
    assert.equal(stored.width, latest.width, 'the set is the one committed last');
    assert.equal(rows.length, 2, 'one original and its thumbnail');
    const expected = rows.map((r) => path.relative(root, store.pathFor(r))).sort();
    assert.deepEqual(
      (await listTree(root)).filter((f) => !f.endsWith('/')),
      expected,
      'files are exactly those of the rows',
    );
  }

  it('all succeed on an owner with no image yet, and the last one wins', async function () {
    this.timeout(60000);
    const user = await User.query().insert({ name: 'Concurrent' });
    await assertLastOneWon(user, await attachTwenty(user));
  });

  it('all succeed on an owner that has a set already, and the last one wins', async function () {
    this.timeout(60000);
    const user = await User.query().insert({ name: 'Replaced' });
    await imageSet(user, 'picture').fromBlob(await png(100, 100), { store, thumbnails: [{ width: 10 }] });
    await assertLastOneWon(user, await attachTwenty(user));
  });

  it('an owner deleted while attaches to it run: the delete never deadlocks, rows and files agree', async function () {
    this.timeout(60000);
    const user = await User.query().insert({ name: 'Deleted' });
    await imageSet(user, 'picture').fromBlob(await png(100, 100), { store, thumbnails: [{ width: 10 }] });
    const attaches = Array.from({ length: 6 }, async (_, i) =>
      imageSet(fresh(user), 'picture').fromBlob(await png(30 + i, 10), { store, thumbnails: [{ width: 10 }] }),
    );
    const deleted = User.transaction(async (trx) => User.query(trx).deleteById(user.id).context({ store }));
    await deleted;
    await Promise.allSettled(attaches);
    await filesSettled();
    const rows = await UserPicture.query().where('user_id', user.id);
    const expected = rows.map((r) => path.relative(root, store.pathFor(r))).sort();
    assert.deepEqual(
      (await listTree(root)).filter((f) => !f.endsWith('/')),
      expected,
      'files are exactly those of the rows',
    );
  });
});

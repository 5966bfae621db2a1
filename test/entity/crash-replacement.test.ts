/**
 * A process killed (SIGKILL) while replacing an image with one of the same size and type (so the
 * same file names): a committed row keeps its committed bytes whatever the instant. Killed before
 * the commit, the old bytes never left their place; killed between the commit and the swap, the
 * next process's settling (settleInterruptedWrites) puts the new bytes in place.
 */
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import knexFactory, { type Knex } from 'knex';
import { Model } from 'objection';
import { filesSettled } from '../../src/entity/ledger.js';
import { imageSet } from '../../src/entity/image-set.js';
import { settleInterruptedWrites } from '../../src/entity/staged-writes.js';
import { FileSystemStore } from '../../src/stores/fs.js';
import { forEachDialect } from '../support/db.js';
import { fsStore } from '../support/fs-store.js';
import { jpeg } from '../support/images.js';
import { killAt } from '../support/kill-at.js';
import { removeDir, tempDir } from '../support/tmp.js';
import { createSchema, User, UserPicture } from './models.js';

const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'children', 'replace-and-die.ts');

forEachDialect('a process killed while replacing an image', (db, dialect) => {
  let dir: string;
  let root: string;
  let store: FileSystemStore;
  let cleanup: () => Promise<void>;
  let knex: Knex;
  let config: unknown;

  before(async function () {
    if (dialect === 'sqlite') {
      // Another process must reach the database: a file, not the harness's in-memory one.
      dir = await tempDir('crash-sqlite');
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
    if (dialect === 'sqlite') {
      await knex.destroy();
      await removeDir(dir);
    }
  });
  beforeEach(async function () {
    ({ store, dir: root, cleanup } = await fsStore(`crash-${dialect}`));
  });
  afterEach(async function () {
    await cleanup();
  });

  /** A user with a committed picture (400x300 and a 50-wide thumbnail), and a new image of the same size in a file. */
  async function scene() {
    const user = await User.query(knex).insert({ name: 'Crash' });
    const before = await jpeg(400, 300);
    await knex.transaction((trx) =>
      imageSet(user, 'picture').fromBlob(before, { store, trx, thumbnails: [{ width: 50 }] }),
    );
    const after = await jpeg(400, 300);
    assert.ok(!after.equals(before));
    const file = path.join(root, '..', `${path.basename(root)}-new.jpe`);
    await writeFile(file, after);
    return { user, before, after, file };
  }

  /** Every row of the user with the bytes at its path. */
  async function rowsWithBytes(user: User) {
    const rows = await UserPicture.query(knex).where('user_id', user.id).orderBy('width');
    return Promise.all(rows.map(async (row) => ({ row, bytes: await readFile(store.pathFor(row)) })));
  }

  it('killed inside the transaction after writing: the committed rows keep their bytes', async function () {
    this.timeout(90000);
    const { user, before, file } = await scene();
    const thumbnailBefore = await readFile(
      store.pathFor((await UserPicture.query(knex).where({ user_id: user.id, original: false }))[0]!),
    );
    const committed = await rowsWithBytes(user);
    await killAt(child, [JSON.stringify(config), root, String(user.id), file, 'in-transaction'], 'replaced');
    const now = await rowsWithBytes(user);
    assert.deepEqual(
      now.map((r) => r.row.created_at.getTime()),
      committed.map((r) => r.row.created_at.getTime()),
      'the rows are the committed ones',
    );
    assert.ok(now.find((r) => r.row.original)!.bytes.equals(before), 'the original file holds the committed bytes');
    assert.ok(
      now.find((r) => !r.row.original)!.bytes.equals(thumbnailBefore),
      'the thumbnail file holds the committed bytes',
    );
    // The next process clears what the dead one staged, and changes no committed file.
    assert.deepEqual(await settleInterruptedWrites({ store, knex }), { promoted: 0, discarded: 2, failed: [] });
    assert.deepEqual(await readdir(path.join(root, '.staging')), []);
    assert.ok((await rowsWithBytes(user)).find((r) => r.row.original)!.bytes.equals(before));
  });

  it('killed between the commit and the swap: the next process puts the committed bytes in place', async function () {
    this.timeout(90000);
    const { user, after, file } = await scene();
    await killAt(child, [JSON.stringify(config), root, String(user.id), file, 'after-commit'], 'committed');
    const rows = await UserPicture.query(knex).where('user_id', user.id);
    assert.equal(rows.length, 2);
    assert.deepEqual(await settleInterruptedWrites({ store, knex }), { promoted: 2, discarded: 0, failed: [] });
    assert.deepEqual(await readdir(path.join(root, '.staging')), []);
    const now = await rowsWithBytes(user);
    assert.ok(now.find((r) => r.row.original)!.bytes.equals(after), 'the original file holds the new committed bytes');
    assert.equal(now.find((r) => !r.row.original)!.row.width, 50);
  });

  it('killed between the commit and the swap: the next write to the store settles it in the background', async function () {
    this.timeout(90000);
    const { user, before, after, file } = await scene();
    await killAt(child, [JSON.stringify(config), root, String(user.id), file, 'after-commit'], 'committed');
    const original = (await UserPicture.query(knex).where({ user_id: user.id, original: true }))[0]!;
    // The instant the settling is for: the new row is committed, its bytes still wait in .staging.
    assert.ok((await readFile(store.pathFor(original))).equals(before));
    // Any write through this process's ledger to the store starts a settling, at most once a
    // second per store: the scene's own writes, a moment ago, started one already.
    await new Promise((r) => setTimeout(r, 1000));
    const other = await User.query(knex).insert({ name: 'Other' });
    await imageSet(other, 'picture').fromBlob(await jpeg(40, 30), { store });
    await filesSettled();
    for (let i = 0; i < 100 && (await readdir(path.join(root, '.staging'))).length > 0; i++)
      await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await readdir(path.join(root, '.staging')), []);
    assert.ok((await readFile(store.pathFor(original))).equals(after));
  });
});

/**
 * Several processes making thumbnails of one SQLite file database at once: each transaction takes
 * the database's write lock as its first statement, so they queue instead of failing with
 * SQLITE_BUSY (a transaction that reads first cannot wait for the lock once another wrote).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import knexFactory, { type Knex } from 'knex';
import { imageSet } from '../../src/entity/image-set.js';
import { FileSystemStore } from '../../src/stores/fs.js';
import { jpeg } from '../support/images.js';
import { listTree, removeDir, tempDir } from '../support/tmp.js';
import { createSchema, User, UserPicture } from './models.js';

const run = promisify(execFile);
const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'children', 'thumbnail-calls.ts');

describe('thumbnails from several processes on one SQLite file', function () {
  let dir: string;
  let knex: Knex;

  beforeEach(async function () {
    dir = await tempDir('sqlite-processes');
    knex = knexFactory({
      client: 'better-sqlite3',
      connection: { filename: path.join(dir, 'db.sqlite') },
      useNullAsDefault: true,
      pool: { min: 1, max: 1 },
    });
    await createSchema(knex);
  });
  afterEach(async function () {
    await knex.destroy();
    await removeDir(dir);
  });

  for (const journal of ['delete', 'wal']) {
    it(`findOrCreateThumbnail from 3 processes never fails with SQLITE_BUSY (journal_mode=${journal})`, async function () {
      this.timeout(120000);
      await knex.raw(`PRAGMA journal_mode = ${journal}`);
      const root = path.join(dir, 'images');
      const store = new FileSystemStore({ path: root, baseUrl: 'http://static.example.com/' });
      const user = await User.query(knex).insert({ name: 'Shared' });
      const original = await jpeg(400, 300);
      await knex.transaction((trx) => imageSet(user, 'picture').fromBlob(original, { store, trx }));
      const widths = [40, 50, 60, 70, 80, 90, 100, 110];
      const outputs = await Promise.all(
        [1, 2, 3].map(() =>
          run(process.execPath, [
            '--import',
            'tsx',
            child,
            path.join(dir, 'db.sqlite'),
            root,
            String(user.id),
            '16',
            widths.join(','),
          ]),
        ),
      );
      const results = outputs.map((o) => JSON.parse(o.stdout.trim()) as { succeeded: number; failed: string[] });
      assert.deepEqual(
        results.flatMap((r) => r.failed),
        [],
      );
      assert.equal(
        results.reduce((n, r) => n + r.succeeded, 0),
        48,
      );
      const rows = await UserPicture.query(knex).where('user_id', user.id);
      assert.equal(rows.length, 1 + widths.length);
      const expected = rows.map((r) => path.relative(root, store.pathFor(r))).sort();
      assert.deepEqual(
        (await listTree(root)).filter((f) => !f.endsWith('/')),
        expected,
      );
    });
  }
});

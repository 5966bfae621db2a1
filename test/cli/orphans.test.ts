import assert from 'node:assert/strict';
import path from 'node:path';
import { Readable } from 'node:stream';
import { utimes } from 'node:fs/promises';
import knexFactory, { type Knex } from 'knex';
import { deleteOrphans, parseMinAge } from '../../src/cli/orphans.js';
import { FileSystemStore } from '../../src/stores/fs.js';
import type { NormalizedKey } from '../../src/stores/keys.js';
import { createSchema } from '../entity/models.js';
import { removeDir, tempDir } from '../support/tmp.js';

const keyString = (key: NormalizedKey) =>
  `${key.objectType}/${key.objectId}/${key.width}x${key.height}/${key.mimetype}`;

describe('deleteOrphans (verify --orphans --delete)', function () {
  let dir: string;
  let store: FileSystemStore;
  let knex: Knex;
  const key = (objectId: number): NormalizedKey =>
    ({
      objectType: 'user-picture',
      objectId: BigInt(objectId),
      width: 10,
      height: 10,
      mimetype: 'image/png',
    }) as NormalizedKey;

  beforeEach(async function () {
    dir = await tempDir('orphans');
    store = new FileSystemStore({ path: path.join(dir, 'store'), baseUrl: 'http://static.example.com/' });
    knex = knexFactory({
      client: 'better-sqlite3',
      connection: { filename: path.join(dir, 'db.sqlite') },
      useNullAsDefault: true,
    });
    await createSchema(knex);
    await knex('users').insert([
      { id: 7, name: 'Ann' },
      { id: 8, name: 'Bob' },
    ]);
    for (const id of [7, 8]) {
      await store.putFile(key(id), Readable.from([Buffer.from('x')]), { reproducible: false });
      const old = new Date(Date.now() - 60 * 60_000);
      await utimes(store.pathFor(key(id)), old, old);
    }
  });
  afterEach(async function () {
    await knex.destroy();
    await removeDir(dir);
  });

  /** The rows' keys, as verify's second pass reads them. */
  async function rowKeys(): Promise<Set<string>> {
    const rows = (await knex('user_picture').select('user_id', 'width', 'height', 'mimetype')) as Array<{
      user_id: number;
      width: number;
      height: number;
      mimetype: string;
    }>;
    return new Set(
      rows.map((r) =>
        keyString({
          objectType: 'user-picture',
          objectId: BigInt(r.user_id),
          width: r.width,
          height: r.height,
          mimetype: r.mimetype,
        } as NormalizedKey),
      ),
    );
  }

  it('keeps a file whose row was committed after the rows were first read, and deletes the others', async function () {
    // Both files were orphans when the rows were first read; then user 7's upload commits.
    const verdicts = await deleteOrphans(store, [key(7), key(8)], parseMinAge('10m'), keyString, async () => {
      await knex('user_picture').insert({
        user_id: 7,
        width: 10,
        height: 10,
        mimetype: 'image/png',
        original: true,
        created_at: new Date(),
      });
      return rowKeys();
    });
    assert.deepEqual(
      verdicts.nowReferenced.map((k) => k.objectId),
      [7n],
    );
    assert.deepEqual(
      verdicts.deleted.map((k) => k.objectId),
      [8n],
    );
    assert.notEqual(await store.statFile(key(7)), null);
    assert.equal(await store.statFile(key(8)), null);
  });

  it('reads the rows again only when some orphan is old enough', async function () {
    let reads = 0;
    const verdicts = await deleteOrphans(store, [key(7)], parseMinAge('2h'), keyString, async () => {
      reads++;
      return rowKeys();
    });
    assert.equal(reads, 0);
    assert.deepEqual(
      verdicts.tooRecent.map((k) => k.objectId),
      [7n],
    );
    assert.notEqual(await store.statFile(key(7)), null);
  });

  it('with dryRun, says what it would delete and deletes nothing (clean --superseded --dry-run)', async function () {
    const verdicts = await deleteOrphans(store, [key(7), key(8)], parseMinAge('10m'), keyString, rowKeys, {
      dryRun: true,
    });
    assert.deepEqual(
      verdicts.deleted.map((k) => k.objectId),
      [7n, 8n],
    );
    assert.notEqual(await store.statFile(key(7)), null);
    assert.notEqual(await store.statFile(key(8)), null);
  });

  it('parses --min-age', function () {
    assert.deepEqual(
      ['0', '90s', '10m', '2h', '1d', '500ms'].map(parseMinAge),
      [0, 90_000, 600_000, 7_200_000, 86_400_000, 500],
    );
    for (const bad of ['10', 'm', '-1m', '1.5h', ''])
      assert.throws(() => parseMinAge(bad), { code: 'ERR_INVALID_ARGUMENT' });
  });
});

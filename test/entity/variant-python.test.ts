/**
 * What Python's SQLAlchemy-ImageAttach sees of a set with variants: its table unchanged, its
 * reads, replacements and deletes working as before; and a Python replacement making our old
 * outputs unserved. Keys of either side never parse as the other's, and the current
 * `verify --orphans --delete` leaves variant files alone.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import knexFactory, { type Knex } from 'knex';
import { Model } from 'objection';
import { FileSystemStore, filesSettled, imageSet, popStoreContext, pushStoreContext } from '../../src/index.js';
import { readMeta } from '../../src/entity/set-meta.js';
import { readVariantRows } from '../../src/entity/variant-rows.js';
import {
  fileSystemSegments,
  keyFromFileSystemSegments,
  keyFromObjectStorageKey,
  objectStorageKey,
  parseVariantObjectType,
  variantObjectType,
} from '../../src/stores/keys.js';
import { REPO, runCli } from '../support/cli.js';
import { type DialectName, forEachDialect } from '../support/db.js';
import { fsStore } from '../support/fs-store.js';
import { jpeg } from '../support/images.js';
import { listTree, removeDir, tempDir } from '../support/tmp.js';
import { createVariantSchema, Member } from './variant-models.js';

/** Inserts an image row as SQLAlchemy-ImageAttach does (see test/support/python-schema.ts). */
async function insertPythonRow(
  knex: Knex | Knex.Transaction,
  dialect: DialectName,
  row: { member_id: number; width: number; height: number; mimetype: string; original: boolean; created_at: string },
): Promise<void> {
  const createdAt =
    dialect === 'postgres'
      ? knex.raw('?::timestamptz', [`${row.created_at}+00`])
      : dialect === 'mysql'
        ? row.created_at.slice(0, 19)
        : row.created_at;
  await knex('member_picture').insert({
    ...row,
    original: dialect === 'postgres' ? row.original : row.original ? 1 : 0,
    created_at: createdAt,
  });
}

forEachDialect('variants, as Python sees them', (db, dialect) => {
  let store: FileSystemStore;
  let root: string;
  let cleanup: () => Promise<void>;
  let member: Member;
  const variantFiles = () =>
    listTree(root).then((all) => all.filter((f) => !f.endsWith('/') && /\.[a-z]+\.[0-9a-f]{12}\//.test(f)));

  before(async function () {
    Model.knex(db());
    await createVariantSchema(db());
  });
  beforeEach(async function () {
    ({ store, dir: root, cleanup } = await fsStore(`variant-python-${dialect}`));
    pushStoreContext(store);
    member = await Member.query().insert({ name: 'Py' });
    const set = imageSet(member, 'picture');
    await set.fromBlob(await jpeg(200, 100), { thumbnails: [{ width: 40 }] });
    await set.generateVariants(['card', 'hero']);
    await set.setFocalPoint({ x: 0.3, y: 0.3 });
  });
  afterEach(async function () {
    popStoreContext();
    await cleanup();
  });

  it("reads its table as before: its own rows and columns only; find_thumbnail's width query finds one row", async function () {
    const rows = await db()('member_picture').where('member_id', member.id).orderBy('width');
    assert.deepEqual(
      rows.map((r) => [r.width, r.height, Boolean(r.original)]),
      [
        [40, 20, false],
        [200, 100, true],
      ],
    );
    assert.deepEqual(Object.keys(rows[0]).sort(), [
      'created_at',
      'height',
      'member_id',
      'mimetype',
      'original',
      'width',
    ]);
    // Python's find_thumbnail(width=48) / generate_thumbnail: `.one()` over these rows.
    assert.equal((await db()('member_picture').where({ member_id: member.id, width: 48 })).length, 0);
    assert.equal((await db()('member_picture').where({ member_id: member.id, width: 40 })).length, 1);
  });

  it('a Python replacement makes our old outputs, focal point and box source unserved; our next write cleans them', async function () {
    await db().transaction(async (trx) => {
      await trx('member_picture').where('member_id', member.id).delete();
      await insertPythonRow(trx, dialect, {
        member_id: member.id,
        width: 120,
        height: 90,
        mimetype: 'image/jpeg',
        original: true,
        created_at: '2031-01-02 03:04:05.678901',
      });
    });
    await store.putFile(
      { objectType: 'member-picture', objectId: member.id, width: 120, height: 90, mimetype: 'image/jpeg' },
      Readable.from([await jpeg(120, 90)]),
      { reproducible: false },
    );
    const loaded = (await Member.query().findById(member.id).withGraphFetched('picture'))!;
    const set = imageSet(loaded, 'picture');
    for (const name of ['avatar', 'card', 'hero']) {
      assert.deepEqual(set.variant(name).outputs, [], name);
    }
    assert.equal(set.variant('avatar').missing.length, 4);
    assert.equal(set.focalPoint, undefined);
    assert.equal(set.variant('avatar').box.width, 48);
    const stale = await variantFiles();
    assert.equal(stale.length, 4 + 1 + 2);
    await set.generateVariants(['avatar', 'card', 'hero'], { only: 'missing' });
    await filesSettled();
    const now = await readVariantRows(db(), set);
    assert.equal(now.length, 4 + 1 + 2);
    assert.ok(
      now.every(
        (r) => r.sourceCreatedAt.toISOString() === '2031-01-02T03:04:05.' + (dialect === 'mysql' ? '000Z' : '678Z'),
      ),
    );
    assert.equal((await variantFiles()).length, now.length, "the old outputs' files are gone");
    assert.equal((await readMeta(db(), set))!.sourceWidth, 120);
    // Python reads its table as it wrote it.
    assert.equal((await db()('member_picture').where('member_id', member.id)).length, 1);
  });

  it('a Python row of an EXIF-rotated photo: the meta row has the upright size, the outputs are of the upright picture', async function () {
    const other = await Member.query().insert({ name: 'Rot' });
    // Stored 80×40 with orientation 6: displayed 40×80, as Python keeps it (its row has the stored size).
    await insertPythonRow(db(), dialect, {
      member_id: other.id,
      width: 80,
      height: 40,
      mimetype: 'image/jpeg',
      original: true,
      created_at: '2031-01-02 03:04:05.000000',
    });
    await store.putFile(
      { objectType: 'member-picture', objectId: other.id, width: 80, height: 40, mimetype: 'image/jpeg' },
      Readable.from([await jpeg(80, 40, { orientation: 6 })]),
      { reproducible: false },
    );
    const set = await imageSet(other, 'picture').load();
    const [hero] = await set.generateVariants(['hero']);
    assert.deepEqual([hero!.width, hero!.height], [40, 80], '64w of a 40-wide upright picture: not enlarged');
    const meta = (await readMeta(db(), set))!;
    assert.deepEqual([meta.sourceWidth, meta.sourceHeight], [40, 80]);
    assert.deepEqual(set.variant('avatar').box, { width: 40, height: 40 }, 'the box follows the upright size');
  });

  it("Python's delete of the set and of the owner: our rows cascade with the owner", async function () {
    if (dialect === 'sqlite') await db().raw('PRAGMA foreign_keys = ON');
    try {
      await db().transaction(async (trx) => {
        await trx('member_picture').where('member_id', member.id).delete();
        await trx('members').where('id', member.id).delete();
      });
    } finally {
      if (dialect === 'sqlite') await db().raw('PRAGMA foreign_keys = OFF');
    }
    assert.deepEqual(await db()('member_picture_variants').where('member_id', member.id), []);
    assert.deepEqual(await db()('member_picture_meta').where('member_id', member.id), []);
  });
});

describe('variant keys and Python keys', function () {
  const python = { objectType: 'member-picture', objectId: 1234n, width: 40, height: 20, mimetype: 'image/jpeg' };
  const variant = { ...python, objectType: variantObjectType('member-picture', 'avatar', '0123456789ab') };

  it('a variant key parses back as a variant key, never as a key of a Python object type, and the reverse', function () {
    for (const parse of [
      (k: typeof python) => keyFromFileSystemSegments(fileSystemSegments(k)),
      (k: typeof python) => keyFromObjectStorageKey(objectStorageKey(k)),
    ]) {
      const v = parse(variant)!;
      assert.notEqual(v.objectType, python.objectType);
      assert.deepEqual(parseVariantObjectType(v.objectType), {
        objectType: 'member-picture',
        variant: 'avatar',
        digest: '0123456789ab',
      });
      const p = parse(python)!;
      assert.equal(p.objectType, 'member-picture');
      assert.equal(parseVariantObjectType(p.objectType), undefined);
    }
    // Python's default object types (table names, `_` → `-`) hold no dot: none can look like a variant's.
    for (const objectType of ['member-picture', 'user_picture', 'a-b-c'])
      assert.equal(parseVariantObjectType(objectType), undefined);
  });
});

describe('the current verify --orphans --delete and variant files', function () {
  this.timeout(60_000);
  let work: string;
  let configDir: string;

  before(async function () {
    work = await tempDir('variant-orphans');
    configDir = path.join(REPO, 'test-output', `variant-orphans-${randomBytes(4).toString('hex')}`);
    await mkdir(configDir, { recursive: true });
  });
  after(async function () {
    await removeDir(work);
    await rm(configDir, { recursive: true, force: true });
  });

  it('leaves live variant files alone (it skips object types no image class has)', async function () {
    const dbFile = path.join(work, 'db.sqlite');
    const storeRoot = path.join(work, 'store');
    const src = (file: string) => JSON.stringify(path.join(REPO, file));
    const config = path.join(configDir, 'imageattach.config.ts');
    await writeFile(
      config,
      `import knexFactory from 'knex';
import { FileSystemStore } from ${src('src/index.js')};
import { Member } from ${src('test/entity/variant-models.js')};
export const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: ${JSON.stringify(dbFile)} }, useNullAsDefault: true });
export const models = { members: Member };
export const stores = { local: new FileSystemStore({ path: ${JSON.stringify(storeRoot)}, baseUrl: 'http://static.example.com/' }) };
export const defaultStore = 'local';
`,
    );
    const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: dbFile }, useNullAsDefault: true });
    try {
      await createVariantSchema(knex);
      Model.knex(knex);
      const local = new FileSystemStore({ path: storeRoot, baseUrl: 'http://static.example.com/' });
      pushStoreContext(local);
      try {
        const member = await Member.query().insert({ name: 'Orphan' });
        await imageSet(member, 'picture').fromBlob(await jpeg(200, 100));
      } finally {
        popStoreContext();
      }
      const before = (await listTree(storeRoot)).filter((f) => !f.endsWith('/'));
      assert.equal(before.length, 5);
      const result = await runCli(['--config', config, 'verify', '--orphans', '--delete', '--min-age', '0', '--json']);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout).orphans, []);
      assert.deepEqual(
        (await listTree(storeRoot)).filter((f) => !f.endsWith('/')),
        before,
      );
    } finally {
      await knex.destroy();
    }
  });
});

import assert from 'node:assert/strict';
import knexFactory, { type Knex } from 'knex';
import { Model } from 'objection';
import { withStore } from '../../src/context.js';
import { imageSet } from '../../src/entity/image-set.js';
import { FileSystemStore } from '../../src/stores/fs.js';
import { forEachDialect } from '../support/db.js';
import { fsStore } from '../support/fs-store.js';
import { jpeg } from '../support/images.js';
import { createPythonSchema, insertPythonRow } from '../support/python-schema.js';
import { User, UserPicture } from './models.js';

const tsOf = (url: string) => /[?&]_ts=(\d+)$/.exec(url)![1];

forEachDialect('created_at as SQLAlchemy-ImageAttach writes and reads it', (db, dialect) => {
  let store: FileSystemStore;
  let cleanup: () => Promise<void>;
  let user: User;

  before(async function () {
    Model.knex(db());
    await createPythonSchema(db(), dialect);
  });
  beforeEach(async function () {
    ({ store, cleanup } = await fsStore(`created-at-${dialect}`));
    user = await User.query().insert({ name: 'Ann' });
  });
  afterEach(async function () {
    await cleanup();
  });

  const pythonRow = (createdAt: string) =>
    insertPythonRow(db(), dialect, {
      user_id: user.id,
      width: 405,
      height: 640,
      mimetype: 'image/jpeg',
      original: true,
      created_at: createdAt,
    });
  const readBack = async (knex: Knex = db()) => (await UserPicture.query(knex).where('user_id', user.id))[0]!;

  it("gives a Python row's _ts to the microsecond (whole seconds where MySQL's DATETIME keeps no more)", async function () {
    await pythonRow('2026-12-02 11:04:55.393703');
    const image = await readBack();
    assert.equal(tsOf(image.locate({ store })), dialect === 'mysql' ? '20261202110455000000' : '20261202110455393703');
    assert.ok(image.created_at instanceof Date);
    assert.equal(
      image.created_at.toISOString(),
      dialect === 'mysql' ? '2026-12-02T11:04:55.000Z' : '2026-12-02T11:04:55.393Z',
    );
  });

  it('a new image has the _ts a later read of its row gives', async function () {
    const attached = await withStore(store, async () => imageSet(user, 'picture').fromBlob(await jpeg(40, 30)));
    assert.equal(tsOf(attached.locate({ store })), tsOf((await readBack()).locate({ store })));
  });

  if (dialect === 'sqlite') {
    it("writes the text SQLAlchemy writes ('2026-12-02 11:04:43.123456'), which Python parses, not epoch milliseconds", async function () {
      const attached = await withStore(store, async () => imageSet(user, 'picture').fromBlob(await jpeg(40, 30)));
      const [raw] = await db().raw(
        'SELECT created_at, typeof(created_at) AS type FROM user_picture WHERE user_id = ?',
        [user.id],
      );
      assert.equal(raw.type, 'text');
      assert.match(raw.created_at, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/);
      assert.equal(raw.created_at.replace(/\D/g, ''), tsOf(attached.locate({ store })));
    });

    it('reads rows this library wrote before as epoch milliseconds', async function () {
      await db()('user_picture').insert({
        user_id: user.id,
        width: 405,
        height: 640,
        mimetype: 'image/jpeg',
        original: 1,
        created_at: 1796209489395,
      });
      const image = await readBack();
      assert.equal(image.created_at.toISOString(), '2026-12-02T11:04:49.395Z');
      assert.equal(tsOf(image.locate({ store })), '20261202110449395000');
    });
  }

  if (dialect === 'mysql') {
    it('a DATETIME(6) column (as imageColumns makes it) gives its microseconds', async function () {
      await db().raw('ALTER TABLE user_picture MODIFY created_at DATETIME(6) NOT NULL');
      try {
        await pythonRow('2026-12-02 11:04:55.893703');
        assert.equal(tsOf((await readBack()).locate({ store })), '20261202110455893703');
      } finally {
        await db()('user_picture').delete();
        await db().raw('ALTER TABLE user_picture MODIFY created_at DATETIME NOT NULL');
      }
    });
  }

  if (dialect === 'postgres') {
    describe("in the session's time zone, as Python's strftime of the value (PGTZ=Asia/Seoul)", function () {
      let seoul: Knex;
      before(function () {
        const { searchPath } = db().client.config as { searchPath: string[] };
        seoul = knexFactory({
          client: 'pg',
          connection: { connectionString: process.env.PG_URL, options: '-c TimeZone=Asia/Seoul' },
          searchPath,
          pool: { min: 0, max: 2 },
        });
      });
      after(async function () {
        await seoul.destroy();
      });

      it("a Python row's _ts is its Seoul wall clock: 20261202200454140674", async function () {
        await pythonRow('2026-12-02 11:04:54.140674');
        const image = await readBack(seoul);
        assert.equal(tsOf(image.locate({ store })), '20261202200454140674');
        assert.equal(image.created_at.toISOString(), '2026-12-02T11:04:54.140Z');
      });

      it('a new image has the _ts a later read gives, and keeps the microseconds of an update', async function () {
        const bytes = await jpeg(40, 30);
        const viaSeoul = await seoul.transaction((trx) => imageSet(user, 'picture').fromBlob(bytes, { trx, store }));
        const read = await readBack(seoul);
        assert.equal(tsOf(viaSeoul.locate({ store })), tsOf(read.locate({ store })));
        // A whole-row update writes the value back with its microseconds.
        await db().raw("UPDATE user_picture SET created_at = '2026-12-02 11:04:54.140674+00' WHERE user_id = ?", [
          user.id,
        ]);
        const exact = await readBack(seoul);
        await exact.$query(seoul).update();
        assert.equal(tsOf((await readBack(seoul)).locate({ store })), '20261202200454140674');
      });
    });
  }
});

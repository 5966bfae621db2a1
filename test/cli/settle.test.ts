/**
 * `objection-imageattach settle`, run as the real executable against a temp SQLite database: it
 * puts in place what a dead process staged and committed, and puts back committed bytes that a
 * rollback could not restore (ERR_RESTORE_FAILED), and says so.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { Model } from 'objection';
import { filesSettled } from '../../src/entity/ledger.js';
import { imageSet } from '../../src/entity/image-set.js';
import { FileSystemStore } from '../../src/stores/fs.js';
import { createSchema, User, UserPicture } from '../entity/models.js';
import { REPO, runCli } from '../support/cli.js';
import { HookedStore } from '../support/hooked-store.js';
import { jpeg } from '../support/images.js';
import { removeDir, tempDir } from '../support/tmp.js';

describe('objection-imageattach settle', function () {
  this.timeout(60_000);
  let work: string;
  let configDir: string;
  let config: string;
  let knex: Knex;
  let local: FileSystemStore;
  let own: HookedStore;

  beforeEach(async function () {
    work = await tempDir('cli-settle');
    const dbFile = path.join(work, 'images.sqlite');
    const localRoot = path.join(work, 'local');
    const ownRoot = path.join(work, 'own');
    // Base URLs of their own: kept backups are matched to their store by them.
    const localUrl = `http://local.example.com/${path.basename(work)}/`;
    const ownUrl = `http://own.example.com/${path.basename(work)}/`;
    configDir = path.join(REPO, 'test-output', `cli-settle-${randomBytes(4).toString('hex')}`);
    await mkdir(configDir, { recursive: true });
    config = path.join(configDir, 'imageattach.config.ts');
    const src = (file: string) => JSON.stringify(path.join(REPO, file));
    await writeFile(
      config,
      `import knexFactory from 'knex';
import { FileSystemStore } from ${src('src/stores/fs.js')};
import { HookedStore } from ${src('test/support/hooked-store.js')};
import { User } from ${src('test/entity/models.js')};
export const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: ${JSON.stringify(dbFile)} }, useNullAsDefault: true });
export const models = { users: User };
export const stores = {
  local: new FileSystemStore({ path: ${JSON.stringify(localRoot)}, baseUrl: ${JSON.stringify(localUrl)} }),
  own: new HookedStore(new FileSystemStore({ path: ${JSON.stringify(ownRoot)}, baseUrl: ${JSON.stringify(ownUrl)} })),
};
`,
    );
    knex = knexFactory({
      client: 'better-sqlite3',
      connection: { filename: dbFile },
      useNullAsDefault: true,
      pool: { min: 1, max: 1 },
    });
    await createSchema(knex);
    Model.knex(knex);
    local = new FileSystemStore({ path: localRoot, baseUrl: localUrl });
    own = new HookedStore(new FileSystemStore({ path: ownRoot, baseUrl: ownUrl }));
  });

  afterEach(async function () {
    await knex.destroy();
    await removeDir(work);
    await rm(configDir, { recursive: true, force: true });
  });

  it('puts back the committed bytes a rollback could not restore, and says so', async function () {
    const user = await User.query().insert({ name: 'Ann' });
    const before = await jpeg(40, 30);
    await imageSet(user, 'picture').fromBlob(before, { store: own });
    const trx = await Model.startTransaction();
    await imageSet(user, 'picture').fromBlob(await jpeg(40, 30), { store: own, trx });
    own.onPut = async (_key, stream) => {
      stream.destroy();
      throw new Error('the store is down');
    };
    const warned = new Promise((resolve) => process.once('warning', resolve));
    await trx.rollback();
    await filesSettled(trx);
    await warned;
    const row = (await UserPicture.query().where('user_id', user.id))[0]!;
    const file = (own.inner as FileSystemStore).pathFor(row);
    assert.ok(!(await readFile(file)).equals(before));

    await knex.destroy(); // SQLite: one writer at a time; the CLI writes now
    const verify = await runCli(['--config', config, 'verify', '--store', 'own']);
    assert.equal(verify.code, 1, 'a key serving rolled-back bytes is a problem verify reports');
    assert.match(
      verify.stdout,
      new RegExp(
        `kept backup: user-picture/${user.id} 40x30 image/jpeg holds rolled-back bytes; its committed bytes wait to be put back \\(run settle\\)`,
      ),
    );
    const { code, stdout, stderr } = await runCli(['--config', config, 'settle', '--store', 'own']);
    knex = knexFactory({
      client: 'better-sqlite3',
      connection: { filename: path.join(work, 'images.sqlite') },
      useNullAsDefault: true,
    });
    assert.equal(code, 0, stderr);
    assert.equal(
      stdout,
      'Settled own: 0 staged writes put in place, 0 discarded; 1 kept backups put back, 0 no longer wanted.\n',
    );
    assert.ok((await readFile(file)).equals(before), 'the committed bytes are back, byte for byte');
    assert.equal((await runCli(['--config', config, 'verify', '--store', 'own'])).code, 0);
  });

  it('puts in place what a dead process staged and committed (--json)', async function () {
    const user = await User.query().insert({ name: 'Bob' });
    await imageSet(user, 'picture').fromBlob(await jpeg(40, 30), { store: local });
    const row = (await UserPicture.query().where('user_id', user.id))[0]!;
    // What a process killed between its commit and its rename leaves: a note naming the committed row, and the bytes.
    const token = `4194000-deadbeef-${randomBytes(8).toString('hex')}`;
    const after = await jpeg(40, 30);
    const staging = path.join(work, 'local', '.staging');
    const note = {
      key: { objectType: 'user-picture', objectId: String(user.id), width: 40, height: 30, mimetype: 'image/jpeg' },
      row: {
        table: 'user_picture',
        id: { user_id: user.id, width: 40, height: 30 },
        createdAt: row.created_at.getTime(),
      },
    };
    await mkdir(staging, { recursive: true });
    await writeFile(path.join(staging, `${token}.json`), JSON.stringify(note));
    await writeFile(path.join(staging, `${token}.stage`), after);

    await knex.destroy();
    const { code, stdout, stderr } = await runCli(['--config', config, '--json', 'settle', '--store', 'local']);
    knex = knexFactory({
      client: 'better-sqlite3',
      connection: { filename: path.join(work, 'images.sqlite') },
      useNullAsDefault: true,
    });
    assert.equal(code, 0, stderr);
    assert.deepEqual(JSON.parse(stdout), {
      command: 'settle',
      store: 'local',
      promoted: 1,
      discarded: 0,
      failed: [],
      restored: 0,
      dropped: 0,
    });
    assert.ok((await readFile(local.pathFor(row))).equals(after));
  });
});

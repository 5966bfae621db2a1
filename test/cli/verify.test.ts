/**
 * `objection-imageattach verify`'s guards for a live app (--min-age, the re-read of rows before
 * deleting) and its deep mode, run as the real executable against a temp SQLite database and a
 * temp filesystem store.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import knexFactory, { type Knex } from 'knex';
import sharp from 'sharp';
import { FileSystemStore } from '../../src/stores/fs.js';
import type { ImageKey } from '../../src/stores/keys.js';
import { createSchema } from '../entity/models.js';
import { REPO, runCli } from '../support/cli.js';
import { jpeg, png } from '../support/images.js';
import { removeDir, tempDir } from '../support/tmp.js';

const BASE_URL = 'http://static.example.com/';
const cli = (args: string[], shell?: string) => runCli(args, { shell });

describe('objection-imageattach verify', function () {
  this.timeout(60_000);
  let work: string;
  let configDir: string;
  let config: string;
  let knex: Knex;
  let local: FileSystemStore;
  const run = (args: string[]) => cli(['--config', config, ...args]);
  const orphan: ImageKey = { objectType: 'user-picture', objectId: 7, width: 10, height: 10, mimetype: 'image/png' };

  async function addImage(
    table: string,
    userId: number,
    bytes: Buffer,
    mimetype: string,
    original: boolean,
  ): Promise<ImageKey> {
    const { width, height } = await sharp(bytes).metadata();
    await knex(table).insert({ user_id: userId, width, height, mimetype, original, created_at: new Date() });
    const key = { objectType: table.replace(/_/g, '-'), objectId: userId, width: width!, height: height!, mimetype };
    await local.putFile(key, Readable.from([bytes]), { reproducible: !original });
    return key;
  }

  /** Makes the file of `key` look `minutes` old. */
  async function age(key: ImageKey, minutes: number): Promise<void> {
    const when = new Date(Date.now() - minutes * 60_000);
    await utimes(local.pathFor(key), when, when);
  }

  beforeEach(async function () {
    work = await tempDir('cli-verify');
    const dbFile = path.join(work, 'images.sqlite');
    const root = path.join(work, 'local');
    configDir = path.join(REPO, 'test-output', `cli-verify-${randomBytes(4).toString('hex')}`);
    await mkdir(configDir, { recursive: true });
    config = path.join(configDir, 'imageattach.config.ts');
    const src = (file: string) => JSON.stringify(path.join(REPO, file));
    await writeFile(
      config,
      `import knexFactory from 'knex';
import { FileSystemStore } from ${src('src/stores/fs.js')};
import { User } from ${src('test/entity/models.js')};
export const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: ${JSON.stringify(dbFile)} }, useNullAsDefault: true });
export const models = { users: User };
export const stores = { local: new FileSystemStore({ path: ${JSON.stringify(root)}, baseUrl: '${BASE_URL}' }) };
`,
    );
    knex = knexFactory({ client: 'better-sqlite3', connection: { filename: dbFile }, useNullAsDefault: true });
    await createSchema(knex);
    local = new FileSystemStore({ path: root, baseUrl: BASE_URL });
    await knex('users').insert([
      { id: 1, name: 'Ann' },
      { id: 2, name: 'Bob' },
    ]);
    await addImage('user_picture', 1, await jpeg(40, 30), 'image/jpeg', true);
    await addImage('user_picture', 2, await png(16, 12), 'image/png', true);
  });

  afterEach(async function () {
    await knex.destroy();
    await removeDir(work);
    await rm(configDir, { recursive: true, force: true });
  });

  describe('--orphans --delete', function () {
    it('keeps an orphan newer than the default --min-age (an upload in flight), and deletes it once old', async function () {
      await local.putFile(orphan, Readable.from([Buffer.from('x')]), { reproducible: false });
      const fresh = await run(['verify', '--orphans', '--delete']);
      assert.equal(fresh.code, 0, fresh.stderr);
      assert.match(fresh.stdout, /kept orphan \(newer than --min-age 10m\): user-picture\/7 10x10 image\/png/);
      assert.notEqual(await local.statFile(orphan), null);
      await age(orphan, 11);
      const old = await run(['verify', '--orphans', '--delete', '--json']);
      assert.equal(old.code, 0, old.stderr);
      assert.equal(JSON.parse(old.stdout).deleted, 1);
      assert.equal(await local.statFile(orphan), null);
    });

    it('honours --min-age, and refuses a bad one or one without --delete', async function () {
      await local.putFile(orphan, Readable.from([Buffer.from('x')]), { reproducible: false });
      await age(orphan, 3);
      assert.equal((await run(['verify', '--orphans', '--delete', '--min-age', '5m'])).code, 0);
      assert.notEqual(await local.statFile(orphan), null);
      const bad = await run(['verify', '--orphans', '--delete', '--min-age', 'soon']);
      assert.equal(bad.code, 2);
      assert.match(
        bad.stderr,
        /Expected a duration such as 90s, 10m, 2h or 1d \(or 0\) for --min-age but received "soon"/,
      );
      assert.equal((await run(['verify', '--orphans', '--min-age', '1m'])).code, 2);
      assert.equal((await run(['verify', '--orphans', '--delete', '--min-age', '2m'])).code, 0);
      assert.equal(await local.statFile(orphan), null);
    });
  });

  describe('--deep', function () {
    it('reports a file whose bytes are not what its row says (type or size), with exit code 1', async function () {
      const row = { objectType: 'user-picture', objectId: 2, width: 16, height: 12, mimetype: 'image/png' };
      // Other bytes under the row's key: a JPEG of another size.
      await writeFile(local.pathFor(row), await jpeg(20, 10));
      const shallow = await run(['verify']);
      assert.equal(shallow.code, 0, 'an existence check passes it');
      const deep = await run(['verify', '--deep']);
      assert.equal(deep.code, 1, deep.stderr);
      assert.equal(
        deep.stdout,
        'mismatch: user-picture/2 16x12 image/png: the file is image/jpeg 20x10\nChecked 2 images in local (headers read): 0 missing, 1 not matching their row.\n',
      );
      const json = JSON.parse((await run(['verify', '--deep', '--json'])).stdout);
      assert.deepEqual(json.mismatched, [
        {
          objectType: 'user-picture',
          objectId: '2',
          width: 16,
          height: 12,
          mimetype: 'image/png',
          problem: 'the file is image/jpeg 20x10',
        },
      ]);
    });

    it('passes matching files, and reports bytes that are no image', async function () {
      const ok = await run(['verify', '--deep']);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, 'Checked 2 images in local (headers read): 0 missing, 0 not matching their row.\n');
      await writeFile(
        local.pathFor({ objectType: 'user-picture', objectId: 1, width: 40, height: 30, mimetype: 'image/jpeg' }),
        'not an image',
      );
      const bad = await run(['verify', '--deep']);
      assert.equal(bad.code, 1);
      assert.match(bad.stdout, /^mismatch: user-picture\/1 40x30 image\/jpeg: the file is no image of a known type$/m);
    });
  });

  describe('--help', function () {
    it('says what --min-age and the re-read guard against', async function () {
      const help = await cli(['verify', '--help']);
      assert.match(help.stdout, /--min-age <age>/);
      assert.match(help.stdout, /never deletes a file newer than --min-age/);
      assert.match(help.stdout, /--deep/);
    });
    it('exits quietly when its reader goes away (| head -1)', async function () {
      const result = await cli(['--help'], '| head -1; exit ${PIPESTATUS[0]}');
      assert.equal(result.stdout, 'Usage: objection-imageattach [options] [command]\n');
      assert.equal(result.stderr, '');
    });
  });
});

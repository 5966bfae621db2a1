/**
 * The real `objection-imageattach` executable, run in a child process (node + tsx on src/cli.ts)
 * against a temp SQLite database file and temp filesystem stores, configured by a file the test
 * writes.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import knexFactory, { type Knex } from 'knex';
import sharp from 'sharp';
import { FileSystemStore, type ImageKey } from '../src/index.js';
import { createSchema } from './entity/models.js';
import { REPO, runCli } from './support/cli.js';
import { jpeg, png } from './support/images.js';
import { listTree, removeDir, tempDir } from './support/tmp.js';

const BASE_URL = 'http://static.example.com/';
const cli = runCli;

async function files(root: string): Promise<string[]> {
  return (await listTree(root)).filter((f) => !f.endsWith('/') && !path.basename(f).startsWith('.'));
}

describe('objection-imageattach CLI', function () {
  this.timeout(60_000);
  let work: string;
  let configDir: string;
  let config: string;
  let dbFile: string;
  let roots: Record<'local' | 'backup' | 'slow', string>;
  let knex: Knex;
  let local: FileSystemStore;
  let photo: Buffer;
  let drawing: Buffer;
  const run = (args: string[], options?: Parameters<typeof cli>[1]) => cli(['--config', config, ...args], options);

  before(async function () {
    [photo, drawing] = await Promise.all([jpeg(400, 300), png(64, 48)]);
  });

  beforeEach(async function () {
    work = await tempDir('cli');
    dbFile = path.join(work, 'images.sqlite');
    roots = { local: path.join(work, 'local'), backup: path.join(work, 'backup'), slow: path.join(work, 'slow') };
    // The config imports the library and the test models, so it lives inside the repo, where
    // node finds objection and knex (test-output/ is ignored by git).
    configDir = path.join(REPO, 'test-output', `cli-${randomBytes(4).toString('hex')}`);
    await mkdir(configDir, { recursive: true });
    config = path.join(configDir, 'imageattach.config.ts');
    const src = (file: string) => JSON.stringify(path.join(REPO, file));
    await writeFile(
      config,
      `import knexFactory from 'knex';
import { FileSystemStore } from ${src('src/index.js')};
import { User } from ${src('test/entity/models.js')};
import { SlowStore } from ${src('test/support/stores.js')};

export const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: ${JSON.stringify(dbFile)} }, useNullAsDefault: true });
export const models = { users: User };
const slow = new SlowStore({ path: ${JSON.stringify(roots.slow)}, baseUrl: '${BASE_URL}' });
slow.delayMs = Number(process.env.SLOW_MS ?? 0);
export const stores = {
  local: new FileSystemStore({ path: ${JSON.stringify(roots.local)}, baseUrl: '${BASE_URL}' }),
  backup: new FileSystemStore({ path: ${JSON.stringify(roots.backup)}, baseUrl: '${BASE_URL}' }),
  slow,
};
export const defaultStore = 'local';
`,
    );
    knex = knexFactory({ client: 'better-sqlite3', connection: { filename: dbFile }, useNullAsDefault: true });
    await createSchema(knex);
    local = new FileSystemStore({ path: roots.local, baseUrl: BASE_URL });
    await seed();
  });

  afterEach(async function () {
    await knex.destroy();
    await removeDir(work);
    await rm(configDir, { recursive: true, force: true });
  });

  /** A row and its file in the local store. */
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

  /** SQLAlchemy-ImageAttach's scenario: per image class, one set with an original and 3 thumbnails, one with an original only. */
  async function seed(): Promise<void> {
    await knex('users').insert([
      { id: 1, name: 'Ann' },
      { id: 2, name: 'Bob' },
    ]);
    const thumbs = await Promise.all(
      [30, 60, 90].map((height) =>
        sharp(photo)
          .resize((height * 4) / 3, height)
          .jpeg()
          .toBuffer(),
      ),
    );
    await addImage('user_picture', 1, photo, 'image/jpeg', true);
    for (const thumb of thumbs) await addImage('user_picture', 1, thumb, 'image/jpeg', false);
    await addImage('user_picture', 2, drawing, 'image/png', true);
    await addImage('user_cover', 2, photo, 'image/jpeg', true);
    for (const thumb of thumbs) await addImage('user_cover', 2, thumb, 'image/jpeg', false);
    await addImage('user_cover', 1, drawing, 'image/png', true);
  }

  describe('--help', function () {
    it('is on the program and on every command, with exit code 0', async function () {
      const runs = await Promise.all(
        [[], ['migrate'], ['regenerate'], ['verify']].map((args) => cli([...args, '--help'])),
      );
      for (const [i, name] of ['', 'migrate ', 'regenerate ', 'verify '].entries()) {
        assert.equal(runs[i]!.code, 0);
        assert.match(runs[i]!.stdout, new RegExp(`^Usage: objection-imageattach ${name}\\[options\\]`));
      }
      assert.match(runs[0]!.stdout, /Exit codes:\n {2}0 +done, nothing wrong found\n {2}1 +problems/);
      assert.match(runs[1]!.stdout, /--skip-existing/);
      assert.match(runs[2]!.stdout, /--only-missing/);
      assert.match(runs[3]!.stdout, /--orphans/);
    });

    it('an unknown command or a missing required option is a usage error (exit code 2)', async function () {
      const [unknown, missing] = await Promise.all([run(['copy']), run(['migrate', '--from', 'local'])]);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /unknown command 'copy'/);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /required option '--to <name>' not specified/);
    });
  });

  describe('migrate', function () {
    it('copies every file to the other store, leaves the source as it was, and says so', async function () {
      const before = await files(roots.local);
      const result = await run(['migrate', '--from', 'local', '--to', 'backup']);
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stdout,
        /^Migrated 10 of 10 images from local to backup: 10 copied, 0 skipped, 0 failed \([\d.]+ kB in \d+s\)\.\n$/,
      );
      assert.deepEqual(await files(roots.backup), before);
      assert.deepEqual(await files(roots.local), before);
      for (const file of before)
        assert.ok((await readFile(path.join(roots.backup, file))).equals(await readFile(path.join(roots.local, file))));
    });

    it('--json prints one JSON document with the counts', async function () {
      const result = await run(['migrate', '--from', 'local', '--to', 'backup', '--json', '--verify']);
      assert.equal(result.code, 0, result.stderr);
      const report = JSON.parse(result.stdout);
      assert.deepEqual(
        { ...report, bytes: typeof report.bytes, seconds: typeof report.seconds },
        {
          command: 'migrate',
          from: 'local',
          to: 'backup',
          dryRun: false,
          ending: 'complete',
          total: 10,
          done: 10,
          copied: 10,
          skipped: 0,
          bytes: 'number',
          failed: [],
          seconds: 'number',
        },
      );
    });

    it('--dry-run writes nothing and reports what it would copy', async function () {
      const result = await run(['migrate', '--from', 'local', '--to', 'backup', '--dry-run']);
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stdout,
        /^Dry run from local to backup: 10 images; 10 to copy \([\d.]+ kB\), 0 already there, 0 failed\. Nothing was written\.\n$/,
      );
      assert.deepEqual(await files(roots.backup), []);
    });

    it('a missing source file is listed, the rest is copied, and the exit code is 1', async function () {
      await unlink(
        local.pathFor({ objectType: 'user-picture', objectId: 1, width: 80, height: 60, mimetype: 'image/jpeg' }),
      );
      const result = await run(['migrate', '--from', 'local', '--to', 'backup']);
      assert.equal(result.code, 1);
      assert.match(
        result.stdout,
        /^failed: user-picture\/1 80x60 image\/jpeg: ERR_IMAGE_NOT_FOUND: No local image file named 1\.80x60\.jpe\n/,
      );
      assert.match(result.stdout, /9 of 10 images .*: 9 copied, 0 skipped, 1 failed/);
      assert.equal((await files(roots.backup)).length, 9);
    });

    it('killed halfway, completes on rerun with --skip-existing, copying nothing twice', async function () {
      const killed = await run(['migrate', '--from', 'local', '--to', 'slow', '--concurrency', '1'], {
        env: { SLOW_MS: '300' },
        started: (child) => {
          void (async () => {
            while ((await files(roots.slow)).length < 3) await sleep(20);
            child.kill('SIGKILL');
          })();
        },
      });
      assert.equal(killed.signal, 'SIGKILL');
      const held = await files(roots.slow);
      assert.ok(held.length >= 3 && held.length < 10, `${held.length} files after the kill`);
      const inodes = await Promise.all(held.map(async (f) => (await stat(path.join(roots.slow, f))).ino));

      const rerun = await run(['migrate', '--from', 'local', '--to', 'slow', '--skip-existing', '--json']);
      assert.equal(rerun.code, 0, rerun.stderr);
      const report = JSON.parse(rerun.stdout);
      assert.deepEqual([report.skipped, report.copied, report.done], [held.length, 10 - held.length, 10]);
      assert.deepEqual(await files(roots.slow), await files(roots.local));
      // The files copied before the kill are the very same files: not written again.
      assert.deepEqual(await Promise.all(held.map(async (f) => (await stat(path.join(roots.slow, f))).ino)), inodes);
    });

    it('Ctrl-C (SIGINT) finishes the copies under way, reports, and exits with 130', async function () {
      const result = await run(['migrate', '--from', 'local', '--to', 'slow', '--concurrency', '2'], {
        env: { SLOW_MS: '300' },
        started: (child) => {
          void (async () => {
            while ((await files(roots.slow)).length < 2) await sleep(20);
            child.kill('SIGINT');
          })();
        },
      });
      assert.equal(result.code, 130);
      assert.match(result.stderr, /Interrupted: finishing the copies under way/);
      const held = await files(roots.slow);
      assert.match(
        result.stdout,
        new RegExp(
          `^Migrated ${held.length} of 10 images from local to slow: ${held.length} copied, 0 skipped, 0 failed .*\\nInterrupted: copies under way were finished\\. Rerun with --skip-existing to resume\\.\\n$`,
        ),
      );
      assert.ok(held.length < 10);
      assert.deepEqual(
        (await listTree(roots.slow)).filter((f) => f.endsWith('.tmp')),
        [],
        'no copy was cut short',
      );
    });

    it('prints one progress line per 1,000 images when stderr is not a terminal', async function () {
      const many = 1050;
      await knex.batchInsert(
        'users',
        Array.from({ length: many }, (_, i) => ({ id: 100 + i, name: `u${i}` })),
        200,
      );
      const rows = Array.from({ length: many }, (_, i) => ({
        user_id: 100 + i,
        width: 10,
        height: 10,
        mimetype: 'image/png',
        original: true,
        created_at: new Date(),
      }));
      await knex.batchInsert('user_picture', rows, 200);
      for (const row of rows) {
        const key = { objectType: 'user-picture', objectId: row.user_id, width: 10, height: 10, mimetype: 'image/png' };
        await local.putFile(key, Readable.from([Buffer.alloc(100, 1)]), { reproducible: false });
      }
      const result = await run(['migrate', '--from', 'local', '--to', 'backup', '--concurrency', '8']);
      assert.equal(result.code, 0, result.stderr);
      const lines = result.stderr.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0]!, /^migrate: 1000\/1060 images \(94\.3%\), [\d.]+ images\/s, ETA \d+s, [\d.]+ kB$/);
      assert.match(result.stdout, /^Migrated 1060 of 1060 images/);
    });

    it('rejects bad option values, naming the option (exit code 2)', async function () {
      const cases: Array<[string[], RegExp]> = [
        [
          ['--from', 'local', '--to', 'backup', '--concurrency', '0'],
          /Expected an integer from 1 to 256 for --concurrency but received "0" of type string/,
        ],
        [
          ['--from', 'local', '--to', 'nowhere'],
          /Expected the name of a store in the config \(local, backup, slow\) for --to but received "nowhere" of type string/,
        ],
        [
          ['--from', 'local', '--to', 'local'],
          /Expected a store other than --from \(local\) for --to but received "local" of type string/,
        ],
      ];
      const runs = await Promise.all(cases.map(([args]) => run(['migrate', ...args])));
      for (const [i, [, message]] of cases.entries()) {
        assert.equal(runs[i]!.code, 2);
        assert.match(runs[i]!.stderr, message);
      }
      assert.deepEqual(await files(roots.backup), []);
    });
  });

  describe('verify', function () {
    it('all files present: exit code 0', async function () {
      const result = await run(['verify']);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, 'Checked 10 images in local: 0 missing.\n');
    });

    it('a row whose file is missing is listed, with exit code 1 (and in --json)', async function () {
      await unlink(
        local.pathFor({ objectType: 'user-cover', objectId: 1, width: 64, height: 48, mimetype: 'image/png' }),
      );
      const [text, json] = await Promise.all([run(['verify', '--store', 'local']), run(['verify', '--json'])]);
      assert.equal(text.code, 1);
      assert.equal(text.stdout, 'missing: user-cover/1 64x48 image/png\nChecked 10 images in local: 1 missing.\n');
      assert.equal(json.code, 1);
      assert.deepEqual(JSON.parse(json.stdout).missing, [
        { objectType: 'user-cover', objectId: '1', width: 64, height: 48, mimetype: 'image/png' },
      ]);
    });

    it('a TIFF that Python 3.6 stored as .tif is found (exit code 0), reported as such, and migrated as .tiff', async function () {
      const bytes = await sharp({ create: { width: 20, height: 10, channels: 3, background: 'red' } })
        .tiff()
        .toBuffer();
      await knex('users').insert({ id: 3, name: 'Cy' });
      await knex('user_picture').insert({
        user_id: 3,
        width: 20,
        height: 10,
        mimetype: 'image/tiff',
        original: true,
        created_at: '2026-12-02 11:04:43.123456',
      });
      const key = { objectType: 'user-picture', objectId: 3, width: 20, height: 10, mimetype: 'image/tiff' };
      const tif = local.pathFor(key).replace(/\.tiff$/, '.tif');
      await mkdir(path.dirname(tif), { recursive: true });
      await writeFile(tif, bytes);
      const [text, json] = await Promise.all([run(['verify']), run(['verify', '--json'])]);
      assert.equal(text.code, 0, text.stderr);
      assert.equal(
        text.stdout,
        'other extension: user-picture/3 20x10 image/tiff is stored as .tif (it reads; its URL names .tiff: migrate to rename it)\nChecked 11 images in local: 0 missing.\n',
      );
      assert.deepEqual(JSON.parse(json.stdout).otherExtension, [
        { objectType: 'user-picture', objectId: '3', width: 20, height: 10, mimetype: 'image/tiff', extension: '.tif' },
      ]);
      const migrated = await run(['migrate', '--from', 'local', '--to', 'backup', '--verify']);
      assert.equal(migrated.code, 0, migrated.stderr);
      assert.ok((await readFile(path.join(roots.backup, 'user-picture', '3', '0', '3.20x10.tiff'))).equals(bytes));
    });

    it('--orphans lists files no row points to, of the configured classes only, and keeps them', async function () {
      const orphan = { objectType: 'user-picture', objectId: 7, width: 10, height: 10, mimetype: 'image/png' };
      const foreign = { objectType: 'someone-else', objectId: 7, width: 10, height: 10, mimetype: 'image/png' };
      for (const key of [orphan, foreign])
        await local.putFile(key, Readable.from([Buffer.from('x')]), { reproducible: false });
      const result = await run(['verify', '--orphans']);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(
        result.stdout,
        'Checked 10 images in local: 0 missing.\norphan: user-picture/7 10x10 image/png\n1 orphan files (no row points to them); pass --delete to delete them.\n',
      );
      assert.notEqual(await local.statFile(orphan), null);
    });

    it('--orphans --delete deletes them; --delete alone is a usage error', async function () {
      const orphan = { objectType: 'user-picture', objectId: 7, width: 10, height: 10, mimetype: 'image/png' };
      const foreign = { objectType: 'someone-else', objectId: 7, width: 10, height: 10, mimetype: 'image/png' };
      for (const key of [orphan, foreign])
        await local.putFile(key, Readable.from([Buffer.from('x')]), { reproducible: false });
      const alone = await run(['verify', '--delete']);
      assert.equal(alone.code, 2);
      assert.match(alone.stderr, /--delete deletes orphan files: it needs --orphans/);
      const result = await run(['verify', '--orphans', '--delete', '--min-age', '0', '--json']);
      assert.equal(result.code, 0, result.stderr);
      const report = JSON.parse(result.stdout);
      assert.deepEqual([report.orphans.length, report.deleted], [1, 1]);
      assert.equal(await local.statFile(orphan), null);
      assert.notEqual(await local.statFile(foreign), null);
      assert.equal((await files(roots.local)).length, 11);
    });
  });

  describe('regenerate', function () {
    it('--only-missing makes the thumbnails sets lack, and keeps those they have', async function () {
      const result = await run(['regenerate', '--model', 'users.picture', '--width', '80,100', '--only-missing']);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(
        result.stdout,
        'Regenerated thumbnails of 2 image sets of users.picture (UserPicture), widths 80, 100, in local: 3 created, 0 replaced, 0 restored, 1 already there, 0 failed.\n',
      );
      const sizes = await knex('user_picture')
        .orderBy(['user_id', 'width'])
        .select('user_id', 'width', 'height', 'original');
      assert.deepEqual(
        sizes.map((r) => `${r.user_id}:${r.width}x${r.height}${r.original ? '*' : ''}`),
        ['1:40x30', '1:80x60', '1:100x75', '1:120x90', '1:400x300*', '2:64x48*', '2:80x60', '2:100x75'],
      );
      assert.ok((await files(roots.local)).includes('user-picture/1/0/1.100x75.jpe'));
    });

    it('--only-missing makes again a thumbnail whose row is there but whose file is missing', async function () {
      const thumbnail = { objectType: 'user-picture', objectId: 1, width: 80, height: 60, mimetype: 'image/jpeg' };
      await local.deleteFile(thumbnail);
      const result = await run([
        'regenerate',
        '--model',
        'users.picture',
        '--width',
        '80,100',
        '--only-missing',
        '--json',
      ]);
      assert.equal(result.code, 0, result.stderr);
      const report = JSON.parse(result.stdout);
      assert.deepEqual([report.created, report.replaced, report.restored, report.present], [3, 0, 1, 0]);
      const stored = await local.statFile(thumbnail);
      assert.ok(stored !== null && stored.size > 0, 'the file is there again');
      assert.deepEqual((await sharp(await readFile(local.pathFor(thumbnail))).metadata()).width, 80);
      assert.equal((await knex('user_picture').where({ user_id: 1, width: 80 })).length, 1);
    });

    it('without --only-missing, replaces existing thumbnails (here, in another format)', async function () {
      const result = await run(['regenerate', '--model', 'UserCover', '--width', '80', '--format', 'webp', '--json']);
      assert.equal(result.code, 0, result.stderr);
      const report = JSON.parse(result.stdout);
      assert.deepEqual(
        [report.model, report.sets, report.created, report.replaced, report.present, report.background],
        ['users.cover', 2, 1, 1, 0, null],
      );
      const thumbs = await knex('user_cover').where({ width: 80 }).orderBy('user_id');
      assert.deepEqual(
        thumbs.map((r) => [r.user_id, r.mimetype]),
        [
          [1, 'image/webp'],
          [2, 'image/webp'],
        ],
      );
      const coverFiles = (await files(roots.local)).filter((f) => f.startsWith('user-cover/2/'));
      assert.ok(coverFiles.includes('user-cover/2/0/2.80x60.webp'));
      assert.ok(!coverFiles.includes('user-cover/2/0/2.80x60.jpe'), 'the replaced file is gone');
    });

    it("refuses a --store other than the config's defaultStore (exit code 2, saying why), writing nothing", async function () {
      const before = { rows: await knex('user_picture').count({ n: '*' }), local: await files(roots.local) };
      const runs = await Promise.all(
        [[], ['--only-missing'], ['--json']].map((extra) =>
          run(['regenerate', '--model', 'users.picture', '--width', '100', '--store', 'backup', ...extra]),
        ),
      );
      for (const result of runs) {
        assert.equal(result.code, 2, result.stderr);
        assert.match(
          result.stderr,
          /Refusing to regenerate in backup: regenerate writes image rows, and every store shares the rows: thumbnails made in backup would have rows whose files are only in backup, and local \(the config's defaultStore, where the app's files live\) would answer 404 for them\. .*--allow-non-default-store/,
        );
      }
      assert.deepEqual(await knex('user_picture').count({ n: '*' }), before.rows);
      assert.deepEqual(await files(roots.local), before.local);
      assert.deepEqual(await files(roots.backup), []);
      assert.equal(JSON.parse(runs[2]!.stdout).error.code, 'ERR_CLI_USAGE');
    });

    it('writes into another store with --allow-non-default-store', async function () {
      await run(['migrate', '--from', 'local', '--to', 'backup']);
      const result = await run([
        'regenerate',
        '--model',
        'users.picture',
        '--width',
        '100',
        '--store',
        'backup',
        '--allow-non-default-store',
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.ok((await files(roots.backup)).includes('user-picture/1/0/1.100x75.jpe'));
      assert.ok(!(await files(roots.local)).includes('user-picture/1/0/1.100x75.jpe'));
    });

    it('refuses any --store when the config names no defaultStore and has several stores', async function () {
      const noDefault = path.join(configDir, 'no-default.config.ts');
      await writeFile(
        noDefault,
        (await readFile(config, 'utf8')).replace("export const defaultStore = 'local';\n", ''),
      );
      const result = await cli([
        '--config',
        noDefault,
        'regenerate',
        '--model',
        'users.picture',
        '--width',
        '100',
        '--store',
        'local',
      ]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(
        result.stderr,
        /Refusing to regenerate in local: the config names no defaultStore, so which store the app's files live in is unknown/,
      );
      const allowed = await cli([
        '--config',
        noDefault,
        'regenerate',
        '--model',
        'users.picture',
        '--width',
        '100',
        '--store',
        'local',
        '--allow-non-default-store',
      ]);
      assert.equal(allowed.code, 0, allowed.stderr);
    });

    it('rejects bad values, naming the option (exit code 2)', async function () {
      const runs = await Promise.all([
        run(['regenerate', '--model', 'users.picture', '--width', '100,x']),
        run(['regenerate', '--model', 'nothing', '--width', '100']),
        run(['regenerate', '--model', 'users.picture', '--width', '100', '--format', 'bmp']),
        run(['regenerate', '--model', 'users.picture', '--width', '100', '--format', 'jpeg', '--background', 'white']),
      ]);
      assert.deepEqual(
        runs.map((r) => r.code),
        [2, 2, 2, 2],
      );
      assert.match(
        runs[0]!.stderr,
        /Expected a comma-separated list of integers >= 1, e\.g\. 100,400 for --width but received "100,x" of type string/,
      );
      assert.match(
        runs[1]!.stderr,
        /Expected an image class or owner\.relation from the config \(users\.picture, users\.cover, UserPicture, UserCover\) for --model but received "nothing"/,
      );
      assert.match(runs[2]!.stderr, /Expected "jpeg", "png", "webp" or "avif" for --format but received "bmp"/);
      assert.match(
        runs[3]!.stderr,
        /Expected a colour as '#rrggbb', '#rgb' or \{ r, g, b \} with integers 0-255 for --background but received "white"/,
      );
    });
  });

  describe('config', function () {
    it('a missing or bad config is a usage error that names the field', async function () {
      const bad = path.join(configDir, 'bad.config.mjs');
      await writeFile(bad, 'export const models = {};\nexport const stores = { local: {} };\n');
      const [missing, wrong] = await Promise.all([
        cli(['--config', path.join(configDir, 'none.js'), 'verify']),
        cli(['--config', bad, 'verify', '--json']),
      ]);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /The config file .*none\.js \(from --config\) does not exist/);
      assert.equal(wrong.code, 2);
      assert.match(wrong.stderr, /Expected an instance of Store for config\.stores\.local but received an object/);
      assert.deepEqual(JSON.parse(wrong.stdout).error.code, 'ERR_INVALID_ARGUMENT');
    });

    it('a database that cannot be opened is a failure (exit code 3)', async function () {
      const broken = path.join(configDir, 'broken.config.ts');
      const source = await readFile(config, 'utf8');
      await writeFile(
        broken,
        source.replace(JSON.stringify(dbFile), JSON.stringify(path.join(work, 'no', 'such', 'folder', 'db.sqlite'))),
      );
      const result = await cli(['--config', broken, 'verify']);
      assert.equal(result.code, 3);
      assert.match(result.stderr, /^objection-imageattach verify: error: .*directory does not exist/m);
    });
  });
});

/**
 * The CLI over named variants, run as a user runs it (node + tsx on src/cli.ts, in a child process)
 * on each database: `verify --variants`, `verify --orphans` over variant namespaces, `clean
 * --superseded`, and `migrate` copying variant files (filesystem → filesystem, and → s3rver).
 *
 * The variant rows and files are written the way the library writes them (a row in
 * `member_picture_variants`, a file under `<objectType>.<variant>.<digest>`), so what is tested
 * here is only what the CLI makes of them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, unlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Knex } from 'knex';
import sharp from 'sharp';
import { FileSystemStore, type ImageKey } from '../../src/index.js';
import { variantObjectType } from '../../src/stores/keys.js';
import { REPO, runCli } from '../support/cli.js';
import { type CliDatabase, openCliDatabase } from '../support/cli-database.js';
import { dialects } from '../support/db.js';
import { jpeg } from '../support/images.js';
import { useS3Server } from '../support/s3.js';
import { listTree, removeDir, tempDir } from '../support/tmp.js';
import { createVariantSchema } from '../entity/variant-models.js';

const BASE_URL = 'http://static.example.com/';
const LIVE = 'a1b2c3d4e5f6';
const LIVE_2X = 'b1b2c3d4e5f6';
const OLD = '0123456789ab';
const HOUR = 60 * 60_000;

interface Output {
  name: string;
  descriptor: string;
  format: string;
  width: number;
  height: number;
  digest: string;
}

const AVATAR_1X: Output = { name: 'avatar', descriptor: '1x', format: 'webp', width: 48, height: 48, digest: LIVE };
const AVATAR_2X: Output = { name: 'avatar', descriptor: '2x', format: 'webp', width: 96, height: 96, digest: LIVE_2X };

for (const dialect of dialects) {
  describe(`objection-imageattach CLI over variants [${dialect.name}]`, function () {
    this.timeout(60_000);
    const s3 = useS3Server();
    let work: string;
    let configDir: string;
    let config: string;
    let database: CliDatabase;
    let knex: Knex;
    let local: FileSystemStore;
    let backupRoot: string;
    let bucket: string;
    const run = (args: string[], env: Record<string, string> = {}) =>
      runCli(['--config', config, ...args], {
        env: { S3_ENDPOINT: s3.current.endpoint, S3_BUCKET: bucket, ...env },
      });

    beforeEach(async function () {
      work = await tempDir(`cli-variants-${dialect.name}`);
      const localRoot = path.join(work, 'local');
      backupRoot = path.join(work, 'backup');
      bucket = await s3.current.createBucket('cli-variants');
      database = await openCliDatabase(dialect, work);
      knex = database.knex;
      await createVariantSchema(knex);
      configDir = path.join(REPO, 'test-output', `cli-variants-${randomBytes(4).toString('hex')}`);
      await mkdir(configDir, { recursive: true });
      config = path.join(configDir, 'imageattach.config.ts');
      const src = (file: string) => JSON.stringify(path.join(REPO, file));
      await writeFile(
        config,
        `import knexFactory from 'knex';
import { FileSystemStore, type ImageKey } from ${src('src/index.js')};
import { S3Store } from ${src('src/s3.js')};
import { Member } from ${src('test/entity/variant-models.js')};

export const knex = knexFactory(${database.settings});
export const models = { members: Member };

/** The local store, where a variant row of RACE_DIGEST commits while the CLI stats that file (before deleting it). */
class RacingStore extends FileSystemStore {
  raced = false;
  override async statFile(key: ImageKey) {
    const stat = await super.statFile(key);
    if (!this.raced && key.objectType.endsWith('.' + process.env.RACE_DIGEST)) {
      this.raced = true;
      const now = new Date();
      await knex('member_picture_variants').insert({
        member_id: Number(key.objectId), name: 'avatar', descriptor: '3x', format: 'webp', width: key.width,
        height: key.height, mimetype: key.mimetype, digest: process.env.RACE_DIGEST, source_created_at: now, created_at: now,
      });
    }
    return stat;
  }
}

export const stores = {
  local: new FileSystemStore({ path: ${JSON.stringify(localRoot)}, baseUrl: '${BASE_URL}' }),
  racing: new RacingStore({ path: ${JSON.stringify(localRoot)}, baseUrl: '${BASE_URL}' }),
  backup: new FileSystemStore({ path: ${JSON.stringify(backupRoot)}, baseUrl: '${BASE_URL}' }),
  s3: new S3Store({
    bucket: process.env.S3_BUCKET!,
    endpoint: process.env.S3_ENDPOINT!,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
  }),
};
export const defaultStore = 'local';
`,
      );
      local = new FileSystemStore({ path: localRoot, baseUrl: BASE_URL });
      await seed();
    });

    afterEach(async function () {
      await database.close();
      await removeDir(work);
      await rm(configDir, { recursive: true, force: true });
    });

    function variantKey(memberId: number, output: Output): ImageKey {
      return {
        objectType: variantObjectType('member-picture', output.name, output.digest),
        objectId: memberId,
        width: output.width,
        height: output.height,
        mimetype: `image/${output.format}`,
      };
    }

    async function putVariantFile(memberId: number, output: Output, ageMs = 0): Promise<ImageKey> {
      const key = variantKey(memberId, output);
      const bytes = await sharp({
        create: { width: output.width, height: output.height, channels: 3, background: '#c33' },
      })
        .toFormat(output.format as 'webp')
        .toBuffer();
      await local.putFile(key, Readable.from([bytes]), { reproducible: true });
      if (ageMs > 0) {
        const then = new Date(Date.now() - ageMs);
        await utimes(local.pathFor(key), then, then);
      }
      return key;
    }

    async function addVariantRow(memberId: number, output: Output): Promise<void> {
      const now = new Date();
      await knex('member_picture_variants').insert({
        member_id: memberId,
        ...output,
        mimetype: `image/${output.format}`,
        source_created_at: now,
        created_at: now,
      });
    }

    /**
     * Two members with an original each. Ann has her avatar at 1x and 2x (rows and files), and the
     * 1x of an old recipe (a file, two hours old, no row: superseded). Bob has a 1x row whose file
     * is there too.
     */
    async function seed(): Promise<void> {
      await knex('members').insert([
        { id: 1, name: 'Ann' },
        { id: 2, name: 'Bob' },
      ]);
      const photo = await jpeg(400, 300);
      for (const id of [1, 2]) {
        await knex('member_picture').insert({
          member_id: id,
          width: 400,
          height: 300,
          mimetype: 'image/jpeg',
          original: true,
          created_at: new Date(),
        });
        const key = { objectType: 'member-picture', objectId: id, width: 400, height: 300, mimetype: 'image/jpeg' };
        await local.putFile(key, Readable.from([photo]), { reproducible: false });
      }
      for (const [id, output] of [
        [1, AVATAR_1X],
        [1, AVATAR_2X],
        [2, AVATAR_1X],
      ] as const) {
        await addVariantRow(id, output);
        await putVariantFile(id, output, 2 * HOUR);
      }
      await putVariantFile(1, { ...AVATAR_1X, digest: OLD }, 2 * HOUR);
    }

    async function exists(key: ImageKey): Promise<boolean> {
      return (await local.statFile(key)) !== null;
    }

    describe('verify --variants', function () {
      it("checks each variant row's file: all there is exit code 0, and says how many it checked", async function () {
        const result = await run(['verify', '--variants']);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /^Checked 2 images and 3 variant outputs in local: 0 missing\.\n$/);
      });

      it('lists a variant row whose file is missing, with exit code 1 (and in --json)', async function () {
        await unlink(local.pathFor(variantKey(2, AVATAR_1X)));
        const [text, json] = await Promise.all([
          run(['verify', '--variants']),
          run(['--json', 'verify', '--variants']),
        ]);
        assert.equal(text.code, 1);
        assert.match(text.stdout, new RegExp(`^missing: member-picture\\.avatar\\.${LIVE}/2 48x48 image/webp$`, 'm'));
        const report = JSON.parse(json.stdout);
        assert.equal(report.checkedVariants, 3);
        assert.deepEqual(
          report.missing.map((k: { objectType: string }) => k.objectType),
          [`member-picture.avatar.${LIVE}`],
        );
        // Without --variants, the variant rows are not checked.
        assert.equal((await run(['verify'])).code, 0);
      });

      it('--deep reads the header: a variant file of another size than its row says is a mismatch', async function () {
        // The 2x file overwritten with the 1x's bytes (48×48 where the row says 96×96).
        const twoX = variantKey(1, AVATAR_2X);
        await unlink(local.pathFor(twoX));
        const bytes = await sharp({ create: { width: 48, height: 48, channels: 3, background: '#c33' } })
          .webp()
          .toBuffer();
        await local.putFile(twoX, Readable.from([bytes]), { reproducible: true });
        const result = await run(['verify', '--variants', '--deep']);
        assert.equal(result.code, 1);
        assert.match(
          result.stdout,
          new RegExp(`^mismatch: member-picture\\.avatar\\.${LIVE_2X}/1 96x96 image/webp: `, 'm'),
        );
      });
    });

    describe('verify --orphans', function () {
      it('lists a variant file no variant row points to, and not the live ones', async function () {
        const result = await run(['--json', 'verify', '--orphans']);
        assert.equal(result.code, 0, result.stderr);
        const report = JSON.parse(result.stdout);
        assert.deepEqual(
          report.orphans.map((k: { objectType: string; objectId: string }) => `${k.objectType}/${k.objectId}`),
          [`member-picture.avatar.${OLD}/1`],
        );
      });

      it('--orphans --delete deletes that file and leaves live variant files alone', async function () {
        const result = await run(['verify', '--orphans', '--delete', '--min-age', '1h']);
        assert.equal(result.code, 0, result.stderr);
        assert.match(
          result.stdout,
          new RegExp(`^deleted orphan: member-picture\\.avatar\\.${OLD}/1 48x48 image/webp$`, 'm'),
        );
        assert.match(result.stdout, /^1 orphan files \(no row points to them\), 1 deleted\.$/m);
        assert.equal(await exists(variantKey(1, { ...AVATAR_1X, digest: OLD })), false);
        for (const [id, output] of [
          [1, AVATAR_1X],
          [1, AVATAR_2X],
          [2, AVATAR_1X],
        ] as const)
          assert.ok(await exists(variantKey(id, output)), `${id} ${output.descriptor} kept`);
      });

      it("a deleted owner's variant files (rows gone with it) are orphans", async function () {
        await knex('member_picture_variants').where({ member_id: 2 }).delete();
        const result = await run(['--json', 'verify', '--orphans']);
        const orphans = JSON.parse(result.stdout).orphans.map(
          (k: { objectType: string; objectId: string }) => `${k.objectType}/${k.objectId}`,
        );
        assert.deepEqual(orphans.sort(), [`member-picture.avatar.${LIVE}/2`, `member-picture.avatar.${OLD}/1`].sort());
      });
    });

    describe('clean --superseded', function () {
      it('deletes superseded variant files older than --min-age, keeps younger ones and live ones', async function () {
        const young = await putVariantFile(2, { ...AVATAR_1X, digest: OLD });
        const old = variantKey(1, { ...AVATAR_1X, digest: OLD });
        const result = await run(['clean', '--superseded', '--min-age', '1h']);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, new RegExp(`^deleted: member-picture\\.avatar\\.${OLD}/1 48x48 image/webp$`, 'm'));
        assert.match(
          result.stdout,
          new RegExp(`^kept \\(newer than --min-age 1h\\): member-picture\\.avatar\\.${OLD}/2 48x48 image/webp$`, 'm'),
        );
        assert.match(result.stdout, /^2 superseded variant files in local: 1 deleted, 1 kept\.$/m);
        assert.equal(await exists(old), false);
        assert.equal(await exists(young), true);
        for (const [id, output] of [
          [1, AVATAR_1X],
          [1, AVATAR_2X],
          [2, AVATAR_1X],
        ] as const)
          assert.ok(await exists(variantKey(id, output)), `${id} ${output.descriptor} kept`);
        // Originals are no variant files: never looked at.
        assert.equal((await run(['verify'])).code, 0);
      });

      it('keeps a superseded file that a variant row points to by the time it would be deleted', async function () {
        const result = await run(['clean', '--superseded', '--min-age', '1h', '--store', 'racing'], {
          RACE_DIGEST: OLD,
        });
        assert.equal(result.code, 0, result.stderr);
        assert.match(
          result.stdout,
          new RegExp(`^kept \\(a row points to it now\\): member-picture\\.avatar\\.${OLD}/1 48x48 image/webp$`, 'm'),
        );
        assert.match(result.stdout, /^1 superseded variant files in racing: 0 deleted, 1 kept\.$/m);
        assert.equal(await exists(variantKey(1, { ...AVATAR_1X, digest: OLD })), true);
      });

      it('--dry-run deletes nothing and says what it would delete', async function () {
        const result = await run(['--json', 'clean', '--superseded', '--min-age', '1h', '--dry-run']);
        assert.equal(result.code, 0, result.stderr);
        const report = JSON.parse(result.stdout);
        assert.equal(report.dryRun, true);
        assert.equal(report.deleted, 1);
        assert.deepEqual(
          report.deletedKeys.map((k: { objectType: string }) => k.objectType),
          [`member-picture.avatar.${OLD}`],
        );
        assert.equal(await exists(variantKey(1, { ...AVATAR_1X, digest: OLD })), true);
      });

      it('is in --help, as are verify --variants and regenerate --only-stale', async function () {
        const [clean, verify, regenerate] = await Promise.all(
          ['clean', 'verify', 'regenerate'].map((command) => runCli([command, '--help'])),
        );
        assert.match(clean.stdout, /^Usage: objection-imageattach clean \[options\]/);
        assert.match(clean.stdout, /--superseded[\s\S]*--min-age <age>[\s\S]*--dry-run/);
        assert.match(verify.stdout, /--variants/);
        assert.match(regenerate.stdout, /--variants <names>[\s\S]*--only-stale/);
      });

      it('needs --superseded and --min-age, and refuses a bad age (exit code 2, naming the option)', async function () {
        const [noMode, noAge, badAge] = await Promise.all([
          run(['clean', '--min-age', '1h']),
          run(['clean', '--superseded']),
          run(['clean', '--superseded', '--min-age', 'soon']),
        ]);
        assert.equal(noMode.code, 2);
        assert.match(noMode.stderr, /--superseded/);
        assert.equal(noAge.code, 2);
        assert.match(noAge.stderr, /--min-age is needed/);
        assert.equal(badAge.code, 2);
        assert.match(badAge.stderr, /--min-age.*"soon"/);
        assert.equal(await exists(variantKey(1, { ...AVATAR_1X, digest: OLD })), true);
      });
    });

    describe('migrate', function () {
      it('copies the variant files with the images; verify --variants then finds them all in the copy', async function () {
        const result = await run(['migrate', '--from', 'local', '--to', 'backup']);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /^Migrated 5 of 5 images from local to backup: 5 copied/);
        const copied = (await listTree(backupRoot)).filter(
          (f) => !f.endsWith('/') && !path.basename(f).startsWith('.'),
        );
        assert.equal(copied.filter((f) => f.startsWith(`member-picture.avatar.`)).length, 3);
        // The superseded file has no row: it is not copied.
        assert.ok(!copied.some((f) => f.includes(OLD)));
        const verify = await run(['verify', '--store', 'backup', '--variants']);
        assert.equal(verify.code, 0, verify.stdout);
      });

      it('to S3 (s3rver): the variant files arrive under their keys, and verify --variants says so', async function () {
        const result = await run(['migrate', '--from', 'local', '--to', 's3', '--verify']);
        assert.equal(result.code, 0, result.stderr + result.stdout);
        const keys = await s3.current.listAll(bucket);
        assert.equal(keys.length, 5);
        assert.equal(keys.filter((k) => k.startsWith('member-picture.avatar.')).length, 3);
        const verify = await run(['verify', '--store', 's3', '--variants', '--deep']);
        assert.equal(verify.code, 0, verify.stdout);
        assert.match(
          verify.stdout,
          /Checked 2 images and 3 variant outputs in s3 \(headers read\): 0 missing, 0 not matching/,
        );
      });

      it('a variant row whose file is missing is listed as failed, the rest is copied (exit code 1)', async function () {
        await unlink(local.pathFor(variantKey(2, AVATAR_1X)));
        const result = await run(['migrate', '--from', 'local', '--to', 'backup']);
        assert.equal(result.code, 1);
        assert.match(
          result.stdout,
          new RegExp(`^failed: member-picture\\.avatar\\.${LIVE}/2 48x48 image/webp: ERR_IMAGE_NOT_FOUND`, 'm'),
        );
        assert.match(result.stdout, /Migrated 4 of 5 images/);
      });
    });
  });
}

/**
 * `regenerate --variants NAMES [--only-missing | --only-stale]`, run as a user runs it (node + tsx
 * on src/cli.ts, in a child process) on each database, over sets attached by the library itself.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Knex } from 'knex';
import { Model } from 'objection';
import { FileSystemStore, type ImageKey, imageSet, popStoreContext, pushStoreContext } from '../../src/index.js';
import { variantObjectType } from '../../src/stores/keys.js';
import { REPO, runCli } from '../support/cli.js';
import { type CliDatabase, openCliDatabase } from '../support/cli-database.js';
import { dialects } from '../support/db.js';
import { jpeg } from '../support/images.js';
import { removeDir, tempDir } from '../support/tmp.js';
import { createVariantSchema, Member } from '../entity/variant-models.js';

const BASE_URL = 'http://static.example.com/';
const OLD = '0123456789ab';

interface Counts {
  created: number;
  replaced: number;
  restored: number;
  present: number;
  failed: unknown[];
}

for (const dialect of dialects) {
  describe(`objection-imageattach regenerate --variants [${dialect.name}]`, function () {
    this.timeout(90_000);
    let work: string;
    let configDir: string;
    let config: string;
    let database: CliDatabase;
    let knex: Knex;
    let local: FileSystemStore;
    let members: Member[];
    /** Outputs per set of each variant (as declared in test/entity/variant-models.ts, for a JPEG original). */
    let outputsOf: Record<'avatar' | 'card' | 'hero', number>;
    const run = (args: string[]) => runCli(['--config', config, ...args]);
    const regenerate = async (args: string[]) => {
      const result = await run(['--json', 'regenerate', '--model', 'members.picture', ...args]);
      assert.equal(result.code, 0, result.stderr + result.stdout);
      return JSON.parse(result.stdout) as Counts;
    };

    beforeEach(async function () {
      work = await tempDir(`cli-regenerate-variants-${dialect.name}`);
      const localRoot = path.join(work, 'local');
      database = await openCliDatabase(dialect, work);
      knex = database.knex;
      await createVariantSchema(knex);
      configDir = path.join(REPO, 'test-output', `cli-regenerate-variants-${randomBytes(4).toString('hex')}`);
      await mkdir(configDir, { recursive: true });
      config = path.join(configDir, 'imageattach.config.ts');
      const src = (file: string) => JSON.stringify(path.join(REPO, file));
      await writeFile(
        config,
        `import knexFactory from 'knex';
import { FileSystemStore } from ${src('src/index.js')};
import { Member } from ${src('test/entity/variant-models.js')};

export const knex = knexFactory(${database.settings});
export const models = { members: Member };
export const stores = {
  local: new FileSystemStore({ path: ${JSON.stringify(localRoot)}, baseUrl: '${BASE_URL}' }),
  backup: new FileSystemStore({ path: ${JSON.stringify(path.join(work, 'backup'))}, baseUrl: '${BASE_URL}' }),
};
export const defaultStore = 'local';
`,
      );
      local = new FileSystemStore({ path: localRoot, baseUrl: BASE_URL });
      // Two members, attached by the library: the avatar (make: 'upload') is made at attach; the
      // card (queue) and the hero (demand) are not, with no queue bound and nothing requested.
      Model.knex(knex);
      pushStoreContext(local);
      members = [];
      for (const name of ['Ann', 'Bob']) {
        const member = await Member.query().insert({ name });
        await imageSet(member, 'picture').fromBlob(await jpeg(320, 240));
        members.push(member);
      }
      const set = await imageSet(members[0]!, 'picture').load();
      outputsOf = {
        avatar: set.variant('avatar').outputs.length,
        card: set.variant('card').missing.length,
        hero: set.variant('hero').missing.length,
      };
      assert.equal(set.variant('avatar').missing.length, 0);
    });

    afterEach(async function () {
      popStoreContext();
      await database.close();
      await removeDir(work);
      await rm(configDir, { recursive: true, force: true });
    });

    async function variantRows(name: string): Promise<Array<{ member_id: number; digest: string }>> {
      return knex('member_picture_variants').where({ name }).select('member_id', 'digest', 'descriptor', 'format');
    }

    async function avatarOutput(member: Member, descriptor: string, format: string) {
      const set = await imageSet(member, 'picture').load();
      return set.variant('avatar').outputs.find((o) => o.descriptor === descriptor && o.format === format)!;
    }

    it('--only-missing makes what sets lack, and nothing the second time', async function () {
      assert.ok(outputsOf.card > 0 && outputsOf.hero > 0);
      const first = await regenerate(['--variants', 'card,hero', '--only-missing']);
      assert.deepEqual(
        [first.created, first.replaced, first.restored, first.present, first.failed.length],
        [2 * (outputsOf.card + outputsOf.hero), 0, 0, 0, 0],
      );
      assert.equal((await variantRows('card')).length, 2 * outputsOf.card);
      const set = await imageSet(members[1]!, 'picture').load();
      for (const output of set.variant('hero').outputs) assert.notEqual(await local.statFile(output.key), null);
      const again = await regenerate(['--variants', 'card,hero', '--only-missing']);
      assert.deepEqual([again.created, again.present], [0, 2 * (outputsOf.card + outputsOf.hero)]);
      const verify = await run(['verify', '--variants']);
      assert.equal(verify.code, 0, verify.stdout);
    });

    it('--only-missing makes again an output whose row is there but whose file is missing', async function () {
      const lost = await avatarOutput(members[0]!, '2x', 'webp');
      await unlink(local.pathFor(lost.key));
      const result = await regenerate(['--variants', 'avatar', '--only-missing']);
      assert.deepEqual([result.created, result.restored, result.present], [0, 1, 2 * outputsOf.avatar - 1]);
      assert.notEqual(await local.statFile(lost.key), null);
    });

    it('--only-stale remakes only what an older recipe made; clean --superseded then removes the old file', async function () {
      // What a recipe change leaves: Ann's 1x WebP row and file under another digest.
      const current = await avatarOutput(members[0]!, '1x', 'webp');
      const oldKey: ImageKey = { ...current.key, objectType: variantObjectType('member-picture', 'avatar', OLD) };
      await mkdir(path.dirname(local.pathFor(oldKey)), { recursive: true });
      await rename(local.pathFor(current.key), local.pathFor(oldKey));
      await knex('member_picture_variants')
        .where({ member_id: members[0]!.id, name: 'avatar', descriptor: '1x', format: 'webp' })
        .update({ digest: OLD });
      const stale = await avatarOutput(members[0]!, '1x', 'webp');
      assert.equal(stale.digest, OLD);

      const result = await regenerate(['--variants', 'avatar', '--only-stale']);
      assert.deepEqual(
        [result.created, result.replaced, result.restored, result.present, result.failed.length],
        [0, 1, 0, 2 * outputsOf.avatar - 1, 0],
      );
      const remade = await avatarOutput(members[0]!, '1x', 'webp');
      assert.equal(remade.digest, current.digest);
      assert.notEqual(await local.statFile(remade.key), null);
      // The old file stays for pages cached with its URL, until clean --superseded.
      assert.notEqual(await local.statFile(oldKey), null);
      const kept = await run(['clean', '--superseded', '--min-age', '1h']);
      assert.match(kept.stdout, /^1 superseded variant files in local: 0 deleted, 1 kept\.$/m);
      const cleaned = await run(['clean', '--superseded', '--min-age', '0']);
      assert.equal(cleaned.code, 0, cleaned.stderr);
      assert.match(cleaned.stdout, /^1 superseded variant files in local: 1 deleted, 0 kept\.$/m);
      assert.equal(await local.statFile(oldKey), null);
      assert.equal((await run(['verify', '--variants', '--orphans'])).code, 0);
    });

    it('--only-stale also remakes the outputs of an original Python replaced (our rows made of the old one)', async function () {
      // Python's replacement: a new original row (here, the same size) with a new created_at.
      await knex('member_picture')
        .where({ member_id: members[1]!.id, original: true })
        .update({ created_at: new Date(Date.now() + 5000) });
      const before = (await imageSet(members[1]!, 'picture').load()).variant('avatar');
      assert.deepEqual([before.outputs.length, before.missing.length], [0, outputsOf.avatar]);
      const result = await regenerate(['--variants', 'avatar', '--only-stale']);
      assert.deepEqual(
        [result.created, result.replaced, result.present, result.failed.length],
        [0, outputsOf.avatar, outputsOf.avatar, 0],
      );
      const after = (await imageSet(members[1]!, 'picture').load()).variant('avatar');
      assert.deepEqual([after.outputs.length, after.missing.length], [outputsOf.avatar, 0]);
      assert.equal((await variantRows('avatar')).length, 2 * outputsOf.avatar);
    });

    it('without --only-…, remakes every output of the named variants', async function () {
      const result = await run(['regenerate', '--model', 'members.picture', '--variants', 'avatar']);
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stdout,
        new RegExp(
          `^Regenerated variants avatar of 2 image sets of members\\.picture \\(MemberPicture\\) in local: 0 created, ${2 * outputsOf.avatar} replaced, 0 restored, 0 already there, 0 failed\\.\\n$`,
        ),
      );
      assert.equal((await run(['verify', '--variants'])).code, 0);
    });

    it('rejects an unknown variant name (naming it, listing the declared ones) and mixed options (exit code 2), writing nothing', async function () {
      const before = await knex('member_picture_variants')
        .select('*')
        .orderBy(['member_id', 'name', 'descriptor', 'format']);
      const base = ['regenerate', '--model', 'members.picture'];
      const runs = await Promise.all([
        run([...base, '--variants', 'avatar,avtar']),
        run([...base, '--variants', 'avatar', '--width', '100']),
        run([...base, '--width', '100', '--only-stale']),
        run([...base, '--variants', 'avatar', '--only-missing', '--only-stale']),
        run([...base, '--variants', 'avatar', '--format', 'webp']),
        run([...base]),
        run([...base, '--variants', 'avatar', '--store', 'backup']),
      ]);
      assert.deepEqual(
        runs.map((r) => r.code),
        [2, 2, 2, 2, 2, 2, 2],
      );
      assert.match(
        runs[0]!.stderr,
        /Expected comma-separated names of variants members\.picture declares \(avatar, card, hero\) for --variants but received "avtar"/,
      );
      assert.match(runs[1]!.stderr, /--width makes thumbnails and --variants makes named variants/);
      assert.match(runs[2]!.stderr, /--only-stale .* needs --variants/);
      assert.match(runs[3]!.stderr, /--only-missing and --only-stale/);
      assert.match(runs[4]!.stderr, /--format is for thumbnails/);
      assert.match(runs[5]!.stderr, /regenerate needs --width .*, --variants .* or --placeholders/);
      assert.match(runs[6]!.stderr, /Refusing to regenerate in backup/);
      assert.deepEqual(
        await knex('member_picture_variants').select('*').orderBy(['member_id', 'name', 'descriptor', 'format']),
        before,
      );
    });
  });
}

/**
 * `regenerate --placeholders`: the real executable fills the meta rows' placeholders of sets whose
 * rows SQLAlchemy-ImageAttach wrote (no meta row at all), and of sets whose meta row describes an
 * earlier original.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import knexFactory, { type Knex } from 'knex';
import sharp from 'sharp';
import { FileSystemStore } from '../../src/index.js';
import { createSchema } from '../entity/models.js';
import { createVariantSchema } from '../entity/variant-models.js';
import { REPO, runCli } from '../support/cli.js';
import { removeDir, tempDir } from '../support/tmp.js';

describe('regenerate --placeholders', function () {
  this.timeout(60_000);
  let work: string;
  let configDir: string;
  let config: string;
  let knex: Knex;
  let local: FileSystemStore;
  const run = (args: string[]) => runCli(['--config', config, ...args]);

  beforeEach(async function () {
    work = await tempDir('cli-placeholders');
    const dbFile = path.join(work, 'images.sqlite');
    const root = path.join(work, 'local');
    configDir = path.join(REPO, 'test-output', `cli-${randomBytes(4).toString('hex')}`);
    await mkdir(configDir, { recursive: true });
    config = path.join(configDir, 'imageattach.config.ts');
    const src = (file: string) => JSON.stringify(path.join(REPO, file));
    await writeFile(
      config,
      `import knexFactory from 'knex';
import { FileSystemStore } from ${src('src/index.js')};
import { User } from ${src('test/entity/models.js')};
import { Member } from ${src('test/entity/variant-models.js')};
export const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: ${JSON.stringify(dbFile)} }, useNullAsDefault: true });
export const models = { users: User, members: Member };
export const stores = { local: new FileSystemStore({ path: ${JSON.stringify(root)}, baseUrl: 'http://static.example.com/' }) };
`,
    );
    knex = knexFactory({ client: 'better-sqlite3', connection: { filename: dbFile }, useNullAsDefault: true });
    await createSchema(knex);
    await createVariantSchema(knex);
    local = new FileSystemStore({ path: root, baseUrl: 'http://static.example.com/' });
  });

  afterEach(async function () {
    await knex.destroy();
    await removeDir(work);
    await rm(configDir, { recursive: true, force: true });
  });

  /** An original as SQLAlchemy-ImageAttach stores it: a row and its file, nothing in our tables. */
  async function pythonOriginal(memberId: number, colour: string, orientation?: number): Promise<Date> {
    let image = sharp({ create: { width: 120, height: 80, channels: 3, background: colour } }).jpeg();
    if (orientation !== undefined) image = image.withMetadata({ orientation });
    const bytes = await image.toBuffer();
    const created_at = new Date(Date.UTC(2024, 0, memberId, 12));
    await knex('members').insert({ id: memberId, name: `m${memberId}` });
    await knex('member_picture').insert({
      member_id: memberId,
      width: 120,
      height: 80,
      mimetype: 'image/jpeg',
      original: true,
      created_at,
    });
    const key = { objectType: 'member-picture', objectId: memberId, width: 120, height: 80, mimetype: 'image/jpeg' };
    await local.putFile(key, Readable.from([bytes]), { reproducible: false });
    return created_at;
  }

  it("fills Python's sets (no meta row), bound to their original, then --only-missing keeps them", async function () {
    await pythonOriginal(1, '#c02020');
    await pythonOriginal(2, '#2040c0', 6);
    const result = await run(['regenerate', '--model', 'members.picture', '--placeholders', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    assert.deepEqual(
      [report.sets, report.placeholders, report.created],
      [2, { written: 2, present: 0, replaced: 0 }, 0],
    );
    const meta = await knex('member_picture_meta').orderBy('member_id');
    assert.deepEqual(
      meta.map((row) => [row.member_id, Boolean(row.placeholder_alpha)]),
      [
        [1, false],
        [2, false],
      ],
    );
    for (const [row, want] of [
      [meta[0], [0xc0, 0x20, 0x20]],
      [meta[1], [0x20, 0x40, 0xc0]],
    ] as const) {
      const got = [1, 3, 5].map((at) => parseInt(row.placeholder_color.slice(at, at + 2), 16));
      got.forEach((value, i) => assert.ok(Math.abs(value - want[i]!) <= 6, `${row.placeholder_color} ≈ ${want}`));
      assert.match(row.placeholder_data_uri, /^data:image\/webp;base64,/);
      assert.ok(row.placeholder_hash.length > 20);
    }
    // Bound to the original by its created_at; the upright size (EXIF orientation 6 turns it).
    const originals = await knex('member_picture').orderBy('member_id');
    assert.deepEqual(
      meta.map((row) => [Date.parse(`${row.source_created_at}Z`), row.source_width, row.source_height]),
      [
        [originals[0].created_at, 120, 80],
        [originals[1].created_at, 80, 120],
      ],
    );

    const again = await run(['regenerate', '--model', 'members.picture', '--placeholders', '--only-missing', '--json']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout).placeholders, { written: 0, present: 2, replaced: 0 });
  });

  it('makes a new one when the meta row describes an earlier original (Python replaced it)', async function () {
    await pythonOriginal(1, '#30a030');
    await knex('member_picture_meta').insert({
      member_id: 1,
      source_created_at: new Date(Date.UTC(2020, 0, 1)),
      source_width: 10,
      source_height: 10,
      focal_x: 0.1,
      focal_y: 0.1,
      placeholder_hash: 'old',
      placeholder_data_uri: 'data:image/webp;base64,AAAA',
      placeholder_color: '#ffffff',
      placeholder_alpha: false,
    });
    const result = await run(['regenerate', '--model', 'members.picture', '--placeholders', '--only-missing']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      'Placeholders of 1 image sets of members.picture: 1 written, 0 already there, 0 skipped (original replaced meanwhile), 0 failed.\n',
    );
    const [row] = await knex('member_picture_meta');
    assert.notEqual(row.placeholder_color, '#ffffff');
    // The earlier original's focal point is not carried over to this one.
    assert.deepEqual([row.focal_x, row.source_width], [null, 120]);
  });

  it("refuses a relation without placeholder: 'thumbhash' (exit code 2, saying what to add)", async function () {
    const result = await run(['regenerate', '--model', 'users.picture', '--placeholders']);
    assert.equal(result.code, 2, result.stdout);
    assert.match(result.stderr, /users\.picture has no placeholder: 'thumbhash' in its imageAttachment\(\) options/);
  });

  it('still needs --width without --placeholders', async function () {
    const result = await run(['regenerate', '--model', 'members.picture']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--width/);
  });
});

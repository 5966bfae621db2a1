/**
 * `objection-imageattach uploads sweep`, run as the real executable against a temp SQLite
 * database and a filesystem store with direct uploads.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import knexFactory, { type Knex } from 'knex';
import { HttpExposedFileSystemStore, PENDING_UPLOADS_TABLE, pendingUploadsTable } from '../../src/index.js';
import { insertPendingUpload } from '../../src/entity/pending-uploads.js';
import { newUploadId } from '../../src/stores/direct-uploads.js';
import { REPO, runCli } from '../support/cli.js';
import { removeDir, tempDir } from '../support/tmp.js';

describe('objection-imageattach uploads sweep', function () {
  this.timeout(60_000);
  let work: string;
  let configDir: string;
  let config: string;
  let knex: Knex;
  let store: HttpExposedFileSystemStore;
  const secrets = ['c'.repeat(32)];

  beforeEach(async function () {
    work = await tempDir('cli-sweep');
    const dbFile = path.join(work, 'images.sqlite');
    const root = path.join(work, 'images');
    configDir = path.join(REPO, 'test-output', `cli-sweep-${randomBytes(4).toString('hex')}`);
    await mkdir(configDir, { recursive: true });
    config = path.join(configDir, 'imageattach.config.ts');
    const src = (file: string) => JSON.stringify(path.join(REPO, file));
    await writeFile(
      config,
      `import knexFactory from 'knex';
import { HttpExposedFileSystemStore } from ${src('src/stores/http-exposed-fs.js')};
export const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: ${JSON.stringify(dbFile)} }, useNullAsDefault: true });
export const models = {};
export const stores = {
  local: new HttpExposedFileSystemStore({ path: ${JSON.stringify(root)}, directUploads: { secrets: ${JSON.stringify(secrets)} } }),
};
`,
    );
    knex = knexFactory({ client: 'better-sqlite3', connection: { filename: dbFile }, useNullAsDefault: true });
    await pendingUploadsTable(knex);
    store = new HttpExposedFileSystemStore({ path: root, directUploads: { secrets } });
  });

  afterEach(async function () {
    await knex.destroy();
    await removeDir(work);
    await rm(configDir, { recursive: true, force: true });
  });

  async function upload(expiresIn: number): Promise<string> {
    const id = newUploadId();
    await insertPendingUpload(knex, {
      id,
      purpose: 'users.picture',
      owner: '{"id":["1"],"subset":[]}',
      principal: null,
      store: store.directUploads!.tag,
      object_key: `.uploads/${id}`,
      declared_size: 1,
      declared_type: 'image/png',
      expires_at: new Date(Date.now() + expiresIn),
    });
    await store.directUploads!.receive(id, Readable.from([Buffer.from('x')]), 1);
    return id;
  }

  it('--dry-run counts, then a sweep removes what is past --grace, and says so', async function () {
    await upload(-3 * 3_600_000);
    const recent = await upload(-5 * 60_000);
    const dry = await runCli(['--config', config, 'uploads', 'sweep', '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /Would remove 1 abandoned uploads \(dry run: nothing removed\)/);
    assert.equal((await knex(PENDING_UPLOADS_TABLE).count({ n: '*' }))[0]!.n, 2);

    const swept = await runCli(['--config', config, '--json', 'uploads', 'sweep']);
    assert.equal(swept.code, 0, swept.stderr);
    const result = JSON.parse(swept.stdout) as { removed: number; graceMs: number; failed: unknown[] };
    assert.deepEqual([result.removed, result.graceMs, result.failed], [1, 3_600_000, []]);

    const all = await runCli(['--config', config, 'uploads', 'sweep', '--grace', '1m']);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /Removed 1 abandoned uploads/);
    assert.deepEqual(await knex(PENDING_UPLOADS_TABLE).pluck('id'), []);
    assert.deepEqual(await readdir(path.join(work, 'images', '.uploads')), []);
    void recent;
  });

  it('exits 1 naming an upload whose delete failed, and 2 for a bad --grace', async function () {
    const stuck = newUploadId();
    await insertPendingUpload(knex, {
      id: stuck,
      purpose: 'users.picture',
      owner: '{"id":["1"],"subset":[]}',
      principal: null,
      store: store.directUploads!.tag,
      object_key: `.uploads/${stuck}`,
      declared_size: 1,
      declared_type: 'image/png',
      expires_at: new Date(Date.now() - 3 * 3_600_000),
    });
    await mkdir(path.join(work, 'images', '.uploads', stuck, 'inside'), { recursive: true });
    const run = await runCli(['--config', config, 'uploads', 'sweep']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, new RegExp(`Could not remove upload ${stuck} from local \\(kept for the next sweep\\)`));
    const bad = await runCli(['--config', config, 'uploads', 'sweep', '--grace', 'soon']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Expected a duration such as 90s, 10m, 2h or 1d \(or 0\) for --grace but received "soon"/);
  });
});

import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Knex } from 'knex';
import {
  HttpExposedFileSystemStore,
  PENDING_UPLOADS_TABLE,
  pendingUploadsTable,
  sweepUploads,
} from '../../src/index.js';
import { findPendingUpload, insertPendingUpload, type PendingUploadStatus } from '../../src/entity/pending-uploads.js';
import { newUploadId } from '../../src/stores/direct-uploads.js';
import { forEachDialect } from '../support/db.js';
import { removeDir, tempDir } from '../support/tmp.js';

const secrets = ['w'.repeat(32)];
const HOUR = 3_600_000;

forEachDialect('sweepUploads()', (db, dialect) => {
  let root: string;
  let store: HttpExposedFileSystemStore;
  before(async function () {
    await pendingUploadsTable(db());
  });
  beforeEach(async function () {
    await db()(PENDING_UPLOADS_TABLE).delete();
    root = await tempDir('sweep');
    store = new HttpExposedFileSystemStore({ path: root, directUploads: { secrets, tag: 'local' } });
  });
  afterEach(async function () {
    await removeDir(root);
  });

  /** A pending row expiring `expiresIn` ms from now, with its bytes staged unless told not to. */
  async function upload(
    expiresIn: number,
    options: { status?: PendingUploadStatus; staged?: boolean; tag?: string } = {},
  ) {
    const id = newUploadId();
    await insertPendingUpload(db(), {
      id,
      purpose: 'users.picture',
      owner: '{"id":["1"],"subset":[]}',
      principal: null,
      store: options.tag ?? 'local',
      object_key: `.uploads/${id}`,
      declared_size: 1,
      declared_type: 'image/png',
      expires_at: new Date(Date.now() + expiresIn),
    });
    if (options.status !== undefined && options.status !== 'pending') {
      await db()(PENDING_UPLOADS_TABLE).where({ id }).update({ status: options.status });
    }
    if (options.staged !== false) await store.directUploads!.receive(id, Readable.from([Buffer.from('x')]), 1);
    return id;
  }

  const rowIds = async () => ((await db()(PENDING_UPLOADS_TABLE).pluck('id')) as string[]).sort();
  const stagedIds = async () => (await readdir(path.join(root, '.uploads')).catch(() => [])).sort();

  it('removes the bytes and rows of uploads past expiry and grace, whatever their status, and keeps the rest', async function () {
    const abandoned = await upload(-2 * HOUR);
    const claimed = await upload(-2 * HOUR, { status: 'claimed' });
    const rejected = await upload(-2 * HOUR, { status: 'rejected', staged: false });
    const inGrace = await upload(-10 * 60_000);
    const live = await upload(10 * 60_000);
    const report = await sweepUploads({ knex: db(), stores: [store] });
    assert.deepEqual(report, { removed: 3, failed: [], unknownStores: {} });
    assert.deepEqual(await rowIds(), [inGrace, live].sort());
    assert.deepEqual(await stagedIds(), [inGrace, live].sort());
    void abandoned;
    void claimed;
    void rejected;
    // grace 0 takes the one just expired too.
    assert.equal((await sweepUploads({ knex: db(), stores: { local: store }, grace: 0 })).removed, 1);
    assert.deepEqual(await rowIds(), [live]);
  });

  it('in a dry run counts what it would remove and changes nothing', async function () {
    await upload(-2 * HOUR);
    await upload(-3 * HOUR, { status: 'claimed' });
    await upload(60_000);
    const before = { rows: await rowIds(), staged: await stagedIds() };
    const report = await sweepUploads({ knex: db(), stores: [store], dryRun: true });
    assert.deepEqual(report, { removed: 2, failed: [], unknownStores: {} });
    assert.deepEqual({ rows: await rowIds(), staged: await stagedIds() }, before);
  });

  it('keeps the row of an upload whose store delete fails, reports it, and sweeps the others', async function () {
    const stuck = await upload(-2 * HOUR, { staged: false });
    // A real failure: a non-empty folder where the staged file would be cannot be unlinked.
    await mkdir(path.join(root, '.uploads', stuck), { recursive: true });
    await writeFile(path.join(root, '.uploads', stuck, 'inside'), 'x');
    const others = [await upload(-2 * HOUR), await upload(-2 * HOUR)];
    const report = await sweepUploads({ knex: db(), stores: [store], batchSize: 1 });
    assert.equal(report.removed, 2);
    assert.equal(report.failed.length, 1);
    assert.equal(report.failed[0]!.id, stuck);
    assert.equal(report.failed[0]!.store, 'local');
    assert.equal((report.failed[0]!.error as Error & { code?: string }).code, 'ERR_STORE_UNAVAILABLE');
    assert.deepEqual(await rowIds(), [stuck]);
    assert.ok(!(await stagedIds()).some((id) => others.includes(id)));
    // Next time, once the store can delete it, it goes.
    await removeDir(path.join(root, '.uploads', stuck));
    assert.deepEqual(await sweepUploads({ knex: db(), stores: [store] }), {
      removed: 1,
      failed: [],
      unknownStores: {},
    });
  });

  it('leaves rows of stores it was not given, and reports them by tag', async function () {
    const elsewhere = await upload(-2 * HOUR, { tag: 's3:elsewhere', staged: false });
    await upload(-2 * HOUR);
    const report = await sweepUploads({ knex: db(), stores: [store] });
    assert.deepEqual(report, { removed: 1, failed: [], unknownStores: { 's3:elsewhere': 1 } });
    assert.deepEqual(await rowIds(), [elsewhere]);
  });

  it('two sweepers at once remove every upload exactly once', async function () {
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) ids.push(await upload(-2 * HOUR));
    const [a, b] = await Promise.all([
      sweepUploads({ knex: db(), stores: [store], batchSize: 7 }),
      sweepUploads({ knex: db(), stores: [store], batchSize: 7 }),
    ]);
    assert.deepEqual([...a.failed, ...b.failed], []);
    assert.equal(a.removed + b.removed, 60);
    assert.deepEqual(await rowIds(), []);
    assert.deepEqual(await stagedIds(), []);
  });

  it('skips a row a claim holds locked, without waiting for it (SKIP LOCKED)', async function () {
    if (dialect === 'sqlite') this.skip(); // one writer at a time: a sweep waits for the claim's commit
    const held = await upload(-2 * HOUR);
    const free = await upload(-2 * HOUR);
    const trx = await db().transaction();
    try {
      await findPendingUpload(trx, held, { lock: true });
      const report = await sweepUploads({ knex: db(), stores: [store] });
      assert.equal(report.removed, 1);
      assert.deepEqual(await stagedIds(), [held]);
    } finally {
      await trx.rollback();
    }
    assert.deepEqual(await rowIds(), [held]);
    void free;
  });

  it('checks its options', async function () {
    await assert.rejects(sweepUploads({ knex: db(), stores: [store], grace: -1 }), /for options.grace/);
    await assert.rejects(sweepUploads({ knex: db(), stores: [store], batchSize: 0 }), /for options.batchSize/);
    await assert.rejects(sweepUploads({ knex: 'db' as unknown as Knex, stores: [store] }), /for options.knex/);
  });
});

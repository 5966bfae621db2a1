/**
 * settleInterruptedWrites over what dead processes left in `.staging/`: an entry that cannot be
 * settled does not stop the others; a damaged note does not strand its bytes; half-made temp files
 * go; and the background settling after a write runs once the writer's transaction has ended, not
 * inside it (where it would wait on that transaction's own locks, or SQLite's one connection).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rename, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { Model } from 'objection';
import { imageSet } from '../../src/entity/image-set.js';
import { filesSettled } from '../../src/entity/ledger.js';
import { backgroundSettlingDone, noteForRow, settleInterruptedWrites } from '../../src/entity/staged-writes.js';
import { FileSystemStore, type FileSystemStoreOptions } from '../../src/stores/fs.js';
import { PROCESS_TAG, type StagedEntry, type StagedNote } from '../../src/stores/staging.js';
import { forEachDialect } from '../support/db.js';
import { fsStore } from '../support/fs-store.js';
import { jpeg } from '../support/images.js';
import { createSchema, User, UserPicture } from './models.js';

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = execFile(process.execPath, ['-e', '']);
  await promisify((done: (error: null) => void) => child.once('exit', () => done(null)))();
  return child.pid!;
}

/** A store that records whether its staging area was listed while a flag was up. */
class WatchedStore extends FileSystemStore {
  inTransaction = false;
  listedInTransaction = false;
  constructor(options: FileSystemStoreOptions) {
    super(options);
    const staging = this.staging!;
    const list = staging.list.bind(staging);
    staging.list = (): Promise<StagedEntry[]> => {
      if (this.inTransaction) this.listedInTransaction = true;
      return list();
    };
  }
}

forEachDialect('settling interrupted writes', (db, dialect) => {
  let root: string;
  let staging: string;
  let store: FileSystemStore;
  let cleanup: () => Promise<void>;
  let dead: number;

  before(async function () {
    await createSchema(db());
    Model.knex(db());
    dead = await deadPid();
  });
  beforeEach(async function () {
    ({ store, dir: root, cleanup } = await fsStore(`settle-${dialect}`));
    staging = path.join(root, '.staging');
  });
  afterEach(async function () {
    await cleanup();
  });

  /** A user whose picture is committed (through another store instance, so its settling is not ours). */
  async function committedPicture(name: string) {
    const user = await User.query().insert({ name });
    const setup = new FileSystemStore({ path: root, baseUrl: 'http://static.example.com/' });
    const image = await imageSet(user, 'picture').fromBlob(await jpeg(40, 30), { store: setup });
    await filesSettled();
    return { user, image: image as UserPicture };
  }

  /** Stages `bytes` under `note` as a dead process would have left them; returns the token. */
  async function deadEntry(key: UserPicture, note: StagedNote, bytes: Buffer): Promise<string> {
    const token = await store.staging!.stage(key, Readable.from([bytes]), note);
    const deadToken = token.replace(/^\d+/, String(dead));
    for (const ext of ['json', 'stage'])
      await rename(path.join(staging, `${token}.${ext}`), path.join(staging, `${deadToken}.${ext}`));
    return deadToken;
  }

  it('one entry that cannot be settled: the others are, and the failure is reported for that entry', async function () {
    const { image } = await committedPicture('Ann');
    const committed = await jpeg(40, 30);
    await deadEntry(image, noteForRow(image), committed);
    const broken = await deadEntry(
      image,
      { ...noteForRow(image), row: { ...noteForRow(image).row, table: 'no_such_table' } },
      await jpeg(40, 30),
    );
    const settled = await settleInterruptedWrites({ store, knex: db() });
    assert.equal(settled.promoted, 1);
    assert.equal(settled.discarded, 0);
    assert.deepEqual(
      settled.failed.map((f) => f.token),
      [broken],
    );
    assert.match(settled.failed[0]!.error.message, /no_such_table/);
    assert.ok((await readFile(store.pathFor(image))).equals(committed), 'the settleable entry was promoted');
    assert.deepEqual(
      (await readdir(staging)).sort(),
      [`${broken}.json`, `${broken}.stage`],
      'the failed entry waits for a later settling',
    );
  });

  it('a note damaged on disk: its bytes are discarded with a warning, not stranded', async function () {
    const { image } = await committedPicture('Bob');
    const token = await deadEntry(image, noteForRow(image), await jpeg(40, 30));
    await writeFile(path.join(staging, `${token}.json`), '{"key":{"objectType":');
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      assert.deepEqual(await settleInterruptedWrites({ store, knex: db() }), { promoted: 0, discarded: 1, failed: [] });
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(await readdir(staging), []);
    assert.ok(
      warnings.some((w) => (w as Error & { code?: string }).code === 'ERR_FILE_CLEANUP' && w.message.includes(token)),
    );
  });

  it('two settlings at once (two processes starting): each entry is settled and counted once', async function () {
    const { image } = await committedPicture('Flo');
    const committed = await jpeg(40, 30);
    await deadEntry(image, noteForRow(image), committed);
    // Both read the note before either settles it: the first two reads wait for each other.
    const area = store.staging!;
    const readNote = area.readNote.bind(area);
    let reads = 0;
    let bothRead!: () => void;
    const barrier = new Promise<void>((resolve) => (bothRead = resolve));
    area.readNote = async (token) => {
      const note = await readNote(token);
      if (++reads === 2) bothRead();
      if (reads <= 2) await barrier;
      return note;
    };
    const results = await Promise.all([
      settleInterruptedWrites({ store, knex: db() }),
      settleInterruptedWrites({ store, knex: db() }),
    ]);
    assert.deepEqual(results.map((r) => [r.promoted, r.discarded, r.failed.length]).sort(), [
      [0, 0, 0],
      [1, 0, 0],
    ]);
    assert.deepEqual(await readdir(staging), []);
    assert.ok((await readFile(store.pathFor(image))).equals(committed));
  });

  it("half-made files of dead processes (temp notes and bytes, bytes without a note) go once old; recent ones and this process's stay", async function () {
    await committedPicture('Cy');
    const deadToken = `${dead}-0badc0de-00112233aabbccdd`;
    const ownToken = `${process.pid}-${PROCESS_TAG}-44556677aabbccdd`;
    const old = [`${deadToken}.json.1a2b3c4d.tmp`, `.${deadToken}.stage.0a1b2c3d4e5f.tmp`, `${deadToken}.stage`];
    const kept = [`${dead}-0badc0de-99887766aabbccdd.json.5e6f7a8b.tmp`, `${ownToken}.json.9a8b7c6d.tmp`];
    const longAgo = new Date(Date.now() - 11 * 60 * 1000);
    await mkdir(staging, { recursive: true });
    for (const name of [...old, ...kept]) await writeFile(path.join(staging, name), 'x');
    for (const name of [...old, kept[1]!]) await utimes(path.join(staging, name), longAgo, longAgo);
    await settleInterruptedWrites({ store, knex: db() });
    assert.deepEqual((await readdir(staging)).sort(), [...kept].sort());
  });

  it("the background settling after a write runs once the writer's transaction has ended, and settles a dead process's entry", async function () {
    const { image } = await committedPicture('Dee');
    const committed = await jpeg(40, 30);
    const watched = new WatchedStore({ path: root, baseUrl: 'http://static.example.com/' });
    store = watched;
    await deadEntry(image, noteForRow(image), committed);
    const writer = await User.query().insert({ name: 'Eve' });
    await db().transaction(async (trx) => {
      watched.inTransaction = true;
      await imageSet(writer, 'picture').fromBlob(await jpeg(40, 30), { store: watched, trx });
      // Long enough for a settling started by the write to list the staging area.
      for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
      watched.inTransaction = false;
    });
    await filesSettled();
    await backgroundSettlingDone();
    assert.equal(watched.listedInTransaction, false, 'no settling ran inside the writer transaction');
    assert.deepEqual(await readdir(staging), [], "the dead process's entry was settled after the commit");
    assert.ok((await readFile(store.pathFor(image))).equals(committed));
  });
});

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import knexFactory, { type Knex } from 'knex';
import { Model } from 'objection';
import { ImageAttachError, imageSet, withStore } from '../../src/index.js';
import { colourOf, solid } from '../support/colours.js';
import { forEachDialect } from '../support/db.js';
import { GatedFileSystemStore } from '../support/gated-fs-store.js';
import { gate, until } from '../support/hooked-store.js';
import { waitsForLock } from '../support/lock-waits.js';
import { removeDir, tempDir } from '../support/tmp.js';
import { createSchema, User } from './models.js';

const run = promisify(execFile);
const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'children', 'thumbnail-colour.ts');

// Regression (issue 22 #1): an on-demand thumbnail read the original without a lock while a
// replacement held the set's, and inserted its row after the replacement committed: the new set
// kept a thumbnail of the old photo until the next replacement (PostgreSQL, MariaDB).
forEachDialect('a thumbnail made while the picture is replaced', (db, dialect) => {
  let root: string;
  let store: GatedFileSystemStore;
  let ann: User;

  before(async function () {
    Model.knex(db());
    await createSchema(db());
  });
  beforeEach(async function () {
    root = await tempDir(`replace-race-${dialect}`);
    store = new GatedFileSystemStore({ path: root, baseUrl: 'http://img.test/' });
    ann = await User.query().insert({ name: 'Ann' });
    const red = await solid(800, 600, '#d00000');
    await withStore(store, () => imageSet(ann, 'picture').fromBlob(red));
  });
  afterEach(async function () {
    await removeDir(root);
  });

  /** The set's thumbnail of width 200, read afresh, and its colour. */
  async function currentThumbnail(): Promise<{ colour: string; created: number }> {
    const user = (await User.query().findById(ann.id).withGraphFetched('picture'))!;
    const set = imageSet(user, 'picture');
    const thumbnail = set.findThumbnail({ width: 200 });
    return {
      colour: await colourOf(await withStore(store, () => thumbnail.makeBlob())),
      created: thumbnail.created_at.getTime(),
    };
  }

  /**
   * Starts replacing the picture with a blue one of `width`×`height`, and stops it inside its
   * transaction, locks held, before its original is written. `go()` lets it finish.
   */
  async function replacementUnderWay(
    width: number,
    height: number,
  ): Promise<{ done: Promise<unknown>; go: () => void }> {
    const blue = await solid(width, height, '#0000d0');
    const held = gate();
    store.holdNext = { gate: held, which: (key) => key.width === width && key.height === height };
    const done = withStore(store, () => imageSet(ann, 'picture').fromBlob(blue));
    await held.reached;
    return { done, go: held.open };
  }

  /** Waits until `work` is waiting for a lock of the replacement, or has ended. */
  async function waitingOrDone(work: Promise<unknown>): Promise<void> {
    let ended = false;
    void work.then(
      () => (ended = true),
      () => (ended = true),
    );
    await until(
      async () => ended || (await waitsForLock(db(), dialect)),
      15_000,
      'the thumbnail to wait for the replacement',
    );
  }

  for (const [title, width, height] of [
    ['of the same size (its bytes are staged, then swapped in after the commit)', 800, 600],
    ['of another size', 640, 480],
  ] as const) {
    it(`is of the new picture once the replacement returns: a new picture ${title}`, async function () {
      const replacement = await replacementUnderWay(width, height);
      // A request for a thumbnail while the replacement holds the set (a fresh owner object: no rows loaded).
      const thumbnail = withStore(store, () =>
        imageSet(User.fromJson({ id: ann.id }), 'picture').findOrCreateThumbnail({ width: 200 }),
      );
      await waitingOrDone(thumbnail);
      replacement.go();
      await replacement.done;
      const made = await thumbnail;
      assert.equal(made.width, 200);
      assert.equal(await colourOf(await withStore(store, () => made.makeBlob())), 'blue');
      assert.equal((await currentThumbnail()).colour, 'blue');
    });
  }

  it("in a caller's transaction that read the old original, makes nothing of it: a 409 ERR_ORIGINAL_REPLACED", async function () {
    const replacement = await replacementUnderWay(640, 480);
    const thumbnail = User.transaction((trx) =>
      withStore(store, () =>
        imageSet(User.fromJson({ id: ann.id }), 'picture').generateThumbnail({ width: 200 }, { trx }),
      ),
    );
    await waitingOrDone(thumbnail);
    replacement.go();
    await replacement.done;
    const outcome = await thumbnail.then(
      (image) => image,
      (error: unknown) => error,
    );
    if (dialect === 'sqlite') {
      // One connection: the transaction could only start once the replacement had committed.
      assert.equal(
        await colourOf(await withStore(store, () => (outcome as User & { makeBlob(): Promise<Buffer> }).makeBlob())),
        'blue',
      );
    } else {
      assert.ok(outcome instanceof ImageAttachError, `expected an error, got ${String(outcome)}`);
      assert.equal(outcome.code, 'ERR_ORIGINAL_REPLACED');
      assert.equal(outcome.statusCode, 409);
      const user = (await User.query().findById(ann.id).withGraphFetched('picture'))!;
      assert.deepEqual(imageSet(user, 'picture').thumbnails, [], 'no thumbnail of the old picture joined the new set');
    }
    // Asked again, it is made of the new picture.
    await withStore(store, () =>
      imageSet(User.fromJson({ id: ann.id }), 'picture').findOrCreateThumbnail({ width: 200 }),
    );
    assert.equal((await currentThumbnail()).colour, 'blue');
  });
});

// Regression (issue 22 #1): a same-size replacement's bytes are renamed into place just after its
// COMMIT; another process making a thumbnail in between read the old bytes under the new row.
describe("a thumbnail made by another process between a replacement's COMMIT and its rename", function () {
  let dir: string;
  let knex: Knex;

  beforeEach(async function () {
    dir = await tempDir('replace-processes');
    knex = knexFactory({
      client: 'better-sqlite3',
      connection: { filename: path.join(dir, 'db.sqlite') },
      useNullAsDefault: true,
      pool: { min: 1, max: 1 },
    });
    Model.knex(knex);
    await createSchema(knex);
  });
  afterEach(async function () {
    await knex.destroy();
    await removeDir(dir);
  });

  it('is of the new picture (read from the staged bytes the row commits)', async function () {
    this.timeout(60_000);
    const root = path.join(dir, 'images');
    const store = new GatedFileSystemStore({ path: root, baseUrl: 'http://static.example.com/' });
    const user = await User.query().insert({ name: 'Ann' });
    await imageSet(user, 'picture').fromBlob(await solid(800, 600, '#d00000'), { store });
    const held = gate();
    store.holdNextPromotion = held;
    const replacing = imageSet(user, 'picture').fromBlob(await solid(800, 600, '#0000d0'), { store });
    // Committed; the blue bytes wait in the staging area, the path still holds the red ones.
    await held.reached;
    const { stdout } = await run(process.execPath, [
      '--import',
      'tsx',
      child,
      path.join(dir, 'db.sqlite'),
      root,
      String(user.id),
    ]);
    held.open();
    await replacing;
    assert.deepEqual(JSON.parse(stdout.trim()), { width: 200, height: 150, colour: 'blue' });
  });
});

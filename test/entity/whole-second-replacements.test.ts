/**
 * Concurrent replacements of one picture on a whole-second `created_at` (the DATETIME
 * SQLAlchemy-ImageAttach creates on MySQL; `timestamptz(0)` on PostgreSQL): each gets its own,
 * later `created_at`, and none waits for the clock while it holds the owner's lock, so other
 * owners' queries are not stalled behind them.
 */
import assert from 'node:assert/strict';
import knexFactory, { type Knex } from 'knex';
import { Model } from 'objection';
import { imageSet } from '../../src/entity/image-set.js';
import { FileSystemStore } from '../../src/stores/fs.js';
import { forEachDialect } from '../support/db.js';
import { fsStore } from '../support/fs-store.js';
import { jpeg } from '../support/images.js';
import { createPythonSchema } from '../support/python-schema.js';
import { User, UserPicture } from './models.js';

const REPLACEMENTS = 8;
const POOL = 3;

forEachDialect('concurrent replacements on a whole-second created_at', (db, dialect) => {
  if (dialect === 'sqlite') return;
  let store: FileSystemStore;
  let cleanup: () => Promise<void>;
  let knex: Knex;

  before(async function () {
    await createPythonSchema(db(), dialect);
    if (dialect === 'postgres') await db().raw('ALTER TABLE user_picture ALTER COLUMN created_at TYPE timestamptz(0)');
    // A small pool, as a busy server's is: replacements that hold connections starve other queries.
    knex = knexFactory({ ...db().client.config, pool: { min: 0, max: POOL } });
    Model.knex(knex);
    ({ store, cleanup } = await fsStore(`whole-second-${dialect}`));
  });
  after(async function () {
    await knex.destroy();
    await cleanup();
  });

  /** Per transaction: when the owner's row lock was granted, and when COMMIT (or ROLLBACK) went out. */
  function watchOwnerLocks() {
    const locked = new Map<string, number>();
    const held: number[] = [];
    const onResponse = (_: unknown, query: { __knexTxId?: string; sql?: string }) => {
      if (query.__knexTxId && /for update/i.test(query.sql ?? '') && /from [`"]users[`"]/i.test(query.sql ?? ''))
        locked.set(query.__knexTxId, performance.now());
    };
    const onQuery = (query: { __knexTxId?: string; sql?: string }) => {
      const since = query.__knexTxId === undefined ? undefined : locked.get(query.__knexTxId);
      if (since !== undefined && /^(COMMIT|ROLLBACK)/i.test(query.sql ?? '')) {
        held.push(performance.now() - since);
        locked.delete(query.__knexTxId!);
      }
    };
    knex.on('query-response', onResponse).on('query', onQuery);
    return { held, stop: () => void knex.off('query-response', onResponse).off('query', onQuery) };
  }

  it(`${REPLACEMENTS} at once: distinct, increasing created_at; no clock wait under the owner's lock; another owner's query is not stalled`, async function () {
    this.timeout(60000);
    const ann = await User.query().insert({ name: 'Ann' });
    const bob = await User.query().insert({ name: 'Bob' });
    await imageSet(bob, 'picture').fromBlob(await jpeg(40, 30), { store });
    await imageSet(ann, 'picture').fromBlob(await jpeg(40, 30), { store });
    const blobs = await Promise.all(Array.from({ length: REPLACEMENTS }, () => jpeg(40, 30)));
    const locks = watchOwnerLocks();
    try {
      let ended = false;
      const replacements = Promise.all(blobs.map((blob) => imageSet(ann, 'picture').fromBlob(blob, { store }))).finally(
        () => (ended = true),
      );
      // Once every connection of the pool is taken by the replacements (and more wait), ask about Bob.
      const pool = knex.client.pool as { numUsed(): number; numPendingAcquires(): number };
      while (!ended && (pool.numUsed() < POOL || pool.numPendingAcquires() === 0))
        await new Promise((r) => setImmediate(r));
      const asked = performance.now();
      const bobs = await UserPicture.query().where('user_id', bob.id);
      const waited = performance.now() - asked;
      const made = await replacements;
      assert.equal(bobs.length, 1);
      // The old code slept inside each transaction until the next second (~1 s per replacement).
      assert.equal(locks.held.length, REPLACEMENTS);
      assert.ok(Math.max(...locks.held) < 500, `the owner's lock was held ${locks.held.map(Math.round).join(', ')} ms`);
      // Behind the replacements queued for a connection, not behind their sleeps (old code: seconds).
      assert.ok(waited < 2000, `Bob's query waited ${Math.round(waited)} ms`);
      const stamps = made.map((image) => image.created_at.getTime()).sort((a, b) => a - b);
      assert.equal(new Set(stamps).size, REPLACEMENTS, 'every replacement has its own created_at');
      assert.ok(stamps.every((ms) => ms % 1000 === 0));
      const [row] = await UserPicture.query().where('user_id', ann.id);
      assert.equal(row!.created_at.getTime(), stamps.at(-1), 'the last to commit has the latest created_at');
    } finally {
      locks.stop();
    }
  });
});

import { buffer } from 'node:stream/consumers';
import assert from 'node:assert/strict';
import { Model } from 'objection';
import sharp from 'sharp';
import {
  type FileSystemStore,
  imageSet,
  InvalidArgumentError,
  ImageNotFoundError,
  popStoreContext,
  pushStoreContext,
} from '../../src/index.js';
import { readVariantRows } from '../../src/entity/variant-rows.js';
import { readMeta } from '../../src/entity/set-meta.js';
import { makeVariantOutputs } from '../../src/entity/worker-api.js';
import { forEachDialect } from '../support/db.js';
import { fsStore } from '../support/fs-store.js';
import { jpeg } from '../support/images.js';
import { listTree } from '../support/tmp.js';
import { createVariantSchema, Member } from './variant-models.js';

forEachDialect('named variants', (db, dialect) => {
  let store: FileSystemStore;
  let root: string;
  let cleanup: () => Promise<void>;
  const files = (variant?: string) =>
    listTree(root).then((all) =>
      all.filter((f) => !f.endsWith('/') && (variant === undefined || f.includes(`.${variant}.`))),
    );

  before(async function () {
    Model.knex(db());
    await createVariantSchema(db());
  });
  beforeEach(async function () {
    ({ store, dir: root, cleanup } = await fsStore(`variants-${dialect}`));
    pushStoreContext(store);
  });
  afterEach(async function () {
    popStoreContext();
    await cleanup();
  });

  it('makes the upload variants at attach, from the bytes, and their files are where they locate', async function () {
    const member = await Member.query().insert({ name: 'Ann' });
    const set = imageSet(member, 'picture');
    await set.fromBlob(await jpeg(200, 100));
    const avatar = set.variant('avatar');
    assert.equal(avatar.outputs.length, 4);
    assert.equal((await files('avatar')).length, 4);
    for (const output of avatar.outputs) {
      const bytes = await buffer(await store.open({ ...output.key, original: false, created_at: output.created_at }));
      const meta = await sharp(bytes).metadata();
      assert.deepEqual(
        [meta.width, meta.height, `image/${meta.format}`],
        [output.width, output.height, output.mimetype],
      );
    }
    assert.deepEqual((await readMeta(db(), set))!.sourceWidth, 200);
  });

  it('refuses undeclared names and a set without original, writing nothing', async function () {
    const member = await Member.query().insert({ name: 'Bea' });
    const set = await imageSet(member, 'picture').load();
    assert.throws(
      () => set.variant('avtar'),
      (e: unknown) => e instanceof InvalidArgumentError && /avatar, card, hero/.test((e as Error).message),
    );
    assert.throws(() => set.variant('avatar'), ImageNotFoundError);
    await assert.rejects(set.generateVariants(['avtar']), InvalidArgumentError);
    await assert.rejects(set.generateVariants(['card']), ImageNotFoundError);
    await assert.rejects(set.findOrCreateVariant('hero', { width: 64 }), ImageNotFoundError);
    await assert.rejects(set.setFocalPoint({ x: 0.5, y: 0.5 }), ImageNotFoundError);
    assert.deepEqual(await readVariantRows(db(), set), []);
    assert.equal(await readMeta(db(), set), undefined);
    assert.deepEqual(await files(), []);
  });

  it('generateVariants makes the named ones, only the missing or only the stale', async function () {
    const member = await Member.query().insert({ name: 'Cy' });
    const set = imageSet(member, 'picture');
    await set.fromBlob(await jpeg(300, 200));
    const cards = await set.generateVariants(['card']);
    assert.deepEqual(
      cards.map((o) => [o.descriptor, o.format, o.width, o.height]),
      [['1x', 'jpeg', 80, 60]],
    );
    assert.equal(set.variant('card').missing.length, 0);
    const before = set.variant('avatar').outputs.map((o) => o.created_at.getTime());
    await set.generateVariants(undefined, { only: 'missing' });
    assert.equal(set.variant('hero').outputs.length, 2);
    assert.deepEqual(
      set.variant('avatar').outputs.map((o) => o.created_at.getTime()),
      before,
      'nothing remade',
    );
    await set.generateVariants(undefined, { only: 'stale' });
    assert.deepEqual(
      set.variant('avatar').outputs.map((o) => o.created_at.getTime()),
      before,
      'nothing stale',
    );
    assert.equal((await files()).filter((f) => f.includes('.')).length, 1 + 4 + 1 + 2);
  });

  it('findOrCreateVariant: 20 concurrent calls make one row and one file', async function () {
    const member = await Member.query().insert({ name: 'Di' });
    await imageSet(member, 'picture').fromBlob(await jpeg(300, 200));
    const fresh = await Member.query().findById(member.id);
    const outputs = await Promise.all(
      Array.from({ length: 20 }, () => imageSet(fresh!, 'picture').findOrCreateVariant('hero', { width: 64 })),
    );
    assert.equal(new Set(outputs.map((o) => o.locate())).size, 1);
    assert.deepEqual([outputs[0]!.width, outputs[0]!.height], [64, 43]);
    const rows = (await readVariantRows(db(), imageSet(member, 'picture'))).filter((r) => r.name === 'hero');
    assert.equal(rows.length, 1);
    assert.equal((await files('hero')).length, 1);
    // Found now, not made again.
    const again = await imageSet(fresh!, 'picture').findOrCreateVariant('hero', { descriptor: '64w' });
    assert.equal(again.locate(), outputs[0]!.locate());
    await assert.rejects(imageSet(fresh!, 'picture').findOrCreateVariant('hero', { width: 65 }), InvalidArgumentError);
  });
});

forEachDialect('named variants, racing makers without the in-process single flight', (db, dialect) => {
  let store: FileSystemStore;
  let root: string;
  let cleanup: () => Promise<void>;
  before(async function () {
    Model.knex(db());
    await createVariantSchema(db());
    ({ store, dir: root, cleanup } = await fsStore(`variants-race-${dialect}`));
    pushStoreContext(store);
  });
  after(async function () {
    popStoreContext();
    await cleanup();
  });

  it('as processes would: one row, one file, every caller answered with it', async function () {
    const member = await Member.query().insert({ name: 'Ed' });
    await imageSet(member, 'picture').fromBlob(await jpeg(300, 200));
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        makeVariantOutputs(imageSet(member, 'picture'), 'hero', [{ descriptor: '160w', format: 'jpeg' }]),
      ),
    );
    assert.equal(new Set(results.map((r) => r[0]!.locate())).size, 1);
    const rows = (await readVariantRows(db(), imageSet(member, 'picture'))).filter((r) => r.name === 'hero');
    assert.equal(rows.length, 1);
    const heroFiles = (await listTree(root)).filter((f) => f.includes('.hero.') && !f.endsWith('/'));
    assert.equal(heroFiles.length, 1);
  });
});

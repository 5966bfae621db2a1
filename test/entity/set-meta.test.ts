import assert from 'node:assert/strict';
import { Model } from 'objection';
import { type FileSystemStore, imageSet, popStoreContext, pushStoreContext } from '../../src/index.js';
import { timestampToken } from '../../src/stores/keys.js';
import { readMeta, upsertMeta, writePlaceholder, deleteMeta, readCurrentMeta } from '../../src/entity/set-meta.js';
import {
  deleteVariantRows,
  insertVariantRow,
  readVariantRows,
  variantFileKey,
  keyImage,
} from '../../src/entity/variant-rows.js';
import { forEachDialect } from '../support/db.js';
import { fsStore } from '../support/fs-store.js';
import { jpeg } from '../support/images.js';
import { createVariantSchema, Gallery, Member } from './variant-models.js';

forEachDialect('set meta and variant rows', (db, dialect) => {
  let store: FileSystemStore;
  let cleanup: () => Promise<void>;

  before(async function () {
    Model.knex(db());
    await createVariantSchema(db());
  });
  beforeEach(async function () {
    ({ store, cleanup } = await fsStore(`set-meta-${dialect}`));
    pushStoreContext(store);
  });
  afterEach(async function () {
    popStoreContext();
    await cleanup();
  });

  it('upserts the meta row of the original, exact to the microsecond, and resets it for another original', async function () {
    const member = await Member.query().insert({ name: 'Ann' });
    const set = imageSet(member, 'picture');
    const original = await set.fromBlob(await jpeg(64, 48));
    // The attach made the row (the relation declares variants), with nothing chosen yet.
    const made = (await readMeta(db(), set))!;
    assert.deepEqual(
      [made.sourceWidth, made.focal, made.crop, made.placeholder],
      [64, undefined, undefined, undefined],
    );
    await db().transaction((trx) =>
      upsertMeta(trx, set, original, { width: 64, height: 48 }, { focal: { x: 0.25, y: 0.75 } }),
    );
    const meta = (await readMeta(db(), set))!;
    assert.equal(timestampToken(meta.sourceCreatedAt), timestampToken(original.created_at));
    assert.deepEqual(
      [meta.sourceWidth, meta.sourceHeight, meta.focal, meta.crop, meta.placeholder],
      [64, 48, { x: 0.25, y: 0.75 }, undefined, undefined],
    );

    const placeholder = { hash: 'abc=', dataUri: 'data:image/webp;base64,AAAA', color: '#102030', alpha: true };
    await db().transaction((trx) => writePlaceholder(trx, set, original, placeholder));
    const withPlaceholder = (await readMeta(db(), set))!;
    assert.deepEqual(withPlaceholder.placeholder, placeholder);
    assert.deepEqual(withPlaceholder.focal, { x: 0.25, y: 0.75 }, 'the focal point is kept');

    const replaced = await set.fromBlob(await jpeg(32, 32));
    const reset = (await readCurrentMeta(db(), set, replaced))!;
    assert.deepEqual(
      [reset.sourceWidth, reset.focal, reset.placeholder],
      [32, undefined, undefined],
      'a new original starts afresh',
    );
    await db().transaction((trx) =>
      upsertMeta(trx, set, replaced, { width: 32, height: 32 }, { crop: { left: 0, top: 0, width: 0.5, height: 0.5 } }),
    );
    const fresh = (await readCurrentMeta(db(), set, replaced))!;
    assert.deepEqual(
      [fresh.focal, fresh.placeholder, fresh.crop],
      [undefined, undefined, { left: 0, top: 0, width: 0.5, height: 0.5 }],
    );
    await db().transaction((trx) => deleteMeta(trx, set));
    assert.equal(await readMeta(db(), set), undefined);
  });

  it('inserts, reads and deletes variant rows of a set, subsets apart', async function () {
    const gallery = await Gallery.query().insert({});
    const [one, two] = [imageSet(gallery, 'images', { slot: 1 }), imageSet(gallery, 'images', { slot: 2 })];
    const original = await one.fromBlob(await jpeg(64, 48));
    await two.fromBlob(await jpeg(40, 40));
    const row = {
      name: 'thumb',
      descriptor: '3x',
      format: 'jpeg' as const,
      width: 32,
      height: 32,
      mimetype: 'image/jpeg',
      digest: '0123456789ab',
      sourceCreatedAt: original.created_at,
    };
    const inserted = await db().transaction((trx) => insertVariantRow(trx, one, row));
    await assert.rejects(
      db().transaction((trx) => insertVariantRow(trx, one, row)),
      /unique|duplicate|constraint/i,
    );
    await db().transaction((trx) => insertVariantRow(trx, one, { ...row, width: 31 }, { replace: true }));
    const read = (await readVariantRows(db(), one)).filter((r) => r.descriptor === '3x');
    assert.equal(read.length, 1);
    assert.equal(read[0]!.width, 31);
    assert.equal(timestampToken(read[0]!.sourceCreatedAt), timestampToken(original.created_at));
    assert.ok(read[0]!.createdAt.getTime() >= inserted.createdAt.getTime());
    assert.deepEqual(
      (await readVariantRows(db(), two)).map((r) => r.descriptor),
      ['1x'],
    );
    const key = variantFileKey(keyImage(one), read[0]!);
    assert.deepEqual(
      [key.objectType, key.objectId],
      ['slot-image.thumb.0123456789ab', BigInt(gallery.id) * 1000n + 1n],
    );
    const deleted = await db().transaction((trx) => deleteVariantRows(trx, one, 'all'));
    assert.equal(deleted.length, 2);
    assert.deepEqual(await readVariantRows(db(), one), []);
  });
});

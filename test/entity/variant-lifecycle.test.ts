import assert from 'node:assert/strict';
import { Model } from 'objection';
import type { Readable } from 'node:stream';
import {
  type ByteRange,
  FileSystemStore,
  type ImageKey,
  filesSettled,
  imageSet,
  InvalidArgumentError,
  popStoreContext,
  pushStoreContext,
} from '../../src/index.js';
import { readMeta } from '../../src/entity/set-meta.js';
import { readVariantRows } from '../../src/entity/variant-rows.js';
import { setVariantEnqueuer, type VariantsToMake } from '../../src/entity/worker-api.js';
import { forEachDialect } from '../support/db.js';
import { fsStore } from '../support/fs-store.js';
import { jpeg } from '../support/images.js';
import { listTree } from '../support/tmp.js';
import { createVariantSchema, Member, MemberNextRecipe } from './variant-models.js';

forEachDialect('variant lifecycle', (db, dialect) => {
  let store: FileSystemStore;
  let root: string;
  let cleanup: () => Promise<void>;
  const files = (variant?: string) =>
    listTree(root).then((all) =>
      all.filter((f) => !f.endsWith('/') && (variant === undefined || f.includes(`.${variant}.`))),
    );
  const variantFiles = () => files().then((all) => all.filter((f) => /\.[a-z]+\.[0-9a-f]{12}\//.test(f)));

  before(async function () {
    Model.knex(db());
    await createVariantSchema(db());
  });
  beforeEach(async function () {
    ({ store, dir: root, cleanup } = await fsStore(`variant-life-${dialect}`));
    pushStoreContext(store);
  });
  afterEach(async function () {
    popStoreContext();
    setVariantEnqueuer(undefined);
    await cleanup();
  });

  it('a replacement deletes the old outputs: rows in the transaction, files after the commit', async function () {
    const member = await Member.query().insert({ name: 'Ann' });
    const set = imageSet(member, 'picture');
    await set.fromBlob(await jpeg(200, 100));
    await set.generateVariants(['card', 'hero']);
    const old = await variantFiles();
    assert.equal(old.length, 4 + 1 + 2);
    await set.fromBlob(await jpeg(100, 200));
    const now = await variantFiles();
    assert.equal(now.length, 4, 'the new upload-time outputs only');
    assert.equal(set.variant('card').outputs.length, 0);
    assert.deepEqual(
      (await readVariantRows(db(), set)).map((r) => r.name),
      ['avatar', 'avatar', 'avatar', 'avatar'],
    );
    assert.equal((await readMeta(db(), set))!.sourceHeight, 200);
  });

  it('a rolled back attach leaves no file and no row', async function () {
    const member = await Member.query().insert({ name: 'Bob' });
    const set = imageSet(member, 'picture');
    const trx = await Model.knex().transaction();
    await set.fromBlob(await jpeg(200, 100), { trx });
    assert.equal((await variantFiles()).length, 4);
    await trx.rollback();
    await filesSettled(trx);
    assert.deepEqual(await files(), []);
    assert.deepEqual(await readVariantRows(db(), set), []);
    assert.equal(await readMeta(db(), set), undefined);
  });

  it('remove() removes the variants and the meta row', async function () {
    const member = await Member.query().insert({ name: 'Cat' });
    const set = imageSet(member, 'picture');
    await set.fromBlob(await jpeg(200, 100));
    await set.setFocalPoint({ x: 0.2, y: 0.3 });
    await set.remove();
    assert.deepEqual(await files(), []);
    assert.deepEqual(await readVariantRows(db(), set), []);
    assert.equal(await readMeta(db(), set), undefined);
  });

  it("an owner's delete removes its variant rows, meta row and files", async function () {
    const member = await Member.query().insert({ name: 'Dan' });
    const keep = await Member.query().insert({ name: 'Eve' });
    await imageSet(member, 'picture').fromBlob(await jpeg(200, 100));
    await imageSet(keep, 'picture').fromBlob(await jpeg(200, 100));
    await Member.query().deleteById(member.id);
    await filesSettled();
    assert.deepEqual(await readVariantRows(db(), imageSet(member, 'picture')), []);
    assert.equal(await readMeta(db(), imageSet(member, 'picture')), undefined);
    assert.equal((await variantFiles()).length, 4, "the other owner's stay");
    assert.ok((await variantFiles()).every((f) => f.includes(`/${keep.id}/`) || f.includes(`/${keep.id}.`)));
  });

  it("the database's cascade removes the rows of an owner deleted behind the library's back", async function () {
    const member = await Member.query().insert({ name: 'Fay' });
    await imageSet(member, 'picture').fromBlob(await jpeg(60, 60));
    if (dialect === 'sqlite') await db().raw('PRAGMA foreign_keys = ON');
    await db()('member_picture').where('member_id', member.id).delete();
    await db()('members').where('id', member.id).delete();
    assert.deepEqual(await db()('member_picture_variants').where('member_id', member.id), []);
    assert.deepEqual(await db()('member_picture_meta').where('member_id', member.id), []);
    if (dialect === 'sqlite') await db().raw('PRAGMA foreign_keys = OFF');
  });

  it('queue-made outputs are handed to the bound queue after the commit', async function () {
    const asked: VariantsToMake[] = [];
    setVariantEnqueuer((work) => void asked.push(work));
    const member = await Member.query().insert({ name: 'Gil' });
    await imageSet(member, 'picture').fromBlob(await jpeg(200, 100));
    await filesSettled();
    assert.deepEqual(
      asked.map((w) => [w.owner, w.relationName, w.names]),
      [[member, 'picture', ['card']]],
    );
    const trx = await Model.knex().transaction();
    await imageSet(member, 'picture').fromBlob(await jpeg(200, 100), { trx });
    await trx.rollback();
    await filesSettled();
    assert.equal(asked.length, 1, 'nothing for a rollback');
  });

  it('setFocalPoint and setCrop refuse bad values, writing nothing', async function () {
    const member = await Member.query().insert({ name: 'Hal' });
    const set = imageSet(member, 'picture');
    await set.fromBlob(await jpeg(200, 100));
    const before = JSON.stringify(await readMeta(db(), set));
    for (const point of [{ x: 1.2, y: 0 }, { x: -0.1, y: 0.5 }, { x: Number.NaN, y: 0.5 }, { x: 0.5 }, 'centre']) {
      await assert.rejects(set.setFocalPoint(point as never), InvalidArgumentError);
    }
    for (const rect of [
      { left: 0.5, top: 0, width: 0.6, height: 0.5 },
      { left: 0, top: 0, width: 0, height: 0.5 },
      { left: -0.1, top: 0, width: 0.5, height: 0.5 },
      { left: 0, top: 0.5, width: 0.5, height: 0.51 },
    ]) {
      await assert.rejects(set.setCrop(rect), InvalidArgumentError);
    }
    assert.equal(JSON.stringify(await readMeta(db(), set)), before);
  });

  it('a focal point remakes the focal variants now (upload), a crop deletes the demand ones and enqueues the queue ones', async function () {
    const asked: VariantsToMake[] = [];
    setVariantEnqueuer((work) => void asked.push(work));
    const member = await Member.query().insert({ name: 'Ivy' });
    const set = imageSet(member, 'picture');
    await set.fromBlob(await jpeg(200, 100));
    await set.generateVariants(['card', 'hero']);
    await filesSettled();
    asked.length = 0;
    const avatarBefore = set.variant('avatar').outputs.map((o) => o.locate());
    const cardBefore = set.variant('card').outputs.map((o) => o.locate());
    await set.setFocalPoint({ x: 0.8, y: 0.2 });
    assert.deepEqual(set.focalPoint, { x: 0.8, y: 0.2 });
    const avatarAfter = set.variant('avatar').outputs.map((o) => o.locate());
    assert.equal(avatarAfter.length, 4);
    assert.ok(
      avatarAfter.every((url) => !avatarBefore.includes(url)),
      'new URLs for the remade outputs',
    );
    assert.deepEqual(
      set.variant('card').outputs.map((o) => o.locate()),
      cardBefore,
      'attention is not focal',
    );
    assert.equal(set.variant('hero').outputs.length, 2, 'inside is not focal either');
    await set.setCrop({ left: 0.5, top: 0, width: 0.5, height: 1 });
    await filesSettled();
    assert.deepEqual(set.crop, { left: 0.5, top: 0, width: 0.5, height: 1 });
    assert.equal(set.variant('avatar').outputs.length, 4, 'upload: remade now');
    assert.equal(set.variant('avatar').outputs[0]!.width, 48);
    assert.equal(set.variant('card').outputs.length, 0, 'queue: deleted and enqueued');
    assert.deepEqual(
      asked.map((w) => w.names),
      [['card']],
    );
    assert.equal(set.variant('hero').outputs.length, 0, 'demand: deleted, remade on request');
    assert.equal((await variantFiles()).length, 4, 'the old files are gone');
    // Loaded afresh, the same.
    const fresh = (await Member.query().findById(member.id).withGraphFetched('picture'))!;
    assert.deepEqual(imageSet(fresh, 'picture').focalPoint, { x: 0.8, y: 0.2 });
    assert.deepEqual(imageSet(fresh, 'picture').crop, { left: 0.5, top: 0, width: 0.5, height: 1 });
    await set.setCrop(null);
    assert.equal(set.crop, undefined);
  });

  it('a recipe change makes its outputs stale, served until remade; only: stale remakes only those', async function () {
    const member = await Member.query().insert({ name: 'Jo' });
    await imageSet(member, 'picture').fromBlob(await jpeg(200, 100));
    const next = (await MemberNextRecipe.query().findById(member.id).withGraphFetched('picture'))!;
    const set = imageSet(next, 'picture');
    const avatar = set.variant('avatar');
    assert.deepEqual(
      avatar.stale.map((o) => `${o.descriptor} ${o.format}`),
      ['1x webp', '2x webp'],
    );
    assert.equal(avatar.outputs.length, 4, 'still served');
    const jpegBefore = avatar.outputs.filter((o) => o.format === 'jpeg').map((o) => o.locate());
    await set.generateVariants(['avatar'], { only: 'stale' });
    const after = set.variant('avatar');
    assert.deepEqual(after.stale, []);
    assert.deepEqual(
      after.outputs.filter((o) => o.format === 'jpeg').map((o) => o.locate()),
      jpegBefore,
    );
    await filesSettled();
    assert.equal((await variantFiles()).length, 6, 'the superseded WebP files stay, for clean --superseded');
  });

  it('a render that a focal point overtook is made again with the new one, never stored with the old', async function () {
    class GatedOpen extends FileSystemStore {
      hold: Promise<void> | undefined;
      reached: (() => void) | undefined;
      originalReads = 0;
      override async getFile(key: ImageKey, range?: ByteRange): Promise<Readable> {
        if (key.objectType === 'member-picture') {
          this.originalReads++;
          const held = this.hold;
          this.hold = undefined;
          if (held !== undefined) {
            this.reached?.();
            await held;
          }
        }
        return super.getFile(key, range);
      }
    }
    const gated = new GatedOpen({ path: root, baseUrl: 'http://static.example.com/' });
    const member = await Member.query().insert({ name: 'Lou' });
    const set = imageSet(member, 'picture');
    await set.fromBlob(await jpeg(200, 100), { store: gated });
    let release!: () => void;
    gated.hold = new Promise<void>((resolve) => (release = resolve));
    const reached = new Promise<void>((resolve) => (gated.reached = resolve));
    const generating = imageSet(member, 'picture').generateVariants(['avatar'], { store: gated });
    await reached;
    await imageSet(member, 'picture').setFocalPoint({ x: 0.9, y: 0.1 }, { store: gated });
    assert.equal(gated.originalReads, 2);
    release();
    const outputs = await generating;
    assert.equal(outputs.length, 4);
    assert.equal(gated.originalReads, 3, 'rendered again after seeing the new focal point');
  });
});

import assert from 'node:assert/strict';
import { Model } from 'objection';
import sharp from 'sharp';
import { type FileSystemStore, imageSet, popStoreContext, pushStoreContext } from '../../src/index.js';
import { readCurrentMeta, readMeta } from '../../src/entity/set-meta.js';
import { imgTag } from '../../src/html.js';
import { forEachDialect } from '../support/db.js';
import { fsStore } from '../support/fs-store.js';
import { jpeg } from '../support/images.js';
import { createVariantSchema, Gallery, Member } from './variant-models.js';

/** A photo-like JPEG: `colour`, with a lighter band, so the placeholder has something to blur. */
function picture(colour: string, width = 240, height = 160, orientation?: number): Promise<Buffer> {
  const band = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="${width}" height="${height}" fill="${colour}"/><rect y="${height / 2}" width="${width}" height="${height / 8}" fill="#fff" fill-opacity="0.2"/></svg>`,
  );
  let image = sharp(band).jpeg({ quality: 90 });
  if (orientation !== undefined) image = image.withMetadata({ orientation });
  return image.toBuffer();
}

function near(hex: string, want: string, tolerance = 24): boolean {
  const channels = (h: string) => [1, 3, 5].map((at) => parseInt(h.slice(at, at + 2), 16));
  const [a, b] = [channels(hex), channels(want)];
  return a.every((value, i) => Math.abs(value - b[i]!) <= tolerance);
}

forEachDialect('placeholders at attach', (db, dialect) => {
  let store: FileSystemStore;
  let cleanup: () => Promise<void>;

  before(async function () {
    Model.knex(db());
    await createVariantSchema(db());
  });
  beforeEach(async function () {
    ({ store, cleanup } = await fsStore(`placeholders-${dialect}`));
    pushStoreContext(store);
  });
  afterEach(async function () {
    popStoreContext();
    await cleanup();
  });

  it("computes it at attach for placeholder: 'thumbhash', bound to the new original", async function () {
    const member = await Member.query().insert({ name: 'Ann' });
    const set = imageSet(member, 'picture');
    const original = await set.fromBlob(await picture('#b03020'));
    assert.ok(set.placeholder !== undefined && near(set.placeholder.color, '#b03020'), 'known to the set at once');
    const meta = (await readCurrentMeta(db(), set, original))!;
    assert.ok(meta !== undefined, 'a meta row describing this original');
    const { placeholder } = meta;
    assert.ok(placeholder !== undefined);
    assert.ok(near(placeholder.color, '#b03020'), placeholder.color);
    assert.equal(placeholder.alpha, false);
    assert.match(placeholder.dataUri, /^data:image\/webp;base64,[A-Za-z0-9+/]+=*$/);
    assert.ok(placeholder.dataUri.length < 300, `${placeholder.dataUri.length} characters`);
    assert.deepEqual([meta.sourceWidth, meta.sourceHeight], [240, 160]);
  });

  it('a replacement gets its own; a placeholder of a replaced original no longer matches it', async function () {
    const member = await Member.query().insert({ name: 'Bob' });
    const set = imageSet(member, 'picture');
    const first = await set.fromBlob(await picture('#2050c0'));
    const second = await set.fromBlob(await picture('#30a040', 160, 240));
    assert.equal(await readCurrentMeta(db(), set, first), undefined, 'the first original is no longer described');
    const meta = (await readCurrentMeta(db(), set, second))!;
    assert.ok(near(meta.placeholder!.color, '#30a040'), meta.placeholder!.color);
    assert.deepEqual([meta.sourceWidth, meta.sourceHeight], [160, 240]);

    // SQLAlchemy-ImageAttach replaces the original behind our back: its rows change, ours stay.
    await db()('member_picture').where({ member_id: member.id }).delete();
    await db()('member_picture').insert({
      member_id: member.id,
      width: 160,
      height: 240,
      mimetype: 'image/jpeg',
      original: true,
      created_at: new Date(Date.now() + 5000),
    });
    const [python] = await set.load().then((loaded) => loaded.images);
    assert.equal(
      await readCurrentMeta(db(), set, python!),
      undefined,
      "the old placeholder does not describe Python's original",
    );
    // Loaded with the owners, it is not shown: the set has none for this original.
    const [owner] = await Member.query().withGraphFetched('picture').where('id', member.id);
    const loaded = imageSet(owner!, 'picture');
    assert.equal(loaded.placeholder, undefined);
    assert.ok(!imgTag(loaded, { alt: '', store, placeholder: true }).includes('background'));
  });

  it('an EXIF-rotated upload: the placeholder is of the upright picture', async function () {
    const member = await Member.query().insert({ name: 'Cy' });
    const set = imageSet(member, 'picture');
    const original = await set.fromBlob(await picture('#808020', 240, 160, 6), { keepMetadata: true });
    const { placeholder, sourceWidth, sourceHeight } = (await readCurrentMeta(db(), set, original))!;
    assert.deepEqual([sourceWidth, sourceHeight], [160, 240]);
    const { info } = await sharp(Buffer.from(placeholder!.dataUri.split(',')[1]!, 'base64'))
      .raw()
      .toBuffer({ resolveWithObject: true });
    assert.ok(info.height > info.width, `portrait, as displayed: ${info.width}×${info.height}`);
  });

  it('keeps alpha: a PNG with transparent parts says so', async function () {
    const member = await Member.query().insert({ name: 'Di' });
    const set = imageSet(member, 'picture');
    const png = await sharp({
      create: { width: 80, height: 80, channels: 4, background: { r: 0, g: 0, b: 200, alpha: 0.5 } },
    })
      .png()
      .toBuffer();
    const original = await set.fromBlob(png);
    assert.equal((await readCurrentMeta(db(), set, original))!.placeholder!.alpha, true);
  });

  it('thumbnails and placeholder from one decode; a truncated upload is still refused, with or without thumbnails', async function () {
    const member = await Member.query().insert({ name: 'Fay' });
    const set = imageSet(member, 'picture');
    const original = await set.fromBlob(await picture('#6040a0', 480, 320), { thumbnails: [{ width: 120 }] });
    assert.deepEqual(
      set.images.map((image) => image.width),
      [480, 120],
    );
    assert.ok(near((await readCurrentMeta(db(), set, original))!.placeholder!.color, '#6040a0'));
    const truncated = (await jpeg(640, 480)).subarray(0, 20_000);
    for (const options of [{ thumbnails: [{ width: 100 }] }, {}]) {
      await assert.rejects(set.fromBlob(truncated, options), { code: 'ERR_IMAGE_TRUNCATED' });
    }
    assert.ok((await readCurrentMeta(db(), set, original))!.placeholder !== undefined, 'the set is as it was');
  });

  it('nothing for a relation without the option', async function () {
    const gallery = await Gallery.query().insert({});
    const set = imageSet(gallery, 'images', { slot: 1 });
    await set.fromBlob(await picture('#444444'));
    assert.equal((await readMeta(db(), set))?.placeholder, undefined);
  });

  it('rolls back with the attach: a failed transaction leaves no placeholder', async function () {
    const member = await Member.query().insert({ name: 'Ed' });
    const set = imageSet(member, 'picture');
    await assert.rejects(
      Member.transaction(async (trx) => {
        await set.fromBlob(await picture('#c0c000'), { trx });
        throw new Error('the app changed its mind');
      }),
      /changed its mind/,
    );
    assert.equal(await readMeta(db(), set), undefined);
    assert.equal((await db()('member_picture').where({ member_id: member.id })).length, 0);
  });
});

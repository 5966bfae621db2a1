import assert from 'node:assert/strict';
import { Model } from 'objection';
import { type FileSystemStore, imageSet, popStoreContext, pushStoreContext } from '../../src/index.js';
import { timestampToken } from '../../src/stores/keys.js';
import { readVariantRows } from '../../src/entity/variant-rows.js';
import { forEachDialect } from '../support/db.js';
import { fsStore } from '../support/fs-store.js';
import { jpeg } from '../support/images.js';
import { createVariantSchema, Gallery, Member, MemberPicture } from './variant-models.js';

forEachDialect('variants, eager loading', (db, dialect) => {
  let store: FileSystemStore;
  let cleanup: () => Promise<void>;

  before(async function () {
    Model.knex(db());
    await createVariantSchema(db());
    ({ store, cleanup } = await fsStore(`variant-eager-${dialect}`));
    pushStoreContext(store);
    for (let i = 0; i < 5; i++) {
      const member = await Member.query().insert({ name: `m${i}` });
      if (i < 4) await imageSet(member, 'picture').fromBlob(await jpeg(120, 90), { thumbnails: [{ width: 40 }] });
    }
    const gallery = await Gallery.query().insert({});
    await imageSet(gallery, 'images', { slot: 1 }).fromBlob(await jpeg(64, 64));
    await imageSet(gallery, 'images', { slot: 2 }).fromBlob(await jpeg(50, 40));
  });
  after(async function () {
    popStoreContext();
    await cleanup();
  });

  it('brings variants and meta along in 2 queries, stamps exact to the microsecond', async function () {
    let queries = 0;
    const count = () => queries++;
    db().on('query', count);
    const members = await Member.query().withGraphFetched('picture').orderBy('id');
    db().off('query', count);
    assert.equal(queries, 2);
    const withPictures = members.filter((m) => m.picture!.length > 0);
    assert.equal(withPictures.length, 4);
    for (const member of withPictures) {
      const set = imageSet(member, 'picture');
      const avatar = set.variant('avatar');
      assert.deepEqual(
        avatar.outputs.map((o) => `${o.descriptor} ${o.format} ${o.width}x${o.height}`),
        ['1x webp 48x48', '2x webp 96x90', '1x jpeg 48x48', '2x jpeg 96x90'].map((s) => s.replace('96x90', '90x90')),
      );
      assert.deepEqual(avatar.missing, []);
      assert.deepEqual(avatar.box, { width: 48, height: 48 });
      assert.equal(set.variant('card').missing.length, 1);
      assert.equal(set.variant('hero').outputs.length, 0);
      const stored = await readVariantRows(db(), set);
      for (const output of avatar.outputs) {
        const row = stored.find((r) => r.descriptor === output.descriptor && r.format === output.format)!;
        assert.equal(timestampToken(output.created_at), timestampToken(row.createdAt));
        assert.match(
          output.locate(),
          new RegExp(`member-picture\\.avatar\\.${output.digest}/.*_ts=${timestampToken(row.createdAt)}$`),
        );
      }
      assert.equal(set.focalPoint, undefined);
      // The loaded rows are plain image rows: the JSON columns are not on them.
      for (const image of member.picture!)
        assert.deepEqual(Object.keys(image.$toDatabaseJson()).sort(), [
          'created_at',
          'height',
          'member_id',
          'mimetype',
          'original',
          'width',
        ]);
    }
    const bare = members.find((m) => m.picture!.length === 0)!;
    assert.throws(() => imageSet(bare, 'picture').variant('avatar'), { name: 'ImageNotFoundError' });
  });

  it('loads subsets apart, and load() brings the variants too', async function () {
    const [gallery] = await Gallery.query().withGraphFetched('images');
    const one = imageSet(gallery!, 'images', { slot: 1 }).variant('thumb');
    const two = imageSet(gallery!, 'images', { slot: 2 }).variant('thumb');
    assert.deepEqual([one.outputs.length, two.outputs.length], [1, 1]);
    assert.deepEqual([one.outputs[0]!.width, two.outputs[0]!.width], [32, 32]);
    assert.notEqual(one.outputs[0]!.locate(), two.outputs[0]!.locate());
    const member = (await Member.query().orderBy('id').first())!;
    const set = await imageSet(member, 'picture').load();
    assert.equal(set.variant('avatar').outputs.length, 4);
  });

  it('leaves writes through the relation alone: a select, a count, a delete', async function () {
    const member = (await Member.query().orderBy('id').first())!;
    const widths = await member.$relatedQuery('picture').select('width').orderBy('width');
    assert.deepEqual(
      widths.map((w) => w.width),
      [40, 120],
    );
    const [{ n }] = (await member.$relatedQuery('picture').count('* as n')) as unknown as [{ n: number }];
    assert.equal(Number(n), 2);
    const direct = await MemberPicture.query().where('member_id', member.id);
    assert.equal(direct.length, 2);
    member.picture = direct;
    assert.throws(() => imageSet(member, 'picture').variant('avatar'), { code: 'ERR_IMAGE_SET_NOT_LOADED' });
  });
});

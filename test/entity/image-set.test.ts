import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Model } from 'objection';
import sharp from 'sharp';
import {
  FileSystemStore,
  filesSettled,
  ImageAttachError,
  type ImageSet,
  imageSet,
  imageSets,
  ImageNotFoundError,
  InvalidArgumentError,
  InvalidImageError,
  popStoreContext,
  pushStoreContext,
} from '../../src/index.js';
import { forEachDialect } from '../support/db.js';
import { fsStore } from '../support/fs-store.js';
import { jpeg, png, pngDeclaring, svg } from '../support/images.js';
import { listTree, removeDir, tempDir } from '../support/tmp.js';
import { createSchema, Product, ProductImage, Tag, TagImage, User, UserPicture } from './models.js';

forEachDialect('image sets', (db, dialect) => {
  let root: string;
  let store: FileSystemStore;
  let cleanup: () => Promise<void>;
  let user: User;
  /** Streams are spooled here (`tempDir`), so the tests can see that nothing is left. */
  let spool: string;
  const spoolFiles = () => readdir(spool);
  const files = () => listTree(root).then((all) => all.filter((f) => !f.endsWith('/')));

  before(async function () {
    Model.knex(db());
    await createSchema(db());
  });
  beforeEach(async function () {
    ({ store, dir: root, cleanup } = await fsStore(`entity-${dialect}`));
    spool = await tempDir(`spool-${dialect}`);
    pushStoreContext(store);
    user = await User.query().insert({ name: 'Ann' });
  });
  afterEach(async function () {
    popStoreContext();
    await cleanup();
    await removeDir(spool);
  });

  describe('attaching', function () {
    it('stores the original with size and type read from the bytes', async function () {
      const image = await imageSet(user, 'picture').fromBlob(await jpeg(640, 480));
      assert.deepEqual([image.width, image.height, image.mimetype, image.original], [640, 480, 'image/jpeg', true]);
      assert.ok(image.created_at instanceof Date);
      assert.deepEqual(await files(), [`user-picture/${user.id}/0/${user.id}.640x480.jpe`]);
      const rows = await UserPicture.query().where('user_id', user.id);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.original, true);
    });

    it('attaches from a path, a stream and a blob alike', async function () {
      const bytes = await png(30, 20);
      const file = path.join(root, '..', `upload-${process.pid}.bin`);
      await writeFile(file, bytes);
      const set = imageSet(user, 'picture');
      assert.equal((await set.fromFile(file)).mimetype, 'image/png');
      assert.equal(
        (await set.fromStream(Readable.from([bytes.subarray(0, 10), bytes.subarray(10)]), { tempDir: spool })).width,
        30,
      );
      assert.ok((await set.makeBlob()).equals(bytes));
      assert.deepEqual(await spoolFiles(), []);
    });

    it('replaces the whole set: the old original and every thumbnail, rows and files', async function () {
      const set = imageSet(user, 'picture');
      await set.fromBlob(await jpeg(400, 300));
      await set.generateThumbnail({ width: 100 });
      await set.generateThumbnail({ width: 200 });
      const replacement = await set.fromBlob(await png(50, 50));
      assert.deepEqual(await files(), [`user-picture/${user.id}/0/${user.id}.50x50.png`]);
      const rows = await UserPicture.query().where('user_id', user.id);
      assert.deepEqual(
        rows.map((r) => [r.width, r.height]),
        [[50, 50]],
      );
      assert.equal(set.original, replacement);
      assert.deepEqual(set.thumbnails, []);
    });

    it('keeps EXIF-rotated photos upright: width and height as displayed', async function () {
      const image = await imageSet(user, 'picture').fromBlob(await jpeg(40, 30, { orientation: 6 }));
      assert.deepEqual([image.width, image.height], [30, 40]);
    });

    it('takes SVG only when the app opts in', async function () {
      await assert.rejects(
        imageSet(user, 'picture').fromBlob(svg),
        (e: unknown) =>
          e instanceof InvalidImageError && e.code === 'ERR_IMAGE_UNSUPPORTED_TYPE' && e.statusCode === 415,
      );
      const image = await imageSet(user, 'picture').fromBlob(svg, { types: ['image/svg+xml'] });
      assert.deepEqual([image.width, image.height, image.mimetype], [120, 80, 'image/svg+xml']);
      const thumb = await imageSet(user, 'picture').generateThumbnail({ width: 60 });
      assert.deepEqual([thumb.width, thumb.height, thumb.mimetype], [60, 40, 'image/png']);
    });
  });

  describe('bad input leaves nothing behind', function () {
    const cases: Array<[string, () => Promise<Buffer>, string, object?]> = [
      ['an empty file', async () => Buffer.alloc(0), 'ERR_IMAGE_EMPTY'],
      ['a truncated JPEG', async () => (await jpeg(300, 200)).subarray(0, 700), 'ERR_IMAGE_TRUNCATED'],
      ['a text file named .jpg', async () => Buffer.from('this is not a picture\n'), 'ERR_IMAGE_UNSUPPORTED_TYPE'],
      ['a PNG declaring 30000×30000', async () => pngDeclaring(30000, 30000), 'ERR_IMAGE_TOO_MANY_PIXELS'],
      ['an SVG when SVG is not allowed', async () => svg, 'ERR_IMAGE_UNSUPPORTED_TYPE'],
      ['a file over maxBytes', async () => jpeg(200, 200), 'ERR_IMAGE_TOO_LARGE', { maxBytes: 1000 }],
    ];
    for (const [label, make, code, options] of cases) {
      for (const via of ['blob', 'stream'] as const) {
        it(`rejects ${label} (from a ${via}) with ${code}`, async function () {
          const bytes = await make();
          const set = imageSet(user, 'picture');
          const attempt =
            via === 'blob'
              ? set.fromBlob(bytes, options)
              : set.fromStream(Readable.from([bytes]), { ...options, tempDir: spool });
          await assert.rejects(attempt, (e: unknown) => e instanceof InvalidImageError && e.code === code);
          assert.deepEqual(await files(), []);
          assert.equal((await UserPicture.query().where('user_id', user.id)).length, 0);
          assert.deepEqual(await spoolFiles(), []);
        });
      }
    }

    it('keeps the previous image when a replacement is rejected', async function () {
      const set = imageSet(user, 'picture');
      await set.fromBlob(await jpeg(64, 48));
      await assert.rejects(set.fromBlob(Buffer.from('nope')), InvalidImageError);
      assert.equal((await UserPicture.query().where('user_id', user.id)).length, 1);
      assert.equal((await files()).length, 1);
    });
  });

  describe('thumbnails', function () {
    let set: ImageSet<UserPicture>;
    beforeEach(async function () {
      set = imageSet(user, 'picture');
      await set.fromBlob(await jpeg(405, 640));
    });

    it('by width: the height by truncation', async function () {
      const t = await set.generateThumbnail({ width: 100 });
      assert.deepEqual([t.width, t.height, t.original, t.mimetype], [100, 158, false, 'image/jpeg']);
      const meta = await sharp(await t.makeBlob()).metadata();
      assert.deepEqual([meta.width, meta.height, meta.format], [100, 158, 'jpeg']);
    });
    it('by height', async function () {
      const t = await set.generateThumbnail({ height: 100 });
      assert.deepEqual([t.width, t.height], [63, 100]);
    });
    it('by ratio', async function () {
      const t = await set.generateThumbnail({ ratio: 0.5 });
      assert.deepEqual([t.width, t.height], [202, 320]);
    });
    it('in another format when asked', async function () {
      const t = await set.generateThumbnail({ width: 50 }, { format: 'webp' });
      assert.equal(t.mimetype, 'image/webp');
      assert.equal((await sharp(await t.makeBlob()).metadata()).format, 'webp');
    });
    it('returns an existing image of that size instead of making it again (even the original)', async function () {
      const first = await set.generateThumbnail({ width: 100 });
      const again = await set.generateThumbnail({ width: 100 });
      assert.deepEqual(again.$id(), first.$id());
      assert.equal((await set.generateThumbnail({ ratio: 1 })).original, true);
      assert.equal((await UserPicture.query().where('user_id', user.id)).length, 2);
    });
    it('rejects anything but exactly one of width, height or ratio', async function () {
      for (const bad of [{}, { width: 10, height: 10 }, { width: 0 }, { width: 1.5 }, { ratio: -1 }]) {
        await assert.rejects(set.generateThumbnail(bad as never), InvalidArgumentError, JSON.stringify(bad));
      }
      await assert.rejects(
        set.generateThumbnail({ width: 0 }),
        (e: unknown) =>
          e instanceof InvalidArgumentError &&
          e.message === 'Expected an integer >= 1 for width but received 0 of type number',
      );
    });
    it('with no original: ImageNotFoundError', async function () {
      const other = await User.query().insert({ name: 'Bob' });
      await assert.rejects(imageSet(other, 'picture').generateThumbnail({ width: 10 }), ImageNotFoundError);
    });
    it('are found by width, by height, or both', async function () {
      await set.generateThumbnail({ width: 100 });
      await set.generateThumbnail({ height: 300 });
      assert.deepEqual(set.findThumbnail({ width: 100 }).height, 158);
      assert.deepEqual(set.findThumbnail({ height: 300 }).width, 189);
      assert.deepEqual(set.findThumbnail({ width: 189, height: 300 }).original, false);
      assert.equal(set.findThumbnail({ width: 405 }).original, true);
      assert.throws(() => set.findThumbnail({ width: 99 }), ImageNotFoundError);
      assert.throws(() => set.findThumbnail({}), InvalidArgumentError);
    });
    it('of 20 concurrent findOrCreateThumbnail calls make one row and one file, and all return it', async function () {
      const results = await Promise.all(
        Array.from({ length: 20 }, () => imageSet(user, 'picture').findOrCreateThumbnail({ width: 120 })),
      );
      assert.ok(results.every((r) => r.width === 120 && r.height === 189));
      assert.equal((await UserPicture.query().where({ user_id: user.id, width: 120 })).length, 1);
      assert.equal((await files()).filter((f) => f.includes('.120x189.')).length, 1);
    });
  });

  describe('reading a set', function () {
    it('locates the original with the store URL and _ts', async function () {
      const image = await imageSet(user, 'picture').fromBlob(await jpeg(20, 10));
      const url = imageSet(user, 'picture').locate();
      assert.equal(url, store.locate(image));
      assert.match(
        url,
        new RegExp(`^http://static\\.example\\.com/user-picture/${user.id}/0/${user.id}\\.20x10\\.jpe\\?_ts=\\d{20}$`),
      );
    });
    it('toHTML gives an escaped <img> with width and height', async function () {
      await imageSet(user, 'picture').fromBlob(await jpeg(20, 10));
      const html = imageSet(user, 'picture').toHTML({ attributes: { alt: 'Ann "the" <b>' } });
      assert.match(
        html,
        /^<img src="http:\/\/static\.example\.com\/[^"]+\?_ts=\d{20}" width="20" height="10" alt="Ann &quot;the&quot; &lt;b&gt;">$/,
      );
    });
    it('toHTML takes the text alternative as an alt option, escaped, and refuses one that is not a string', async function () {
      await imageSet(user, 'picture').fromBlob(await jpeg(20, 10));
      assert.match(
        imageSet(user, 'picture').toHTML({ alt: 'Ann & "Bo"' }),
        / width="20" height="10" alt="Ann &amp; &quot;Bo&quot;">$/,
      );
      assert.match(imageSet(user, 'picture').original!.toHTML({ alt: '' }), / alt="">$/);
      assert.throws(() => imageSet(user, 'picture').toHTML({ alt: 42 as never }), {
        message: "Expected a string (use '' for a decorative image) for options.alt but received 42 of type number",
      });
    });

    it('toHTML refuses bad attribute names and attributes replacing src, width or height', async function () {
      await imageSet(user, 'picture').fromBlob(await jpeg(20, 10));
      const set = imageSet(user, 'picture');
      assert.throws(
        () => set.toHTML({ attributes: { 'x onerror=alert(1) y': 'z' } }),
        (e: unknown) => e instanceof InvalidArgumentError,
      );
      assert.throws(
        () => set.toHTML({ attributes: { src: 'javascript:alert(1)' } }),
        (e: unknown) => e instanceof InvalidArgumentError && /"src"/.test(e.message),
      );
      assert.throws(() => set.toHTML({ attributes: { WIDTH: 1 } }), InvalidArgumentError);
    });
    it('says what to do when the relation is not loaded', async function () {
      const fresh = await User.query().findById(user.id);
      assert.throws(
        () => imageSet(fresh!, 'picture').original,
        (e: unknown) =>
          e instanceof ImageAttachError &&
          e.code === 'ERR_IMAGE_SET_NOT_LOADED' &&
          /withGraphFetched\('picture'\)/.test(e.message),
      );
      const set = await imageSet(fresh!, 'picture').load();
      assert.equal(set.original, undefined);
      assert.throws(() => set.requireOriginal(), ImageNotFoundError);
    });
    it('openFile and makeBlob load the set when needed', async function () {
      const bytes = await jpeg(20, 10);
      await imageSet(user, 'picture').fromBlob(bytes);
      const fresh = await User.query().findById(user.id);
      assert.ok((await imageSet(fresh!, 'picture').makeBlob()).equals(bytes));
    });
    it('rejects a relation that is not an image attachment, naming the ones that are', function () {
      assert.throws(
        // @ts-expect-error: 'friends' is not an image relation of User, which the types refuse too
        () => imageSet(user, 'friends'),
        (e: unknown) => e instanceof InvalidArgumentError && /picture, cover/.test(e.message),
      );
    });
  });

  describe('transactions', function () {
    it('a rollback after attach removes the file and the row', async function () {
      const trx = await Model.startTransaction();
      await imageSet(user, 'picture').fromBlob(await jpeg(32, 32), { trx });
      assert.equal((await files()).length, 1);
      await trx.rollback();
      await filesSettled(trx);
      assert.deepEqual(await files(), []);
      assert.equal((await UserPicture.query().where('user_id', user.id)).length, 0);
    });

    it('a rollback after delete keeps the files (they go only on commit)', async function () {
      await imageSet(user, 'picture').fromBlob(await jpeg(32, 32));
      await assert.rejects(
        Model.transaction(async (trx) => {
          await imageSet(user, 'picture').remove({ trx });
          throw new Error('changed my mind');
        }),
        /changed my mind/,
      );
      assert.equal((await files()).length, 1);
      await Model.transaction(async (trx) => {
        await imageSet(user, 'picture').remove({ trx });
        assert.equal((await files()).length, 1, 'not before the commit');
      });
      await filesSettled();
      assert.deepEqual(await files(), []);
    });

    it('a rolled-back replacement with the same key puts the old bytes back', async function () {
      const before = await jpeg(32, 32);
      await imageSet(user, 'picture').fromBlob(before);
      const trx = await Model.startTransaction();
      const other = await sharp(await jpeg(32, 32))
        .jpeg({ quality: 10 })
        .toBuffer();
      await imageSet(user, 'picture').fromBlob(other, { trx });
      await trx.rollback();
      await filesSettled(trx);
      const fresh = await User.query().findById(user.id).withGraphFetched('picture');
      assert.ok((await imageSet(fresh!, 'picture').makeBlob()).equals(before));
    });

    it('a committed replacement with the same key keeps the new file', async function () {
      await imageSet(user, 'picture').fromBlob(await jpeg(32, 32));
      const other = await sharp(await jpeg(32, 32))
        .jpeg({ quality: 10 })
        .toBuffer();
      await Model.transaction(async (trx) => {
        await imageSet(user, 'picture').fromBlob(other, { trx });
      });
      await filesSettled();
      assert.ok((await imageSet(user, 'picture').makeBlob()).equals(other));
    });

    it('a savepoint rolled back undoes only its own files', async function () {
      await Model.transaction(async (trx) => {
        await imageSet(user, 'picture').fromBlob(await jpeg(40, 20), { trx });
        let savepoint;
        await assert.rejects(
          trx.transaction(async (inner) => {
            savepoint = inner;
            await imageSet(user, 'picture').generateThumbnail({ width: 10 }, { trx: inner });
            throw new Error('inner fails');
          }),
        );
        // Not filesSettled() with no argument: that would wait for this very transaction too.
        await filesSettled(savepoint);
        assert.deepEqual(await files(), [`user-picture/${user.id}/0/${user.id}.40x20.jpe`]);
      });
    });

    it('an error after the file write rolls the row and the file back', async function () {
      await assert.rejects(
        Model.transaction(async (trx) => {
          await imageSet(user, 'picture').fromBlob(await jpeg(32, 16), { trx });
          await trx.raw('select * from no_such_table');
        }),
      );
      await filesSettled();
      assert.deepEqual(await files(), []);
    });
  });

  describe('deleting owners', function () {
    it('deleting the owner removes its images, rows and files', async function () {
      await imageSet(user, 'picture').fromBlob(await jpeg(32, 32));
      await imageSet(user, 'picture').generateThumbnail({ width: 8 });
      await imageSet(user, 'cover').fromBlob(await png(10, 10));
      await User.query().deleteById(user.id);
      await filesSettled();
      assert.deepEqual(await files(), []);
      assert.equal((await UserPicture.query()).filter((p) => p.user_id === user.id).length, 0);
    });
    it('inside a rolled-back transaction, keeps everything', async function () {
      await imageSet(user, 'picture').fromBlob(await jpeg(32, 32));
      await assert.rejects(
        Model.transaction(async (trx) => {
          await User.query(trx).deleteById(user.id);
          throw new Error('no');
        }),
      );
      await filesSettled();
      assert.equal((await files()).length, 1);
      assert.equal((await UserPicture.query().where('user_id', user.id)).length, 1);
    });
  });

  describe('several image sets per owner', function () {
    it('keeps two relations of one owner apart', async function () {
      await imageSet(user, 'picture').fromBlob(await jpeg(50, 50));
      await imageSet(user, 'cover').fromBlob(await png(80, 20));
      await imageSet(user, 'cover').generateThumbnail({ width: 40 });
      assert.equal(imageSet(user, 'picture').original!.width, 50);
      assert.throws(() => imageSet(user, 'picture').findThumbnail({ width: 40 }), ImageNotFoundError);
      assert.equal(imageSet(user, 'cover').findThumbnail({ width: 40 }).height, 10);
    });

    it("keys sets by an extra column, and never returns one set's thumbnail for another", async function () {
      const product = await Product.query().insert({});
      const first = imageSet(product, 'images', { slot: 1 });
      const second = imageSet(product, 'images', { slot: 2 });
      await first.fromBlob(await jpeg(200, 100));
      await second.fromBlob(await jpeg(300, 300));
      await first.generateThumbnail({ width: 100 });
      assert.throws(() => second.findThumbnail({ width: 100 }), ImageNotFoundError);
      const t2 = await second.generateThumbnail({ width: 100 });
      assert.deepEqual([t2.height, t2.slot], [100, 2]);
      assert.equal(first.findThumbnail({ width: 100 }).height, 50);
      const fresh = await Product.query().findById(product.id).withGraphFetched('images');
      const sets = imageSets(fresh!, 'images');
      assert.deepEqual(sets.map((s) => [s.subset.slot, s.original!.width]).sort(), [
        [1, 200],
        [2, 300],
      ]);
      // Replacing one set leaves the other alone.
      await first.fromBlob(await png(10, 10));
      assert.equal((await ProductImage.query().where({ product_id: product.id, slot: 2 })).length, 2);
      assert.equal((await files()).filter((f) => f.startsWith('product-image/')).length, 3);
    });

    it('asks for the extra key columns', function () {
      assert.throws(() => imageSet(user, 'picture', { slot: 1 }), InvalidArgumentError);
    });
  });

  describe('objectType and objectId defaults', function () {
    it('objectType is the table name with _ → -', async function () {
      const image = await imageSet(user, 'picture').fromBlob(await jpeg(8, 8));
      assert.equal(image.objectType, 'user-picture');
      assert.equal(image.objectId, BigInt(user.id));
    });
    it('a string key needs an override, and says so', async function () {
      const tag = await Tag.query().insert({ name: 'sunset' });
      await assert.rejects(
        imageSet(tag, 'icon').fromBlob(await jpeg(8, 8)),
        (e: unknown) =>
          e instanceof ImageAttachError && e.code === 'ERR_NO_OBJECT_ID' && /tag_name holds "sunset"/.test(e.message),
      );
      assert.equal((await TagImage.query()).length, 0);
    });
    it('a UUID key is read as its 128-bit integer', function () {
      const image = TagImage.fromJson(
        {
          tag_name: '6ba7b810-9dad-11d1-80b4-00c04fd430c8',
          width: 1,
          height: 1,
          mimetype: 'image/png',
          original: true,
        },
        { skipValidation: true },
      );
      assert.equal(image.objectId, 0x6ba7b8109dad11d180b400c04fd430c8n);
    });
  });

  describe('eager loading', function () {
    it('renders owners fetched withGraphFetched with no further query', async function () {
      const ids: number[] = [];
      for (const name of ['a', 'b', 'c']) {
        const owner = await User.query().insert({ name });
        ids.push(owner.id);
        await imageSet(owner, 'picture').fromBlob(await jpeg(64, 32));
        await imageSet(owner, 'picture').generateThumbnail({ width: 32 });
      }
      const queries: string[] = [];
      const onQuery = (q: { sql: string }) => queries.push(q.sql);
      db().on('query', onQuery);
      try {
        const owners = await User.query().withGraphFetched('picture').whereIn('id', ids).orderBy('id');
        const html = owners.map(
          (o) => imageSet(o, 'picture').toHTML() + imageSet(o, 'picture').findThumbnail({ width: 32 }).toHTML(),
        );
        assert.equal(html.length, 3);
        assert.equal(queries.length, 2);
      } finally {
        db().off('query', onQuery);
      }
    });
  });
});

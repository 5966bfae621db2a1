import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Model } from 'objection';
import sharp from 'sharp';
import {
  FileSystemStore,
  filesSettled,
  imageSet,
  InvalidArgumentError,
  popStoreContext,
  pushStoreContext,
} from '../../src/index.js';
import { forEachDialect } from '../support/db.js';
import { fsStore } from '../support/fs-store.js';
import { HookedStore } from '../support/hooked-store.js';
import { jpeg, png } from '../support/images.js';
import { listTree, removeDir, tempDir } from '../support/tmp.js';
import { createSchema, User, UserPicture } from './models.js';

// Attaching an original with its thumbnails: one read of the input, one transaction, all or nothing.
forEachDialect('attaching with thumbnails', (db, dialect) => {
  let root: string;
  let store: FileSystemStore;
  let cleanup: () => Promise<void>;
  let user: User;
  /** Streams are spooled here (`tempDir`), so the tests can see that nothing is left. */
  let spool: string;
  const files = () => listTree(root).then((all) => all.filter((f) => !f.endsWith('/')));
  const rows = () => UserPicture.query().where('user_id', user.id).orderBy('width');
  const THUMBNAILS = [{ width: 100 }, { height: 120 }, { ratio: 0.5, format: 'webp' as const }];

  before(async function () {
    Model.knex(db());
    await createSchema(db());
  });
  beforeEach(async function () {
    ({ store, dir: root, cleanup } = await fsStore(`attach-thumbs-${dialect}`));
    spool = await tempDir(`attach-thumbs-spool-${dialect}`);
    pushStoreContext(store);
    user = await User.query().insert({ name: 'Ann' });
  });
  afterEach(async function () {
    popStoreContext();
    await cleanup();
    await removeDir(spool);
  });

  /** Each stored image's width, height, mimetype and original flag, with what its file decodes to. */
  async function stored(): Promise<string[]> {
    const out: string[] = [];
    for (const row of await rows()) {
      const meta = await sharp(await row.makeBlob()).metadata();
      out.push(
        `${row.width}x${row.height} ${row.mimetype}${row.original ? ' original' : ''} -> ${meta.width}x${meta.height} ${meta.format}`,
      );
    }
    return out;
  }

  const EXPECTED = [
    '100x75 image/jpeg -> 100x75 jpeg',
    '160x120 image/jpeg -> 160x120 jpeg',
    '320x240 image/webp -> 320x240 webp',
    '640x480 image/jpeg original -> 640x480 jpeg',
  ];

  it('stores the original and each thumbnail at its size and format, from a path, a stream and a blob', async function () {
    const bytes = await jpeg(640, 480);
    const file = path.join(spool, 'upload.jpg');
    await writeFile(file, bytes);
    for (const attach of [
      (set: ReturnType<typeof imageSet>) => set.fromFile(file, { thumbnails: THUMBNAILS }),
      (set: ReturnType<typeof imageSet>) =>
        set.fromStream(Readable.from([bytes]), { thumbnails: THUMBNAILS, tempDir: spool }),
      (set: ReturnType<typeof imageSet>) => set.fromBlob(bytes, { thumbnails: THUMBNAILS }),
    ]) {
      const set = imageSet(user, 'picture');
      const original = await attach(set);
      assert.deepEqual([original.width, original.height, original.original], [640, 480, true]);
      // The loaded relation holds the whole new set: pages can render it at once.
      assert.deepEqual(
        set.thumbnails.map((t) => `${t.width}x${t.height}`),
        ['100x75', '160x120', '320x240'],
      );
      assert.deepEqual(await stored(), EXPECTED);
      assert.equal((await files()).length, 4);
    }
    assert.deepEqual(await readdir(spool), ['upload.jpg']);
  });

  it('replaces the old set, thumbnails included', async function () {
    const set = imageSet(user, 'picture');
    await set.fromBlob(await png(300, 300), { thumbnails: [{ width: 30 }, { width: 60 }] });
    await set.fromBlob(await jpeg(640, 480), { thumbnails: THUMBNAILS });
    assert.deepEqual(await stored(), EXPECTED);
    assert.equal((await files()).length, 4);
  });

  it('applies EXIF orientation to the thumbnails, as to the original', async function () {
    // Stored 80×40, displayed 40×80 (orientation 6: rotated a quarter turn).
    const set = imageSet(user, 'picture');
    const original = await set.fromBlob(await jpeg(80, 40, { orientation: 6 }), { thumbnails: [{ width: 20 }] });
    assert.deepEqual([original.width, original.height], [40, 80]);
    const meta = await sharp(await set.findThumbnail({ width: 20 }).makeBlob()).metadata();
    assert.deepEqual([meta.width, meta.height], [20, 40]);
  });

  it("skips a thumbnail of the original's own size, and makes none for an empty list", async function () {
    const set = imageSet(user, 'picture');
    await set.fromBlob(await jpeg(200, 100), { thumbnails: [{ width: 200 }, { ratio: 1 }, { width: 50 }] });
    assert.deepEqual(
      (await rows()).map((r) => `${r.width}x${r.height}`),
      ['50x25', '200x100'],
    );
    await set.fromBlob(await jpeg(200, 100), { thumbnails: [] });
    assert.deepEqual(
      (await rows()).map((r) => `${r.width}x${r.height}`),
      ['200x100'],
    );
  });

  it('makes a thumbnail larger than the original too, as generateThumbnail does', async function () {
    const set = imageSet(user, 'picture');
    await set.fromBlob(await png(60, 40), { thumbnails: [{ width: 30 }, { width: 120, format: 'jpeg' }] });
    assert.deepEqual(await stored(), [
      '30x20 image/png -> 30x20 png',
      '60x40 image/png original -> 60x40 png',
      '120x80 image/jpeg -> 120x80 jpeg',
    ]);
  });

  it("flattens a transparent PNG's JPEG thumbnails onto white, or onto the background asked for", async function () {
    const transparent = await sharp({
      create: { width: 80, height: 40, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } },
    })
      .png()
      .toBuffer();
    const corner = async (image: { makeBlob(): Promise<Buffer> }) => [
      ...(
        await sharp(await image.makeBlob())
          .raw()
          .toBuffer()
      ).subarray(0, 3),
    ];
    const set = imageSet(user, 'picture');
    await set.fromBlob(transparent, { thumbnails: [{ width: 40, format: 'jpeg' }] });
    assert.deepEqual(await corner(set.findThumbnail({ width: 40 })), [255, 255, 255]);
    const grey = await set.generateThumbnail({ width: 20 }, { format: 'jpeg', background: '#808080' });
    assert.deepEqual(await corner(grey), [128, 128, 128]);
    await assert.rejects(set.generateThumbnail({ width: 10 }, { format: 'jpeg', background: 'grey' }), {
      message: `Expected a colour as '#rrggbb', '#rgb' or { r, g, b } with integers 0-255 for options.background but received "grey" of type string`,
    });
  });

  it('refuses two thumbnails of one size, and a bad spec, before storing anything', async function () {
    const set = imageSet(user, 'picture');
    await assert.rejects(
      set.fromBlob(await jpeg(200, 100), { thumbnails: [{ width: 100 }, { height: 50, format: 'webp' }] }),
      (e: unknown) => {
        return (
          e instanceof InvalidArgumentError &&
          e.message.startsWith(
            'Expected thumbnails of different sizes (a set holds one image per size; two come out 100×50) for options.thumbnails',
          )
        );
      },
    );
    await assert.rejects(set.fromBlob(await jpeg(200, 100), { thumbnails: [{ width: 0 }] }), {
      message: 'Expected an integer >= 1 for width but received 0 of type number',
    });
    await assert.rejects(set.fromBlob(await jpeg(200, 100), { thumbnails: [{ width: 10, format: 'gif' as never }] }), {
      message: 'Expected "jpeg", "png", "webp" or "avif" for format but received "gif" of type string',
    });
    // A stream with a bad option is refused before it is spooled.
    await assert.rejects(
      set.fromStream(Readable.from([await jpeg(20, 10)]), { thumbnails: { width: 10 } as never, tempDir: spool }),
      {
        message:
          'Expected an array of { width } | { height } | { ratio }, each with an optional format for options.thumbnails but received an object',
      },
    );
    assert.equal((await rows()).length, 0);
    assert.deepEqual(await files(), []);
    assert.deepEqual(await readdir(spool), []);
  });

  it('rejects a truncated input as ERR_IMAGE_TRUNCATED and stores nothing: no row, no file, no temp file', async function () {
    const truncated = (await jpeg(640, 480)).subarray(0, 20_000);
    const set = imageSet(user, 'picture');
    await assert.rejects(set.fromStream(Readable.from([truncated]), { thumbnails: THUMBNAILS, tempDir: spool }), {
      code: 'ERR_IMAGE_TRUNCATED',
      statusCode: 400,
    });
    await assert.rejects(set.fromBlob(truncated, { thumbnails: THUMBNAILS }), { code: 'ERR_IMAGE_TRUNCATED' });
    assert.equal((await rows()).length, 0);
    assert.deepEqual(await files(), []);
    assert.deepEqual(await readdir(spool), []);
  });

  it('still proves the file whole when a probe skipped its decode and no thumbnails are asked for', async function () {
    const truncated = (await jpeg(640, 480)).subarray(0, 20_000);
    const file = path.join(spool, 'upload.jpg');
    await writeFile(file, truncated);
    const probed = {
      mimetype: 'image/jpeg',
      width: 640,
      height: 480,
      size: truncated.length,
      pixels: 640 * 480,
      decoded: false,
    };
    await assert.rejects(imageSet(user, 'picture').fromFile(file, { probed }), { code: 'ERR_IMAGE_TRUNCATED' });
    // With thumbnails, their render is the proof; with an empty list, a decode of its own.
    await assert.rejects(imageSet(user, 'picture').fromFile(file, { probed, thumbnails: [] }), {
      code: 'ERR_IMAGE_TRUNCATED',
    });
    await assert.rejects(imageSet(user, 'picture').fromFile(file, { probed, thumbnails: [{ width: 100 }] }), {
      code: 'ERR_IMAGE_TRUNCATED',
    });
    assert.equal((await rows()).length, 0);
    assert.deepEqual(await files(), []);
  });

  it('leaves nothing when a store write fails midway, and the old set as it was', async function () {
    const set = imageSet(user, 'picture');
    await set.fromBlob(await png(300, 300), { thumbnails: [{ width: 30 }] });
    const before = await files();
    const failing = new HookedStore(store, async (key) => {
      if ('width' in key && key.width === 160) throw new Error('disk full');
    });
    await assert.rejects(set.fromBlob(await jpeg(640, 480), { thumbnails: THUMBNAILS, store: failing }), {
      message: 'disk full',
    });
    await filesSettled();
    assert.deepEqual(
      (await rows()).map((r) => `${r.width}x${r.height}`),
      ['30x30', '300x300'],
    );
    assert.deepEqual(await files(), before);
  });

  it('removes every file, original and thumbnails, when the caller rolls its transaction back', async function () {
    const trx = await Model.startTransaction();
    await imageSet(user, 'picture').fromBlob(await jpeg(640, 480), { thumbnails: THUMBNAILS, trx });
    assert.equal((await files()).length, 4);
    await trx.rollback();
    await filesSettled(trx);
    assert.equal((await rows()).length, 0);
    assert.deepEqual(await files(), []);
  });
});

import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Model } from 'objection';
import sharp from 'sharp';
import { withStore } from '../../src/context.js';
import { imageSet } from '../../src/entity/image-set.js';
import { FileSystemStore } from '../../src/stores/fs.js';
import type { ImageKey } from '../../src/stores/keys.js';
import { forEachDialect } from '../support/db.js';
import { fsStore } from '../support/fs-store.js';
import { HookedStore } from '../support/hooked-store.js';
import { jpeg } from '../support/images.js';
import { createPythonSchema, insertPythonRow } from '../support/python-schema.js';
import { User } from './models.js';

/** A store with no local paths, so originals are read as streams (as from S3). */
class StreamingStore extends HookedStore {
  override localPath(_key: ImageKey): string | undefined {
    return undefined;
  }
}

forEachDialect('originals as SQLAlchemy-ImageAttach stored them', (db, dialect) => {
  let root: string;
  let store: FileSystemStore;
  let cleanup: () => Promise<void>;
  let user: User;
  /** A photo shown 405×640: stored 640×405 with EXIF orientation 6 (rotate 90° clockwise). */
  let rotated: Buffer;

  before(async function () {
    Model.knex(db());
    await createPythonSchema(db(), dialect);
    rotated = await jpeg(640, 405, { orientation: 6 });
  });
  beforeEach(async function () {
    ({ store, dir: root, cleanup } = await fsStore(`python-originals-${dialect}`));
    user = await User.query().insert({ name: 'Ann' });
  });
  afterEach(async function () {
    await cleanup();
  });

  /** The row and file the Python library writes for an original: its size as ImageMagick reads it. */
  async function pythonOriginal(
    width: number,
    height: number,
    mimetype: string,
    file: string,
    bytes: Buffer,
  ): Promise<void> {
    await insertPythonRow(db(), dialect, {
      user_id: user.id,
      width,
      height,
      mimetype,
      original: true,
      created_at: '2026-12-02 11:04:43.123456',
    });
    const dir = path.join(root, 'user-picture', String(user.id), '0');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, file), bytes);
  }
  const pixelsOf = async (bytes: Buffer) => {
    const meta = await sharp(bytes).metadata();
    return [meta.width, meta.height, meta.orientation ?? 1];
  };

  describe('an EXIF-rotated JPEG (orientation 6): Python records 640×405, the stored size', function () {
    for (const [label, makeStore] of [
      ['read from a local file', () => store],
      ['read as a stream', () => new StreamingStore(store)],
    ] as const) {
      it(`thumbnails keep the picture's upright aspect (${label}): { width: 202 } is 202×319, not a squeezed 202×127`, async function () {
        await pythonOriginal(640, 405, 'image/jpeg', `${user.id}.640x405.jpe`, rotated);
        const using = makeStore();
        await withStore(using, async () => {
          const set = imageSet(user, 'picture');
          const byWidth = await set.generateThumbnail({ width: 202 });
          assert.deepEqual([byWidth.width, byWidth.height], [202, 319]);
          assert.deepEqual(await pixelsOf(await byWidth.makeBlob()), [202, 319, 1]);
          const byRatio = await set.generateThumbnail({ ratio: 0.25 });
          assert.deepEqual([byRatio.width, byRatio.height], [101, 160]);
          assert.deepEqual(await pixelsOf(await byRatio.makeBlob()), [101, 160, 1]);
        });
      });
    }

    it('the same file uploaded here records the displayed 405×640, and gives the same thumbnail', async function () {
      await withStore(store, async () => {
        const set = imageSet(user, 'picture');
        const original = await set.fromBlob(rotated);
        assert.deepEqual([original.width, original.height], [405, 640]);
        const thumbnail = await set.generateThumbnail({ width: 202 });
        assert.deepEqual([thumbnail.width, thumbnail.height], [202, 319]);
        assert.deepEqual(await pixelsOf(await thumbnail.makeBlob()), [202, 319, 1]);
      });
    });
  });

  it('a PDF original (SQLAlchemy-ImageAttach read PDFs) locates and opens; a thumbnail of it is refused as an unreadable original (422, not 400)', async function () {
    const pdf = Buffer.from('%PDF-1.4\n%python wrote this\n');
    await pythonOriginal(612, 792, 'application/pdf', `${user.id}.612x792.pdf`, pdf);
    await withStore(store, async () => {
      const set = await imageSet(user, 'picture').load();
      assert.equal(
        set.locate().split('?')[0],
        `http://static.example.com/user-picture/${user.id}/0/${user.id}.612x792.pdf`,
      );
      assert.ok((await set.makeBlob()).equals(pdf));
      // The stored file, not the request, is at fault: not a 400.
      await assert.rejects(set.generateThumbnail({ width: 100 }), (error: any) => {
        assert.deepEqual([error.code, error.statusCode], ['ERR_ORIGINAL_UNREADABLE', 422]);
        assert.ok(!error.message.includes(root), error.message);
        return true;
      });
    });
  });

  it('a TIFF that Python 3.6 stored as .tif makes thumbnails (the other extension is read)', async function () {
    const tiff = await sharp({ create: { width: 300, height: 200, channels: 3, background: 'teal' } })
      .tiff()
      .toBuffer();
    await pythonOriginal(300, 200, 'image/tiff', `${user.id}.300x200.tif`, tiff);
    await withStore(store, async () => {
      const thumbnail = await imageSet(user, 'picture').generateThumbnail({ width: 87 });
      assert.deepEqual([thumbnail.width, thumbnail.height, thumbnail.mimetype], [87, 57, 'image/tiff']);
      assert.deepEqual(await pixelsOf(await thumbnail.makeBlob()), [87, 57, 1]);
    });
  });
});

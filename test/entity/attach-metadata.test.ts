import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Model } from 'objection';
import sharp from 'sharp';
import { imageSet } from '../../src/entity/image-set.js';
import { popStoreContext, pushStoreContext } from '../../src/context.js';
import { FileSystemStore } from '../../src/stores/fs.js';
import { forEachDialect } from '../support/db.js';
import {
  exifTags,
  ifd0Tags,
  phonePhoto,
  pngChunk,
  revealingJpeg,
  revealingPng,
  revealingTags,
  revealingWebp,
  TAG,
} from '../support/exif.js';
import { removeDir, tempDir } from '../support/tmp.js';
import { createSchema, User } from './models.js';

// Originals are served publicly: a phone's photo must not tell where it was taken, or on what.
forEachDialect('attaching a photo with location and camera metadata', (db, dialect) => {
  let root: string;
  let store: FileSystemStore;
  let user: User;

  before(async function () {
    Model.knex(db());
    await createSchema(db());
  });
  beforeEach(async function () {
    root = await tempDir(`attach-metadata-${dialect}`);
    store = new FileSystemStore({ path: path.join(root, 'store'), baseUrl: 'http://static.example.com/' });
    pushStoreContext(store);
    user = await User.query().insert({ name: 'Ann' });
  });
  afterEach(async function () {
    popStoreContext();
    await removeDir(root);
  });

  const stored = async () => readFile(store.pathFor(imageSet(user, 'picture').requireOriginal()));

  it('stores the original without GPS, camera or XMP, the right way up, by every attach method', async function () {
    const photo = await phonePhoto('jpeg', 6);
    const file = path.join(root, 'phone.jpg');
    await import('node:fs/promises').then((fs) => fs.writeFile(file, photo));
    for (const attach of [
      () => imageSet(user, 'picture').fromBlob(photo),
      () => imageSet(user, 'picture').fromFile(file),
      () => imageSet(user, 'picture').fromStream(Readable.from([photo])),
    ]) {
      const image = await attach();
      // The row has the displayed size (rotated by the orientation), as before.
      assert.deepEqual([image.width, image.height], [30, 40]);
      const bytes = await stored();
      assert.ok(!bytes.includes('iPhone'));
      const metadata = await sharp(bytes).metadata();
      assert.deepEqual(ifd0Tags(metadata.exif), [TAG.Orientation]);
      assert.deepEqual(metadata.autoOrient, { width: 30, height: 40 });
    }
  });

  it('makes thumbnails the right way up from the stripped original', async function () {
    await imageSet(user, 'picture').fromBlob(await phonePhoto('png', 6), { thumbnails: [{ width: 15 }] });
    const thumbnail = await imageSet(user, 'picture').findOrCreateThumbnail({ width: 10 });
    assert.deepEqual([thumbnail.width, thumbnail.height], [10, 13]);
    assert.ok(!(await stored()).includes('iPhone'));
  });

  it('stores no GPS, serial, XMP, C2PA or embedded picture, by fromBlob and fromStream (exiftool on the stored bytes)', async function () {
    this.timeout(20_000);
    for (const photo of await Promise.all([revealingJpeg(), revealingPng(), revealingWebp()])) {
      await imageSet(user, 'picture').fromBlob(photo);
      const fromBlob = await stored();
      await imageSet(user, 'picture').fromStream(Readable.from([photo]));
      const bytes = await stored();
      assert.ok(bytes.equals(fromBlob));
      const tags = exifTags(bytes);
      assert.deepEqual(revealingTags(tags), []);
      assert.ok(!bytes.includes('SECRET'));
      assert.equal(tags['IFD0:Orientation'], 6);
      assert.ok(
        Object.keys(tags).some((key) => key.startsWith('ICC_Profile:')),
        'the ICC profile is kept',
      );
      assert.ok((await sharp(bytes).raw().toBuffer()).equals(await sharp(photo).raw().toBuffer()));
    }
  });

  // fromBlob stored it; fromStream failed with a 500 ("spool shrank while its metadata was being removed").
  it('stores a PNG whose IEND declares a length alike by fromBlob and fromStream, with a proper IEND', async function () {
    const photo = await phonePhoto('png', 6);
    photo.writeUInt32BE(5, photo.length - 12);
    await imageSet(user, 'picture').fromBlob(photo);
    const fromBlob = await stored();
    await imageSet(user, 'picture').fromStream(Readable.from([photo]));
    const fromStream = await stored();
    assert.ok(fromStream.equals(fromBlob));
    assert.ok(fromStream.subarray(-12).equals(pngChunk('IEND', Buffer.alloc(0))));
  });

  it('refuses an animated PNG whose structure it cannot follow (ERR_IMAGE_MALFORMED, 400), storing nothing', async function () {
    // libpng decodes it (the chunk cut short comes after the image data); re-encoding would drop the animation.
    const png = await phonePhoto('png', 6);
    const ihdrEnd = 8 + 12 + 13;
    const junk = Buffer.concat([
      png.subarray(0, ihdrEnd),
      pngChunk('acTL', Buffer.from([0, 0, 0, 1, 0, 0, 0, 0])),
      png.subarray(ihdrEnd, png.length - 12),
      Buffer.from('\0\0\x03\xe8tEXtGPS 48.8584 N', 'latin1'),
    ]);
    for (const attach of [
      () => imageSet(user, 'picture').fromBlob(junk),
      () => imageSet(user, 'picture').fromStream(Readable.from([junk])),
    ]) {
      await assert.rejects(attach(), { code: 'ERR_IMAGE_MALFORMED', statusCode: 400 });
    }
    await imageSet(user, 'picture').load();
    assert.equal(imageSet(user, 'picture').original, undefined);
    assert.deepEqual(await readdir(root), []);
  });

  it('keeps the metadata with keepMetadata: true', async function () {
    const photo = await phonePhoto('webp', 6);
    await imageSet(user, 'picture').fromBlob(photo, { keepMetadata: true });
    assert.ok((await stored()).equals(photo));
  });
});

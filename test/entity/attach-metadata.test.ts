import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Model } from 'objection';
import sharp from 'sharp';
import { imageSet } from '../../src/entity/image-set.js';
import { popStoreContext, pushStoreContext } from '../../src/context.js';
import { FileSystemStore } from '../../src/stores/fs.js';
import { forEachDialect } from '../support/db.js';
import { ifd0Tags, phonePhoto, TAG } from '../support/exif.js';
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
    for (const attach of [() => imageSet(user, 'picture').fromBlob(photo), () => imageSet(user, 'picture').fromFile(file), () => imageSet(user, 'picture').fromStream(Readable.from([photo]))]) {
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

  it('keeps the metadata with keepMetadata: true', async function () {
    const photo = await phonePhoto('webp', 6);
    await imageSet(user, 'picture').fromBlob(photo, { keepMetadata: true });
    assert.ok((await stored()).equals(photo));
  });
});

import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Model } from 'objection';
import sharp from 'sharp';
import { imageSet } from '../../src/entity/image-set.js';
import { popStoreContext, pushStoreContext } from '../../src/context.js';
import { InvalidImageError } from '../../src/errors.js';
import { useHeicDecoderPackage } from '../../src/imaging/heic.js';
import { FileSystemStore } from '../../src/stores/fs.js';
import { forEachDialect } from '../support/db.js';
import { exifTags, revealingTags } from '../support/exif.js';
import { removeDir, tempDir } from '../support/tmp.js';
import { createSchema, User } from './models.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/heic');
const fixture = (name: string) => readFile(path.join(fixtures, name));

/** The colour of the pixel at (x, y) of `bytes`, as the nearest of the fixtures' four. */
async function colourAt(bytes: Buffer, x: number, y: number): Promise<string> {
  const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  const at = (y * info.width + x) * info.channels;
  const [r, g, b] = [data[at]!, data[at + 1]!, data[at + 2]!];
  if (r > 150 && g > 150) return 'yellow';
  if (r > 150) return 'red';
  if (g > 150) return 'green';
  if (b > 150) return 'blue';
  return `rgb(${r},${g},${b})`;
}

// iPhone photos: stored as JPEG, the right way up, with their colour profile and nothing else.
forEachDialect('attaching a HEIC photo', (db, dialect) => {
  let root: string;
  let store: FileSystemStore;
  let user: User;

  before(async function () {
    Model.knex(db());
    await createSchema(db());
  });
  beforeEach(async function () {
    root = await tempDir(`attach-heic-${dialect}`);
    store = new FileSystemStore({ path: path.join(root, 'store'), baseUrl: 'http://static.example.com/' });
    pushStoreContext(store);
    user = await User.query().insert({ name: 'Ann' });
  });
  afterEach(async function () {
    popStoreContext();
    useHeicDecoderPackage('heic-decode');
    await removeDir(root);
  });

  const stored = async () => readFile(store.pathFor(imageSet(user, 'picture').requireOriginal()));

  it('stores a HEIC as a JPEG of its pixels and ICC profile, by every attach method', async function () {
    const heic = await fixture('plain.heic');
    const file = path.join(root, 'photo.heic');
    await writeFile(file, heic);
    for (const attach of [
      () => imageSet(user, 'picture').fromBlob(heic),
      () => imageSet(user, 'picture').fromFile(file),
      () => imageSet(user, 'picture').fromStream(Readable.from([heic])),
    ]) {
      const image = await attach();
      assert.deepEqual([image.mimetype, image.width, image.height], ['image/jpeg', 64, 48]);
      const bytes = await stored();
      const metadata = await sharp(bytes).metadata();
      assert.deepEqual([metadata.format, metadata.width, metadata.height], ['jpeg', 64, 48]);
      assert.deepEqual(
        await Promise.all([
          colourAt(bytes, 8, 8),
          colourAt(bytes, 56, 8),
          colourAt(bytes, 8, 40),
          colourAt(bytes, 56, 40),
        ]),
        ['red', 'green', 'blue', 'yellow'],
      );
      // The Display P3 profile of the HEIC, so its colours show as the phone showed them.
      assert.match(String(exifTags(bytes)['ICC_Profile:ProfileDescription']), /P3/);
    }
  });

  it('stores no GPS position, camera or other EXIF of the HEIC (exiftool on the stored bytes)', async function () {
    const heic = await fixture('plain.heic');
    assert.ok(heic.includes('iPhone 15'), 'the fixture has a camera model');
    assert.ok(
      Object.keys(exifTags(heic)).some((tag) => tag.startsWith('GPS:')),
      'the fixture has a GPS position',
    );
    await imageSet(user, 'picture').fromBlob(heic);
    const bytes = await stored();
    assert.ok(!bytes.includes('iPhone'));
    assert.deepEqual(revealingTags(exifTags(bytes)), []);
    assert.equal((await sharp(bytes).metadata()).orientation, undefined);
  });

  it("stores a phone's portrait photo upright: the container's rotation applied, the EXIF Orientation (which says the same) not applied again", async function () {
    const image = await imageSet(user, 'picture').fromBlob(await fixture('rotated.heic'));
    assert.deepEqual([image.width, image.height], [48, 64]);
    const bytes = await stored();
    // A quarter turn clockwise of red, green / blue, yellow puts blue at the top left.
    assert.deepEqual(
      await Promise.all([
        colourAt(bytes, 6, 6),
        colourAt(bytes, 42, 6),
        colourAt(bytes, 6, 58),
        colourAt(bytes, 42, 58),
      ]),
      ['blue', 'red', 'yellow', 'green'],
    );
    assert.equal((await sharp(bytes).metadata()).orientation, undefined);
  });

  it('takes the primary image of a HEIC of several (a burst, a Live Photo still), not the first', async function () {
    const image = await imageSet(user, 'picture').fromBlob(await fixture('multi.heic'));
    assert.deepEqual([image.width, image.height], [48, 32]);
    assert.equal(await colourAt(await stored(), 24, 16), 'blue');
  });

  it('makes thumbnails of a HEIC at attach and on demand', async function () {
    await imageSet(user, 'picture').fromBlob(await fixture('rotated.heic'), { thumbnails: [{ width: 24 }] });
    const made = imageSet(user, 'picture').images.filter((i) => !i.original);
    assert.deepEqual(
      made.map((i) => [i.mimetype, i.width, i.height]),
      [['image/jpeg', 24, 32]],
    );
    const thumbnail = await imageSet(user, 'picture').findOrCreateThumbnail({ width: 12 });
    assert.deepEqual([thumbnail.mimetype, thumbnail.width, thumbnail.height], ['image/jpeg', 12, 16]);
  });

  it('refuses a truncated HEIC with ERR_IMAGE_TRUNCATED, storing nothing', async function () {
    await assert.rejects(imageSet(user, 'picture').fromBlob(await fixture('truncated.heic')), {
      code: 'ERR_IMAGE_TRUNCATED',
      statusCode: 400,
    });
    assert.equal((await imageSet(user, 'picture').load()).images.length, 0);
    assert.deepEqual(await readdir(root), []);
  });

  it('checks the pixel limit from the container, before any decoder is even looked for', async function () {
    useHeicDecoderPackage('heic-decode-is-not-installed');
    await assert.rejects(imageSet(user, 'picture').fromBlob(await fixture('plain.heic'), { maxPixels: 3000 }), {
      code: 'ERR_IMAGE_TOO_MANY_PIXELS',
      statusCode: 413,
      message: 'Expected at most 3000 pixels but the image declares 64×48 (3072 pixels)',
    });
  });

  it('refuses a HEIC with ERR_HEIC_DECODER_MISSING (415) saying what to install when heic-decode is missing', async function () {
    useHeicDecoderPackage('heic-decode-is-not-installed');
    const error = await imageSet(user, 'picture')
      .fromBlob(await fixture('plain.heic'))
      .then(
        () => assert.fail('attached'),
        (e: unknown) => e,
      );
    assert.ok(error instanceof InvalidImageError);
    assert.equal(error.code, 'ERR_HEIC_DECODER_MISSING');
    assert.equal(error.statusCode, 415);
    assert.match(error.message, /npm install heic-decode/);
    assert.deepEqual(await readdir(root), []);
  });

  it('refuses a HEIC when the types do not include it', async function () {
    await assert.rejects(
      imageSet(user, 'picture').fromBlob(await fixture('plain.heic'), { types: ['image/jpeg', 'image/png'] }),
      { code: 'ERR_IMAGE_UNSUPPORTED_TYPE', statusCode: 415 },
    );
  });
});

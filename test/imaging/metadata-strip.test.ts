import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import type { Readable } from 'node:stream';
import sharp from 'sharp';
import { planStrip, withoutMetadata } from '../../src/imaging/metadata-strip.js';
import { ifd0Tags, phonePhoto, TAG } from '../support/exif.js';
import { removeDir, tempDir } from '../support/tmp.js';

const MIMETYPES = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' } as const;

async function bytesOf(data: Buffer | Readable): Promise<Buffer> {
  return Buffer.isBuffer(data) ? data : buffer(data);
}

describe('removing metadata from originals', function () {
  let dir: string;
  before(async () => (dir = await tempDir('metadata-strip')));
  after(() => removeDir(dir));

  for (const format of ['jpeg', 'png', 'webp'] as const) {
    describe(format, function () {
      it('removes the GPS position, camera make and model and XMP, keeping the orientation, from bytes and from a file', async function () {
        const photo = await phonePhoto(format);
        const before = await sharp(photo).metadata();
        for (const tag of [TAG.Make, TAG.Model, TAG.GPSInfo, TAG.Orientation])
          assert.ok(ifd0Tags(before.exif).includes(tag), `the fixture has tag ${tag}`);
        assert.ok(photo.includes('iPhone 15'));
        const file = path.join(dir, `phone.${format}`);
        await writeFile(file, photo);
        for (const input of [photo, file]) {
          const stripped = (await withoutMetadata(input, MIMETYPES[format], 6))!;
          const bytes = await bytesOf(stripped.data);
          assert.equal(bytes.length, stripped.size);
          assert.ok(!bytes.includes('iPhone'), 'no camera model left, in EXIF or XMP');
          const after = await sharp(bytes).metadata();
          assert.deepEqual(ifd0Tags(after.exif), [TAG.Orientation]);
          assert.equal(after.orientation, 6);
          assert.equal(after.xmp, undefined);
          assert.deepEqual(after.autoOrient, before.autoOrient);
          // Not re-encoded: the very same pixels.
          assert.ok((await sharp(bytes).raw().toBuffer()).equals(await sharp(photo).raw().toBuffer()));
        }
      });

      it('keeps no EXIF at all for an image the right way up', async function () {
        const photo = await phonePhoto(format, 1);
        const bytes = await bytesOf((await withoutMetadata(photo, MIMETYPES[format], 1))!.data);
        assert.equal((await sharp(bytes).metadata()).exif, undefined);
        assert.ok(!bytes.includes('iPhone'));
      });
    });
  }

  it('copies the JPEG image data byte for byte (no re-encode)', async function () {
    const photo = await phonePhoto('jpeg');
    const bytes = await bytesOf((await withoutMetadata(photo, 'image/jpeg', 6))!.data);
    const scan = (b: Buffer) => b.subarray(b.indexOf(Buffer.from([0xff, 0xda])));
    assert.ok(scan(bytes).equals(scan(photo)));
  });

  it('finds the end of a progressive JPEG across its scans', async function () {
    const photo = await sharp(await phonePhoto('jpeg'))
      .jpeg({ progressive: true })
      .keepMetadata()
      .toBuffer();
    const bytes = await bytesOf(
      (await withoutMetadata(Buffer.concat([photo, Buffer.from('trailing bytes')]), 'image/jpeg', 6))!.data,
    );
    assert.ok(!bytes.includes('trailing bytes'));
    assert.ok((await sharp(bytes).raw().toBuffer()).equals(await sharp(photo).raw().toBuffer()));
  });

  for (const progressive of [false, true]) {
    it(`reads a ${progressive ? 'progressive' : 'baseline'} photo about once to find its end (it read 64 KiB again at every 0xFF of the scan, and at every table between scans)`, async function () {
      const photo = await sharp({
        create: {
          width: 1200,
          height: 900,
          channels: 3,
          background: '#777',
          noise: { type: 'gaussian', mean: 120, sigma: 40 },
        },
      })
        .jpeg({ quality: 90, progressive })
        .withExif({ IFD0: { Make: 'Phone' } })
        .toBuffer();
      let bytesRead = 0;
      const readAt = async (position: number, length: number) => {
        const chunk = photo.subarray(position, Math.min(position + length, photo.length));
        bytesRead += chunk.length;
        return chunk;
      };
      assert.ok(await planStrip(readAt, photo.length, 'image/jpeg', 1));
      assert.ok(bytesRead < 1.2 * photo.length, `${bytesRead} bytes read of a ${photo.length}-byte file`);
    });
  }

  it('drops what follows the end of a JPEG (the secondary images of MPF, with their own EXIF)', async function () {
    const photo = await phonePhoto('jpeg');
    const trailer = await phonePhoto('jpeg');
    const bytes = await bytesOf((await withoutMetadata(Buffer.concat([photo, trailer]), 'image/jpeg', 6))!.data);
    assert.ok(!bytes.includes('iPhone'));
    assert.equal(bytes.length, (await bytesOf((await withoutMetadata(photo, 'image/jpeg', 6))!.data)).length);
  });

  it('leaves an image without metadata, and other types, alone', async function () {
    const plain = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#fff' } })
      .jpeg()
      .toBuffer();
    assert.equal(await withoutMetadata(plain, 'image/jpeg', undefined), undefined);
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#fff' } })
      .png()
      .toBuffer();
    assert.equal(await withoutMetadata(png, 'image/png', undefined), undefined);
    const gif = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#fff' } })
      .gif()
      .toBuffer();
    assert.equal(await withoutMetadata(gif, 'image/gif', undefined), undefined);
  });
});

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import type { Readable } from 'node:stream';
import sharp from 'sharp';
import { InvalidImageError } from '../../src/errors.js';
import { planStrip, withoutMetadata } from '../../src/imaging/metadata-strip.js';
import { MAX_SEGMENTS } from '../../src/imaging/metadata/plan.js';
import { DEFAULT_LIMITS, probeImage } from '../../src/imaging/probe.js';
import {
  exifTags,
  exiftoolWrite,
  jpegSegment,
  LOCATION_AND_SERIAL,
  phonePhoto,
  pngChunk,
  pngWith,
  revealingJpeg,
  revealingPng,
  revealingSimpleWebp,
  revealingTags,
  revealingWebp,
  webpChunk,
} from '../support/exif.js';
import { removeDir, tempDir } from '../support/tmp.js';

async function bytesOf(data: Buffer | Readable): Promise<Buffer> {
  return Buffer.isBuffer(data) ? data : buffer(data);
}

/** What attach would store: `photo` probed, then stripped. */
async function stripped(photo: Buffer, mimetype: string): Promise<Buffer> {
  const probed = await probeImage(photo, photo.length, DEFAULT_LIMITS);
  assert.equal(probed.mimetype, mimetype);
  const result = await withoutMetadata(photo, mimetype, probed.orientation);
  assert.ok(result, 'something was removed');
  return bytesOf(result.data);
}

async function pixelsOf(image: Buffer): Promise<Buffer> {
  return sharp(image).raw().toBuffer();
}

/** exiftool finds no location, serial, XMP, C2PA, comment or embedded picture; orientation and ICC are kept. */
function assertClean(bytes: Buffer, orientation: number | undefined): void {
  const tags = exifTags(bytes);
  assert.deepEqual(revealingTags(tags), []);
  assert.ok(!bytes.includes('SECRET'), 'no secret text left anywhere');
  assert.equal(tags['IFD0:Orientation'], orientation);
  if (orientation !== undefined)
    assert.ok(
      Object.keys(tags).some((key) => key.startsWith('ICC_Profile:')),
      'the ICC profile is kept',
    );
}

// The stripper keeps what decoding and display need and nothing else, and never stores a file it
// cannot follow as it came.
describe('removing metadata by allow-list (exiftool on the output)', function () {
  this.timeout(20_000);
  let dir: string;
  before(async () => (dir = await tempDir('metadata-allow-list')));
  after(() => removeDir(dir));

  for (const [name, make, mimetype, orientation] of [
    ['a baseline JPEG', () => revealingJpeg(), 'image/jpeg', 6],
    ['a progressive JPEG', () => revealingJpeg({ progressive: true }), 'image/jpeg', 6],
    ['a PNG', revealingPng, 'image/png', 6],
    ['an extended WebP', revealingWebp, 'image/webp', 6],
    ['a simple-format WebP (no VP8X)', revealingSimpleWebp, 'image/webp', undefined],
  ] as const) {
    it(`keeps no GPS, serial, XMP, C2PA or thumbnail of ${name}; pixels, orientation and ICC stay`, async function () {
      const photo = await make();
      // The fixture tells what it should: where, on what, with its extra pictures.
      const before = revealingTags(exifTags(photo));
      for (const tag of ['GPS:GPSLatitude', 'ExifIFD:SerialNumber', 'XMP-exif:GPSLatitude'])
        assert.ok(before.includes(tag), `the fixture has ${tag}`);
      const bytes = await stripped(photo, mimetype);
      assertClean(bytes, orientation);
      assert.ok((await pixelsOf(bytes)).equals(await pixelsOf(photo)), 'the very same pixels');
      // From a file, the same bytes.
      const file = path.join(dir, `revealing-${name.replace(/\W+/g, '-')}`);
      await writeFile(file, photo);
      assert.ok((await bytesOf((await withoutMetadata(file, mimetype, orientation))!.data)).equals(bytes));
    });
  }

  it('keeps APNG animation chunks and colour chunks of a PNG', async function () {
    const png = await phonePhoto('png', 1);
    const fcTL = Buffer.alloc(26);
    fcTL.writeUInt32BE(40, 4); // sequence 0, width 40, height 30, at 0,0, delay 1/10, no dispose or blend
    fcTL.writeUInt32BE(30, 8);
    fcTL.writeUInt16BE(1, 20);
    fcTL.writeUInt16BE(10, 22);
    const apng = pngWith(png, {
      afterIhdr: [
        pngChunk('acTL', Buffer.from([0, 0, 0, 1, 0, 0, 0, 0])),
        pngChunk('gAMA', Buffer.from([0, 0, 0xb1, 0x8f])),
        pngChunk('fcTL', fcTL),
      ],
      beforeIend: [pngChunk('tEXt', 'Comment\0SECRET')],
    });
    const bytes = await stripped(apng, 'image/png');
    for (const type of ['acTL', 'fcTL', 'gAMA', 'iCCP', 'IDAT']) assert.ok(bytes.includes(type), `${type} is kept`);
    assert.ok(!bytes.includes('SECRET'));
  });

  it('sets the VP8X flags of a WebP to what is kept (ICC, EXIF for the orientation; no XMP)', async function () {
    const photo = await revealingWebp();
    assert.equal(photo[20]! & 0x2c, 0x2c, 'the fixture says ICC, EXIF and XMP');
    const bytes = await stripped(photo, 'image/webp');
    assert.equal(bytes[20], 0x28);
    assert.equal(bytes.readUInt32LE(4), bytes.length - 8, 'the RIFF size is right');
  });

  it('keeps only the frame header, alpha and image of each ANMF of an animated WebP', async function () {
    const frame = (background: string) =>
      sharp({ create: { width: 8, height: 8, channels: 4, background } })
        .png()
        .toBuffer();
    const animation = await sharp([await frame('#f00'), await frame('#00f8')], { join: { animated: true } })
      .webp({ lossless: true, delay: [100, 100] })
      .toBuffer();
    // A chunk of its own inside the first frame (the container allows unknown chunks there).
    const anmf = animation.indexOf('ANMF');
    const end = anmf + 8 + animation.readUInt32LE(anmf + 4);
    const extra = webpChunk('SECR', 'SECRET-IN-A-FRAME');
    const withExtra = Buffer.concat([animation.subarray(0, end), extra, animation.subarray(end)]);
    withExtra.writeUInt32LE(animation.readUInt32LE(anmf + 4) + extra.length, anmf + 4);
    withExtra.writeUInt32LE(withExtra.length - 8, 4);
    assert.ok((await sharp(withExtra, { animated: true }).raw().toBuffer()).length > 0, 'the fixture decodes');
    const bytes = await stripped(withExtra, 'image/webp');
    assert.ok(bytes.equals(animation), 'the animation as sharp wrote it');
  });

  describe('a structure it cannot follow is never stored as it came', function () {
    it('completes a JPEG that ends in a marker without a length (no EOI), without its GPS', async function () {
      const photo = exiftoolWrite(await phonePhoto('jpeg', 6), LOCATION_AND_SERIAL);
      const cut = Buffer.concat([photo.subarray(0, photo.length - 2), Buffer.from([0xff, 0xc4])]);
      const bytes = await stripped(cut, 'image/jpeg');
      assert.ok(bytes.subarray(-2).equals(Buffer.from([0xff, 0xd9])), 'ends with EOI');
      assertClean(bytes, 6);
      assert.ok((await pixelsOf(bytes)).equals(await pixelsOf(photo)));
      // Its scan running to the end of the file, or into another image (MPF's, with its own GPS): the same.
      assert.ok((await stripped(photo.subarray(0, photo.length - 2), 'image/jpeg')).equals(bytes));
      const joined = Buffer.concat([photo.subarray(0, photo.length - 2), photo]);
      assert.ok((await bytesOf((await withoutMetadata(joined, 'image/jpeg', 6))!.data)).equals(bytes));
    });

    it('refuses a JPEG whose segments cannot be followed before its scan (ERR_IMAGE_MALFORMED, 400)', async function () {
      const photo = exiftoolWrite(await phonePhoto('jpeg', 6), LOCATION_AND_SERIAL);
      for (const bad of [
        Buffer.concat([photo.subarray(0, 2), Buffer.from('junk'), photo.subarray(2)]),
        photo.subarray(0, 5),
        Buffer.concat([photo.subarray(0, 2), jpegSegment(0xe1, 'x').subarray(0, 3)]),
      ]) {
        await assert.rejects(withoutMetadata(bad, 'image/jpeg', 6), (error: InvalidImageError) => {
          assert.ok(error instanceof InvalidImageError);
          assert.equal(error.code, 'ERR_IMAGE_MALFORMED');
          assert.equal(error.statusCode, 400);
          assert.match(
            error.message,
            /^Expected a well-formed JPEG image but .* so its metadata cannot be removed safely$/,
          );
          return true;
        });
      }
    });

    it('re-encodes losslessly a PNG whose last chunk runs past the end of the file, without its metadata', async function () {
      const photo = await revealingPng();
      const cut = Buffer.concat([
        photo.subarray(0, photo.length - 12),
        Buffer.from('\0\0\x03\xe8tEXtSECRET', 'latin1'),
      ]);
      const bytes = await stripped(cut, 'image/png');
      assertClean(bytes, 6);
      assert.ok((await pixelsOf(bytes)).equals(await pixelsOf(photo)));
    });

    it('refuses an animated PNG it cannot follow rather than flatten it', async function () {
      const png = pngWith(await phonePhoto('png', 1), {
        afterIhdr: [pngChunk('acTL', Buffer.from([0, 0, 0, 1, 0, 0, 0, 0]))],
      });
      const cut = Buffer.concat([png.subarray(0, png.length - 12), Buffer.from('\0\0\x03\xe8tEXtSECRET', 'latin1')]);
      await assert.rejects(withoutMetadata(cut, 'image/png', 1), { code: 'ERR_IMAGE_MALFORMED' });
    });

    it('refuses a WebP whose chunk runs past its container', async function () {
      const webp = await revealingWebp();
      const bad = Buffer.concat([webp, Buffer.from('ABCD\xff\0\0\0xx', 'latin1')]);
      bad.writeUInt32LE(bad.length - 8, 4);
      await assert.rejects(withoutMetadata(bad, 'image/webp', 6), { code: 'ERR_IMAGE_MALFORMED' });
    });
  });

  it('stores no secret and throws only InvalidImageError for 300 damaged files (seeded cuts, byte flips, stray markers)', async function () {
    let seed = 12345;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const fixtures = [
      ['image/jpeg', await revealingJpeg()],
      ['image/jpeg', await revealingJpeg({ progressive: true })],
      ['image/png', await revealingPng()],
      ['image/webp', await revealingWebp()],
      ['image/webp', await revealingSimpleWebp()],
    ] as const;
    for (const [mimetype, photo] of fixtures) {
      for (let i = 0; i < 60; i++) {
        let bytes = Buffer.from(photo);
        const at = random(bytes.length);
        if (i % 3 === 0) bytes = bytes.subarray(0, at);
        else if (i % 3 === 1) bytes[at] = random(256);
        else
          bytes = Buffer.concat([
            bytes.subarray(0, at),
            Buffer.from([0xff, random(256), random(256), random(256)]),
            bytes.subarray(at),
          ]);
        try {
          const stored = (await withoutMetadata(bytes, mimetype, 6))?.data ?? bytes;
          assert.ok(!(stored as Buffer).includes('SECRET'), `a secret survived in mutant ${i} of a ${mimetype}`);
        } catch (error) {
          assert.ok(error instanceof InvalidImageError, `mutant ${i} of a ${mimetype}: ${(error as Error).stack}`);
        }
      }
    }
  });

  describe('a PNG whose IEND declares a length', function () {
    it('is stored with a proper IEND, alike from bytes and from a file (the file path failed: "spool shrank")', async function () {
      const photo = await phonePhoto('png', 6);
      const odd = Buffer.from(photo);
      odd.writeUInt32BE(5, odd.length - 12);
      const file = path.join(dir, 'iend.png');
      await writeFile(file, odd);
      const fromBytes = await bytesOf((await withoutMetadata(odd, 'image/png', 6))!.data);
      const fromFile = await bytesOf((await withoutMetadata(file, 'image/png', 6))!.data);
      assert.ok(fromFile.equals(fromBytes));
      assert.ok(fromBytes.subarray(-12).equals(pngChunk('IEND', Buffer.alloc(0))));
      assert.ok((await pixelsOf(fromBytes)).equals(await pixelsOf(photo)));
    });
  });

  describe('files of many segments', function () {
    /** A JPEG with `count` empty COM and APP segments after SOI. */
    async function manySegments(count: number): Promise<Buffer> {
      const plain = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#369' } })
        .jpeg()
        .toBuffer();
      const empties = Buffer.alloc(4 * count);
      for (let i = 0; i < count; i++) empties.writeUInt32BE(i % 2 === 0 ? 0xfffe0002 : 0xffe30002, 4 * i);
      return Buffer.concat([plain.subarray(0, 2), empties, plain.subarray(2)]);
    }

    it('are walked with one read per 64 KiB block, not one per segment', async function () {
      const photo = await manySegments(MAX_SEGMENTS - 100);
      let reads = 0;
      const plan = await planStrip(
        async (position, length) => {
          reads++;
          return photo.subarray(position, position + length);
        },
        photo.length,
        'image/jpeg',
        1,
      );
      assert.ok(plan);
      assert.ok(reads <= Math.ceil(photo.length / 65536) + 2, `${reads} reads of a ${photo.length}-byte file`);
      // From a file too: the empty segments are gone, the picture stays.
      const file = path.join(dir, 'many.jpg');
      await writeFile(file, photo);
      const bytes = await bytesOf((await withoutMetadata(file, 'image/jpeg', 1))!.data);
      assert.equal(bytes.length, plan.size);
      assert.ok((await pixelsOf(bytes)).equals(await pixelsOf(photo)));
    });

    it('skip a run of fill bytes a block at a time (10 MB of 0xFF before the scan cost 267 s of CPU)', async function () {
      const plain = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#369' } })
        .jpeg()
        .toBuffer();
      const sos = plain.indexOf(Buffer.from([0xff, 0xda]));
      const eoi = plain.length - 2;
      const fill = Buffer.alloc(1024 * 1024, 0xff);
      const photo = Buffer.concat([plain.subarray(0, sos), fill, plain.subarray(sos, eoi), fill, plain.subarray(eoi)]);
      let reads = 0;
      const plan = await planStrip(
        async (position, length) => {
          reads++;
          return photo.subarray(position, position + length);
        },
        photo.length,
        'image/jpeg',
        1,
      );
      assert.equal(plan?.size, plain.length);
      assert.ok(reads <= Math.ceil(photo.length / 65536) + 4, `${reads} reads of a ${photo.length}-byte file`);
    });

    it(`are refused past ${MAX_SEGMENTS} segments or chunks (ERR_IMAGE_TOO_MANY_SEGMENTS, 413)`, async function () {
      await assert.rejects(
        withoutMetadata(await manySegments(MAX_SEGMENTS + 1), 'image/jpeg', 1),
        (error: InvalidImageError) => {
          assert.ok(error instanceof InvalidImageError);
          assert.equal(error.code, 'ERR_IMAGE_TOO_MANY_SEGMENTS');
          assert.equal(error.statusCode, 413);
          assert.equal(
            error.message,
            `Expected at most ${MAX_SEGMENTS} marker segments in a JPEG image but the image has more`,
          );
          return true;
        },
      );
      const png = await phonePhoto('png', 1);
      const chunks = pngWith(png, { beforeIend: Array.from({ length: MAX_SEGMENTS }, () => pngChunk('prVt', '')) });
      await assert.rejects(withoutMetadata(chunks, 'image/png', 1), { code: 'ERR_IMAGE_TOO_MANY_SEGMENTS' });
    });
  });
});

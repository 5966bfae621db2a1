import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { InvalidImageError } from '../../src/errors.js';
import { DEFAULT_LIMITS, probeImage } from '../../src/imaging/probe.js';
import { endsEarly } from '../../src/imaging/truncation.js';
import { removeDir, tempDir } from '../support/tmp.js';

/** A 300×200 image of noise (so it compresses poorly and its data spans many bytes). */
async function noisy(format: 'png' | 'webp'): Promise<Buffer> {
  const pixels = Buffer.alloc(300 * 200 * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7919) % 251;
  const image = sharp(pixels, { raw: { width: 300, height: 200, channels: 3 } });
  return image[format]().toBuffer();
}

const rejectsWith = (promise: Promise<unknown>, code: string) =>
  assert.rejects(promise, (e: unknown) => e instanceof InvalidImageError && e.code === code && e.statusCode === 400);

describe('truncated images', function () {
  let dir: string;
  before(async () => (dir = await tempDir('truncation')));
  after(() => removeDir(dir));

  it('a PNG cut short is ERR_IMAGE_TRUNCATED, from a file and from bytes', async function () {
    const png = await noisy('png');
    for (const keep of [0.5, 0.9]) {
      const cut = png.subarray(0, Math.floor(png.length * keep));
      const file = path.join(dir, `cut-${keep}.png`);
      await writeFile(file, cut);
      await rejectsWith(probeImage(file, cut.length, DEFAULT_LIMITS), 'ERR_IMAGE_TRUNCATED');
      await rejectsWith(probeImage(cut, cut.length, DEFAULT_LIMITS), 'ERR_IMAGE_TRUNCATED');
    }
  });

  it('a PNG missing only its IEND chunk is truncated too', async function () {
    const png = await noisy('png');
    assert.equal(await endsEarly(png.subarray(0, png.length - 12)), true);
    assert.equal(await endsEarly(png), false);
  });

  it('a whole PNG with corrupt data stays ERR_IMAGE_UNREADABLE', async function () {
    const png = Buffer.from(await noisy('png'));
    // Garble the compressed data inside the first IDAT chunk, keeping every length.
    const idat = png.indexOf('IDAT');
    for (let i = idat + 10; i < idat + 400; i++) png[i] = 0xff;
    await rejectsWith(probeImage(png, png.length, DEFAULT_LIMITS), 'ERR_IMAGE_UNREADABLE');
  });

  it('a WebP cut short is ERR_IMAGE_TRUNCATED', async function () {
    const webp = await noisy('webp');
    const cut = webp.subarray(0, Math.floor(webp.length * 0.6));
    await rejectsWith(probeImage(cut, cut.length, DEFAULT_LIMITS), 'ERR_IMAGE_TRUNCATED');
  });
});

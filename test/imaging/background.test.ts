import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { InvalidArgumentError } from '../../src/errors.js';
import { checkBackground } from '../../src/imaging/background.js';
import { checkThumbnailSpecs, planThumbnails, renderThumbnails } from '../../src/imaging/thumbnail-batch.js';
import { resizeToThumbnail } from '../../src/imaging/thumbnail.js';
import { removeDir, tempDir } from '../support/tmp.js';

/**
 * A 200×100 PNG: fully transparent, with an opaque blue square in its right half. The transparent
 * pixels' colour channels are 0, as most editors write them: dropped alpha shows them black.
 */
async function transparentPng(): Promise<Buffer> {
  const square = await sharp({
    create: { width: 80, height: 80, channels: 4, background: { r: 0, g: 0, b: 255, alpha: 1 } },
  })
    .png()
    .toBuffer();
  return sharp({ create: { width: 200, height: 100, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
    .composite([{ input: square, left: 110, top: 10 }])
    .png()
    .toBuffer();
}

/** The RGB(A) of the pixel at (x, y) of encoded image bytes. */
async function pixel(bytes: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  const at = (y * info.width + x) * info.channels;
  return [...data.subarray(at, at + info.channels)];
}

/** Near enough for JPEG's lossy encoding. */
function assertColour(actual: number[], expected: number[], what: string): void {
  assert.ok(
    actual.slice(0, 3).every((c, i) => Math.abs(c - expected[i]!) <= 6),
    `${what}: ${actual.join(',')} is not ${expected.join(',')}`,
  );
}

describe('thumbnail background', function () {
  let dir: string;
  let png: Buffer;
  const original = { mimetype: 'image/png', width: 200, height: 100, pixels: 200 * 100 };

  before(async function () {
    dir = await tempDir('background');
    png = await transparentPng();
  });
  after(async function () {
    await removeDir(dir);
  });

  it('flattens a transparent PNG onto white in a JPEG thumbnail made at attach', async function () {
    const [jpeg] = await renderThumbnails(
      png,
      original,
      planThumbnails([{ width: 100, format: 'jpeg' }], original),
      1e8,
    );
    assert.equal(jpeg!.mimetype, 'image/jpeg');
    assertColour(await pixel(jpeg!.data, 10, 10), [255, 255, 255], 'a transparent corner');
    assertColour(await pixel(jpeg!.data, 75, 25), [0, 0, 255], 'the opaque square');
  });

  it('flattens onto the background asked for, by hex or by { r, g, b }', async function () {
    const planned = planThumbnails(
      [
        { width: 100, format: 'jpeg', background: '#f80' },
        { width: 50, format: 'jpeg', background: { r: 10, g: 200, b: 30 } },
      ],
      original,
    );
    const [orange, green] = await renderThumbnails(png, original, planned, 1e8);
    assertColour(await pixel(orange!.data, 5, 5), [255, 136, 0], '#f80');
    assertColour(await pixel(green!.data, 5, 5), [10, 200, 30], '{ r: 10, g: 200, b: 30 }');
  });

  it('flattens in the clone path too (a thumbnail larger than the original)', async function () {
    const [big] = await renderThumbnails(
      png,
      original,
      planThumbnails([{ width: 400, format: 'jpeg' }], original),
      1e8,
    );
    assertColour(await pixel(big!.data, 10, 10), [255, 255, 255], 'a transparent corner');
  });

  it('keeps transparency in formats that have alpha', async function () {
    const [webp, pngThumb] = await renderThumbnails(
      png,
      original,
      planThumbnails([{ width: 100, format: 'webp', background: '#000' }, { width: 50 }], original),
      1e8,
    );
    assert.equal((await pixel(webp!.data, 10, 10))[3], 0, 'WebP keeps alpha 0');
    assert.equal((await pixel(pngThumb!.data, 5, 5))[3], 0, 'PNG keeps alpha 0');
  });

  // resizeToThumbnail is the render of generateThumbnail and of a queue worker's render ahead.
  it('flattens in the one-at-a-time render (generateThumbnail, workers), from a file', async function () {
    const file = path.join(dir, 'transparent.png');
    await writeFile(file, png);
    const white = await resizeToThumbnail(sharp(file), 100, 50, 'image/jpeg').toBuffer();
    assertColour(await pixel(white, 10, 10), [255, 255, 255], 'default background');
    const coloured = await resizeToThumbnail(sharp(file), 100, 50, 'image/jpeg', '#123456').toBuffer();
    assertColour(await pixel(coloured, 10, 10), [0x12, 0x34, 0x56], '#123456');
    assertColour(await pixel(coloured, 75, 25), [0, 0, 255], 'the opaque square');
  });

  it('refuses a background that is not a colour, naming the option', function () {
    for (const bad of [
      'white',
      '#12345',
      'rgb(0,0,0)',
      { r: 256, g: 0, b: 0 },
      { r: 0, g: 0 },
      { r: 0, g: 0, b: 0, alpha: 1 },
      0,
      null,
    ]) {
      assert.throws(
        () => checkBackground(bad),
        (error: unknown) => error instanceof InvalidArgumentError && /for background but received/.test(error.message),
        String(bad),
      );
    }
    assert.throws(
      () => checkThumbnailSpecs([{ width: 100, format: 'jpeg', background: 'white' }]),
      /Expected a colour as '#rrggbb', '#rgb' or \{ r, g, b \} with integers 0-255 for options\.thumbnails\[\]\.background but received "white"/,
    );
    assert.equal(checkBackground('#FFF'), '#FFF');
    assert.deepEqual(checkBackground({ r: 0, g: 128, b: 255 }), { r: 0, g: 128, b: 255 });
  });
});

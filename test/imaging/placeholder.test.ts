import assert from 'node:assert/strict';
import sharp from 'sharp';
import { thumbHashToAverageRGBA, thumbHashToDataURL } from 'thumbhash';
import { InvalidArgumentError } from '../../src/errors.js';
import {
  averageColor,
  placeholderOf,
  placeholderRaster,
  PLACEHOLDER_RASTER_SIZE,
} from '../../src/imaging/placeholder.js';
import { jpeg } from '../support/images.js';

/** A picture of two halves: left `left`, right `right` (opaque unless the colours carry alpha). */
function halves(width: number, height: number, left: number[], right: number[]): Buffer {
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const colour = x < width / 2 ? left : right;
      data.set([colour[0]!, colour[1]!, colour[2]!, colour[3] ?? 255], (y * width + x) * 4);
    }
  return data;
}

async function decodedDataUri(uri: string) {
  const match = /^data:image\/webp;base64,([A-Za-z0-9+/=]+)$/.exec(uri);
  assert.ok(match, `a WebP data URI, got ${uri.slice(0, 40)}…`);
  const bytes = Buffer.from(match[1]!, 'base64');
  const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  return { bytes, data, info };
}

describe('placeholderOf: ThumbHash, a tiny WebP of it, average colour, alpha', function () {
  it('averages an opaque raster exactly: red and blue halves give #800080', async function () {
    const placeholder = await placeholderOf({ data: halves(40, 20, [255, 0, 0], [0, 0, 255]), width: 40, height: 20 });
    assert.equal(placeholder.color, '#800080');
    assert.equal(placeholder.alpha, false);
  });

  it("weights colours by opacity: a transparent half's colour is not seen", function () {
    assert.equal(averageColor(halves(10, 10, [255, 0, 0, 0], [0, 200, 0, 255])), '#00c800');
    assert.equal(averageColor(new Uint8Array(16)), '#000000');
  });

  it('keeps the hash short (base64 ≤ 40 characters, fits placeholder_hash) and agrees with its own average', async function () {
    const placeholder = await placeholderOf({
      data: halves(60, 30, [250, 200, 10], [240, 180, 0]),
      width: 60,
      height: 30,
    });
    assert.ok(placeholder.hash.length <= 40, placeholder.hash);
    const average = thumbHashToAverageRGBA(Buffer.from(placeholder.hash, 'base64'));
    const r = parseInt(placeholder.color.slice(1, 3), 16) / 255;
    assert.ok(Math.abs(average.r - r) < 0.05, `hash average ${average.r} vs ${r}`);
  });

  it('renders the hash as a WebP of at most 20 px, far smaller than thumbhash’s own PNG data URL', async function () {
    const raster = await placeholderRaster(await jpeg(800, 600), false);
    const placeholder = await placeholderOf(raster);
    const { bytes, info } = await decodedDataUri(placeholder.dataUri);
    assert.ok(info.width <= 20 && info.height <= 20, `${info.width}×${info.height}`);
    // Landscape stays landscape (ThumbHash keeps the aspect roughly).
    assert.ok(info.width > info.height);
    assert.ok(bytes.length <= 140, `${bytes.length} bytes of WebP`);
    const png = thumbHashToDataURL(Buffer.from(placeholder.hash, 'base64'));
    assert.ok(placeholder.dataUri.length * 5 < png.length, `${placeholder.dataUri.length} vs PNG ${png.length}`);
  });

  it('shows the colours where they are: the rendered left is red, the right blue', async function () {
    const placeholder = await placeholderOf({
      data: halves(64, 32, [220, 20, 20], [20, 20, 220]),
      width: 64,
      height: 32,
    });
    const { data, info } = await decodedDataUri(placeholder.dataUri);
    const at = (x: number) => [
      ...data.subarray((Math.floor(info.height / 2) * info.width + x) * info.channels).subarray(0, 3),
    ];
    const [leftRed, , leftBlue] = at(1);
    const [rightRed, , rightBlue] = at(info.width - 2);
    assert.ok(leftRed! > leftBlue! && rightBlue! > rightRed!, `left ${at(1)}, right ${at(info.width - 2)}`);
  });

  it('keeps alpha when a pixel is not opaque, and the WebP then has an alpha channel', async function () {
    const placeholder = await placeholderOf({
      data: halves(20, 20, [0, 0, 0, 0], [10, 120, 10, 255]),
      width: 20,
      height: 20,
    });
    assert.equal(placeholder.alpha, true);
    assert.equal((await decodedDataUri(placeholder.dataUri)).info.channels, 4);
  });

  it('placeholderRaster: upright, inside 100 × 100, RGBA (an EXIF-rotated 300×200 JPEG is 67×100)', async function () {
    const raster = await placeholderRaster(await jpeg(300, 200, { orientation: 6 }), false);
    assert.deepEqual([raster.width, raster.height], [67, 100]);
    assert.equal(raster.data.length, 67 * 100 * 4);
  });

  it('refuses a raster larger than ThumbHash reads, or of the wrong length, naming what it expected', async function () {
    const big = PLACEHOLDER_RASTER_SIZE + 1;
    await assert.rejects(placeholderOf({ data: Buffer.alloc(big * 4), width: big, height: 1 }), (error: unknown) => {
      assert.ok(error instanceof InvalidArgumentError);
      assert.match(error.message, /RGBA pixels of at most 100 × 100/);
      return true;
    });
    await assert.rejects(placeholderOf({ data: Buffer.alloc(10), width: 2, height: 2 }), InvalidArgumentError);
  });
});

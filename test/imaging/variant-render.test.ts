import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import { InvalidImageError, renderSlots } from '../../src/index.js';
import { inRenderSlot } from '../../src/imaging/render-slots.js';
import { renderFromOneDecode, renderThumbnails } from '../../src/imaging/thumbnail-batch.js';
import { checkVariants, type CropRect, resolveOutputs } from '../../src/imaging/variant-recipe.js';
import {
  renderVariants,
  type RenderedVariant,
  type VariantFrame,
  type VariantJob,
} from '../../src/imaging/variant-render.js';
import { PHONE_EXIF } from '../support/exif.js';
import { removeDir, tempDir } from '../support/tmp.js';

const RED = { r: 230, g: 20, b: 20 };
const GREY = '#808080';

/** A `width`×`height` grey picture with a red disc of `radius` centred at (`x`, `y`) pixels. */
async function dotPicture(width: number, height: number, x: number, y: number, radius: number): Promise<Buffer> {
  const disc = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * radius}" height="${2 * radius}"><circle cx="${radius}" cy="${radius}" r="${radius}" fill="rgb(${RED.r},${RED.g},${RED.b})"/></svg>`,
  );
  return sharp({ create: { width, height, channels: 3, background: GREY } })
    .composite([{ input: disc, left: Math.round(x - radius), top: Math.round(y - radius) }])
    .png()
    .toBuffer();
}

/** The centre of the red pixels of encoded image bytes, and how many there are. */
async function redCentre(bytes: Buffer): Promise<{ x: number; y: number; count: number }> {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  let x = 0;
  let y = 0;
  let count = 0;
  for (let i = 0; i < info.width * info.height; i++) {
    const [r, g, b] = [data[i * 3]!, data[i * 3 + 1]!, data[i * 3 + 2]!];
    if (r > 150 && g < 100 && b < 100) {
      x += i % info.width;
      y += Math.floor(i / info.width);
      count++;
    }
  }
  return { x: x / count, y: y / count, count };
}

/** The RGBA of the pixel at (x, y) of encoded image bytes. */
async function pixel(bytes: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(bytes).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const at = (y * info.width + x) * 4;
  return [...data.subarray(at, at + 4)];
}

/** A smooth `width`×`height` PNG, so that resampling in another order differs by a level or two at most. */
async function smoothPicture(width: number, height: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      raw[(y * width + x) * 3] = Math.round((x / width) * 255);
      raw[(y * width + x) * 3 + 1] = Math.round((y / height) * 255);
      raw[(y * width + x) * 3 + 2] = Math.round(128 + 100 * Math.sin((x + y) / 60));
    }
  return sharp(raw, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

/** The mean absolute difference of two encoded images' pixels (of one size). */
async function meanDifference(a: Buffer, b: Buffer): Promise<number> {
  const [x, y] = await Promise.all([sharp(a).raw().toBuffer(), sharp(b).raw().toBuffer()]);
  assert.equal(x.length, y.length);
  let total = 0;
  for (let i = 0; i < x.length; i++) total += Math.abs(x[i]! - y[i]!);
  return total / x.length;
}

/** The jobs of `declaration` for an original of `mimetype`: every output of every variant. */
function jobs(declaration: Record<string, Record<string, unknown>>, mimetype = 'image/png'): VariantJob[] {
  return [...checkVariants(declaration).values()].map((variant) => ({
    variant,
    outputs: resolveOutputs(variant, mimetype),
  }));
}

async function render(
  input: Buffer | string,
  declaration: Record<string, Record<string, unknown>>,
  frame: VariantFrame = {},
  mimetype = 'image/png',
): Promise<RenderedVariant[]> {
  const { width, height, pages } = await sharp(input).metadata();
  const original = { mimetype, width: width!, height: height!, pixels: width! * height! * (pages ?? 1) };
  return renderVariants(input, original, jobs(declaration, mimetype), frame, 1e8);
}

function output(rendered: RenderedVariant[], descriptor: string, format?: string): RenderedVariant {
  const found = rendered.find((r) => r.descriptor === descriptor && (format === undefined || r.format === format));
  assert.ok(found, `no ${descriptor} ${format ?? ''} output`);
  return found;
}

const AVATAR = { width: 96, height: 96, fit: 'cover', position: 'focal', densities: [1, 2], formats: ['png'] };

describe('variant rendering', function () {
  describe('focal point', function () {
    let picture: Buffer;
    before(async () => (picture = await dotPicture(1000, 600, 800, 120, 12)));

    it('a red dot at (0.8, 0.2) lies inside the 96×96 focal crop', async function () {
      const rendered = await render(picture, { avatar: AVATAR }, { focal: { x: 0.8, y: 0.2 } });
      const avatar = output(rendered, '1x');
      assert.deepEqual([avatar.width, avatar.height], [96, 96]);
      const red = await redCentre(avatar.data);
      assert.ok(red.count > 0, 'the dot is in the crop');
      // Scaled to 160×96, the window starts at 0.8 × 160 − 48 = 80, clamped to 64: the dot at 128 − 64.
      assert.ok(Math.abs(red.x - 64) <= 1.5 && Math.abs(red.y - 19.2) <= 1.5, `dot at ${red.x},${red.y}`);
    });

    it('without a focal point, crops the centre (which misses a dot at 0.9)', async function () {
      const [avatar] = await render(await dotPicture(1000, 600, 900, 120, 12), {
        avatar: { ...AVATAR, densities: [1] },
      });
      assert.equal((await redCentre(avatar!.data)).count, 0);
    });

    it('1× and 2× show the same window within 1 px, made together or apart', async function () {
      const frame = { focal: { x: 0.75, y: 0.3 } };
      const together = await render(picture, { avatar: AVATAR }, frame);
      const one = await redCentre(output(together, '1x').data);
      const two = await redCentre(output(together, '2x').data);
      assert.ok(
        Math.abs(two.x / 2 - one.x) <= 1 && Math.abs(two.y / 2 - one.y) <= 1,
        `${one.x},${one.y} vs ${two.x / 2},${two.y / 2}`,
      );
      const [alone] = await render(picture, { avatar: { ...AVATAR, densities: [2] } }, frame);
      const apart = await redCentre(alone!.data);
      assert.ok(Math.abs(apart.x - two.x) <= 1 && Math.abs(apart.y - two.y) <= 1);
    });
  });

  describe('attention', function () {
    let picture: Buffer;
    before(async () => (picture = await dotPicture(900, 400, 110, 200, 45)));

    it('picks the saturated object on a grey background', async function () {
      const card = { width: 200, height: 200, fit: 'cover', position: 'attention', formats: ['png'] };
      const [attention] = await render(picture, { card });
      assert.ok((await redCentre(attention!.data)).count > 1000, 'the object is in the crop');
      const [centre] = await render(picture, { card: { ...card, position: 'centre' } });
      assert.equal((await redCentre(centre!.data)).count, 0, 'a centre crop misses it');
    });

    it('shows the same window at 1× and 2×', async function () {
      // The object away from the edges, so that the window is placed, not pushed against one.
      const picture = await dotPicture(900, 400, 560, 200, 30);
      const rendered = await render(picture, {
        card: { width: 150, height: 200, position: 'attention', densities: [1, 2], formats: ['png'] },
      });
      const one = await redCentre(output(rendered, '1x').data);
      const two = await redCentre(output(rendered, '2x').data);
      assert.ok(one.count > 0);
      assert.ok(Math.abs(two.x / 2 - one.x) <= 1 && Math.abs(two.y / 2 - one.y) <= 1, `${one.x} vs ${two.x / 2}`);
      // Made apart (the queue makes one, the route the other): the same window.
      const card = { width: 150, height: 200, position: 'attention', formats: ['png'] };
      const [alone] = await render(picture, { card: { ...card, densities: [2] } });
      const apart = await redCentre(alone!.data);
      assert.ok(Math.abs(apart.x - two.x) <= 1 && Math.abs(apart.y - two.y) <= 1, `${apart.x} vs ${two.x}`);
    });
  });

  it('a user crop equals sharp extract + resize', async function () {
    const picture = await smoothPicture(800, 600);
    const crop: CropRect = { left: 0.25, top: 0.1, width: 0.5, height: 0.5 };
    const [ours] = await render(
      picture,
      { card: { width: 200, height: 150, fit: 'fill', formats: ['png'] } },
      { crop },
    );
    const expected = await sharp(picture)
      .extract({ left: 200, top: 60, width: 400, height: 300 })
      .resize(200, 150)
      .png()
      .toBuffer();
    const difference = await meanDifference(ours!.data, expected);
    assert.ok(difference < 1.5, `mean difference ${difference}`);
    // crop: 'ignore' uses the whole picture.
    const [ignored] = await render(
      picture,
      { card: { width: 200, height: 150, fit: 'fill', crop: 'ignore', formats: ['png'] } },
      { crop },
    );
    assert.deepEqual(
      await pixel(ignored!.data, 0, 0),
      await pixel(await sharp(picture).resize(200, 150).png().toBuffer(), 0, 0),
    );
  });

  it("places a cover crop by a gravity as sharp's own cover crop does", async function () {
    const picture = await smoothPicture(800, 600);
    for (const position of ['north', 'southeast', 'west', 'centre'] as const) {
      for (const [width, height] of [
        [200, 100],
        [100, 200],
      ]) {
        const [ours] = await render(picture, { v: { width, height, position, formats: ['png'] } });
        const expected = await sharp(picture).resize(width, height, { fit: 'cover', position }).png().toBuffer();
        const difference = await meanDifference(ours!.data, expected);
        assert.ok(difference < 1.5, `${position} ${width}×${height}: mean difference ${difference}`);
      }
    }
  });

  it('a cover crop keeps a focal point given on the upright picture, within the user crop', async function () {
    const picture = await dotPicture(1000, 600, 600, 300, 10);
    const [avatar] = await render(
      picture,
      { avatar: { ...AVATAR, densities: [1] } },
      { crop: { left: 0.5, top: 0, width: 0.5, height: 1 }, focal: { x: 0.6, y: 0.5 } },
    );
    // The crop is 500×600, scaled to 96×115; the focal point at 0.2 of the crop's width keeps its left edge.
    const red = await redCentre(avatar!.data);
    assert.ok(red.count > 0 && red.x < 40, `dot at ${red.x}`);
  });

  it('crops the upright picture of an EXIF-orientation-6 JPEG (a Python row records the stored size)', async function () {
    // Upright 400×600 with the dot at (0.8, 0.2); stored turned a quarter left, tagged to turn it back.
    const upright = await dotPicture(400, 600, 320, 120, 20);
    const stored = await sharp(await sharp(upright).rotate(270).toBuffer())
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    assert.deepEqual([(await sharp(stored).metadata()).width, (await sharp(stored).metadata()).height], [600, 400]);
    const original = { mimetype: 'image/jpeg', width: 600, height: 400, pixels: 600 * 400, orientation: 6 };
    const declaration = {
      avatar: { ...AVATAR, densities: [1], formats: ['png'] },
      tall: { width: 100, height: 150, fit: 'fill', formats: ['png'] },
      zoom: { width: 80, height: 60, fit: 'fill', formats: ['png'] },
    };
    const [avatar, tall] = await renderVariants(
      stored,
      original,
      jobs(declaration, 'image/jpeg').slice(0, 2),
      { focal: { x: 0.8, y: 0.2 } },
      1e8,
    );
    assert.ok((await redCentre(avatar!.data)).count > 0, 'the focal crop holds the dot');
    const inTall = await redCentre(tall!.data);
    assert.ok(Math.abs(inTall.x - 80) <= 2 && Math.abs(inTall.y - 30) <= 2, `dot at ${inTall.x},${inTall.y}`);
    // A user crop around the dot, in fractions of the upright picture.
    const [zoom] = await renderVariants(
      stored,
      original,
      jobs(declaration, 'image/jpeg').slice(2),
      { crop: { left: 0.7, top: 0.15, width: 0.2, height: 0.1 } },
      1e8,
    );
    const inZoom = await redCentre(zoom!.data);
    assert.ok(Math.abs(inZoom.x - 40) <= 2 && Math.abs(inZoom.y - 30) <= 2, `dot at ${inZoom.x},${inZoom.y}`);
  });

  it('contain pads: transparent by default, white for JPEG, or the background asked for', async function () {
    const picture = await sharp({ create: { width: 400, height: 200, channels: 3, background: '#0000ff' } })
      .png()
      .toBuffer();
    const box = { width: 100, height: 100, fit: 'contain' };
    const rendered = await render(picture, { box: { ...box, formats: ['png', 'jpeg', 'webp'] } });
    assert.deepEqual(await pixel(output(rendered, '1x', 'png').data, 50, 5), [0, 0, 0, 0]);
    assert.deepEqual((await pixel(output(rendered, '1x', 'png').data, 50, 50)).slice(2), [255, 255]);
    const jpegPad = await pixel(output(rendered, '1x', 'jpeg').data, 50, 5);
    assert.ok(
      jpegPad.slice(0, 3).every((c) => c > 245),
      `JPEG pad ${jpegPad}`,
    );
    assert.equal((await pixel(output(rendered, '1x', 'webp').data, 50, 5))[3], 0);
    const [green] = await render(picture, { box: { ...box, background: '#00ff00', formats: ['png'] } });
    assert.deepEqual(await pixel(green!.data, 50, 5), [0, 255, 0, 255]);
    const [south] = await render(picture, { box: { ...box, position: 'south', formats: ['png'] } });
    assert.equal((await pixel(south!.data, 50, 95))[2], 255, 'placed at the bottom');
    assert.equal((await pixel(south!.data, 50, 30))[3], 0);
  });

  it('without enlarge, clamps an output the picture cannot fill, keeping its aspect', async function () {
    const picture = await dotPicture(300, 200, 150, 100, 10);
    const rendered = await render(picture, {
      card: { width: 400, height: 300, densities: [1, 2], formats: ['png'] },
      big: { width: 400, height: 300, enlarge: true, formats: ['png'] },
    });
    for (const r of rendered.filter((r) => r.variant === 'card')) {
      assert.deepEqual([r.width, r.height], [267, 200]);
      const meta = await sharp(r.data).metadata();
      assert.deepEqual([meta.width, meta.height], [267, 200]);
    }
    const big = output(
      rendered.filter((r) => r.variant === 'big'),
      '1x',
    );
    assert.deepEqual([big.width, big.height], [400, 300]);
    assert.deepEqual([(await sharp(big.data).metadata()).width, (await sharp(big.data).metadata()).height], [400, 300]);
  });

  it('encodes every format with its mimetype, digest and quality', async function () {
    const picture = await sharp({
      create: {
        width: 600,
        height: 400,
        channels: 3,
        background: GREY,
        noise: { type: 'gaussian', mean: 128, sigma: 40 },
      },
    })
      .png()
      .toBuffer();
    const formats = ['avif', 'webp', 'jpeg', 'png'];
    const low = await render(picture, { v: { width: 200, height: 200, formats, quality: 20 } });
    const high = await render(picture, { v: { width: 200, height: 200, formats, quality: 90 } });
    const sharpFormat = { avif: 'heif', webp: 'webp', jpeg: 'jpeg', png: 'png' } as const;
    const declared = jobs({ v: { width: 200, height: 200, formats, quality: 20 } })[0]!.outputs;
    for (const [i, format] of formats.entries()) {
      const r = low[i]!;
      assert.equal(r.format, format);
      assert.equal(r.mimetype, `image/${format}`);
      assert.equal(r.digest, declared[i]!.digest);
      assert.equal((await sharp(r.data).metadata()).format, sharpFormat[format as keyof typeof sharpFormat]);
      if (format !== 'png') assert.ok(r.data.length < high[i]!.data.length, `${format} at 20 is smaller than at 90`);
    }
    assert.equal((await sharp(low[0]!.data).metadata()).compression, 'av1');
  });

  it('outputs carry no metadata: no EXIF, XMP or ICC profile', async function () {
    const photo = await sharp({
      create: {
        width: 300,
        height: 200,
        channels: 3,
        background: GREY,
        noise: { type: 'gaussian', mean: 128, sigma: 30 },
      },
    })
      .jpeg()
      .withIccProfile('p3')
      .withExifMerge(PHONE_EXIF)
      .withMetadata({ orientation: 6 })
      .toBuffer();
    assert.ok((await sharp(photo).metadata()).icc, 'the input has a profile');
    const rendered = await render(
      photo,
      { v: { width: 100, height: 100, formats: ['avif', 'webp', 'jpeg', 'png'] } },
      {},
      'image/jpeg',
    );
    for (const r of rendered) {
      const meta = await sharp(r.data).metadata();
      assert.equal(meta.exif, undefined, `${r.format} has EXIF`);
      assert.equal(meta.xmp, undefined, `${r.format} has XMP`);
      assert.equal(meta.icc, undefined, `${r.format} has an ICC profile`);
      assert.equal(meta.orientation, undefined, `${r.format} has an orientation`);
    }
    // As thumbnails are: converted to sRGB, the profile dropped.
    const [thumbnail] = await renderThumbnails(
      photo,
      { mimetype: 'image/jpeg', width: 200, height: 300, pixels: 60000 },
      [{ width: 100, height: 150, mimetype: 'image/jpeg' }],
      1e8,
    );
    assert.equal((await sharp(thumbnail!.data).metadata()).icc, undefined);
  });

  describe('animations', function () {
    let gif: Buffer;
    before(async function () {
      const frame = (background: string) =>
        sharp({ create: { width: 120, height: 80, channels: 3, background } })
          .png()
          .toBuffer();
      gif = await sharp([await frame('#00ff00'), await frame('#0000ff')], { join: { animated: true } })
        .gif()
        .toBuffer();
    });

    it("keeps the frames for WebP with animated: 'keep', takes the first otherwise", async function () {
      const rendered = await render(
        gif,
        {
          kept: { width: 60, height: 60, animated: 'keep', formats: ['webp', 'png'] },
          first: { width: 60, height: 60, formats: ['webp'] },
        },
        {},
        'image/gif',
      );
      const pages = async (r: RenderedVariant) => (await sharp(r.data).metadata()).pages ?? 1;
      const [keptWebp, keptPng, firstWebp] = rendered;
      assert.deepEqual([keptWebp!.width, keptWebp!.height, await pages(keptWebp!)], [60, 60, 2]);
      const meta = await sharp(keptWebp!.data, { animated: true }).metadata();
      assert.equal(meta.pageHeight, 60);
      assert.equal(await pages(keptPng!), 1);
      assert.equal(await pages(firstWebp!), 1);
      const [r, g, b] = await pixel(firstWebp!.data, 30, 30);
      assert.ok(r! < 8 && g! > 247 && b! < 8, `the first frame is green: ${r},${g},${b}`);
    });
  });

  describe('renderFromOneDecode', function () {
    it('makes the thumbnails, the variants and the placeholder raster from one call', async function () {
      const picture = await dotPicture(1000, 600, 800, 120, 12);
      const original = { mimetype: 'image/png', width: 1000, height: 600, pixels: 600_000 };
      const thumbnails = [
        { width: 500, height: 300, mimetype: 'image/png' },
        { width: 100, height: 60, mimetype: 'image/jpeg' },
      ];
      const result = await renderFromOneDecode(
        picture,
        original,
        {
          thumbnails,
          variants: jobs({ avatar: AVATAR }),
          frame: { focal: { x: 0.8, y: 0.2 } },
          placeholderRaster: true,
        },
        1e8,
      );
      assert.deepEqual(
        result.thumbnails.map((t) => [t.width, t.height, t.mimetype]),
        thumbnails.map((t) => [t.width, t.height, t.mimetype]),
      );
      for (const t of result.thumbnails) {
        const meta = await sharp(t.data).metadata();
        assert.deepEqual([meta.width, meta.height, `image/${meta.format}`], [t.width, t.height, t.mimetype]);
      }
      assert.deepEqual(
        result.variants.map((v) => [v.variant, v.descriptor, v.width]),
        [
          ['avatar', '1x', 96],
          ['avatar', '2x', 192],
        ],
      );
      assert.ok((await redCentre(result.variants[0]!.data)).count > 0);
      const raster = result.raster!;
      assert.deepEqual([raster.width, raster.height, raster.data.length], [100, 60, 100 * 60 * 4]);
      // RGBA, opaque; the dot is where it is in the picture.
      const at = (x: number, y: number) => [...raster.data.subarray((y * 100 + x) * 4, (y * 100 + x) * 4 + 4)];
      assert.deepEqual(at(10, 50), [128, 128, 128, 255]);
      assert.ok(at(80, 12)[0]! > 180 && at(80, 12)[1]! < 80);
    });

    it('gives the raster upright, never larger than the picture', async function () {
      const stored = await sharp({ create: { width: 300, height: 200, channels: 3, background: GREY } })
        .jpeg()
        .withMetadata({ orientation: 6 })
        .toBuffer();
      const original = { mimetype: 'image/jpeg', width: 200, height: 300, pixels: 60000 };
      const turned = await renderFromOneDecode(stored, original, { thumbnails: [], placeholderRaster: true }, 1e8);
      assert.deepEqual([turned.raster!.width, turned.raster!.height], [67, 100]);
      const tiny = await sharp({ create: { width: 40, height: 30, channels: 4, background: '#ff000080' } })
        .png()
        .toBuffer();
      const small = await renderFromOneDecode(
        tiny,
        { mimetype: 'image/png', width: 40, height: 30, pixels: 1200 },
        { thumbnails: [], placeholderRaster: true },
        1e8,
      );
      assert.deepEqual([small.raster!.width, small.raster!.height, small.raster!.data.length], [40, 30, 40 * 30 * 4]);
      assert.equal(small.raster!.data[3], 128);
    });

    it('renders thumbnails alone as renderThumbnails does', async function () {
      const picture = await dotPicture(400, 300, 200, 150, 20);
      const original = { mimetype: 'image/png', width: 400, height: 300, pixels: 120000 };
      const planned = [{ width: 200, height: 150, mimetype: 'image/png' }];
      const { thumbnails, variants, raster } = await renderFromOneDecode(
        picture,
        original,
        { thumbnails: planned },
        1e8,
      );
      assert.deepEqual(thumbnails, await renderThumbnails(picture, original, planned, 1e8));
      assert.deepEqual(variants, []);
      assert.equal(raster, undefined);
    });
  });

  describe('failures and slots', function () {
    let dir: string;
    let saved: number;
    before(async () => {
      dir = await tempDir('variant-render');
      saved = renderSlots();
    });
    after(async () => {
      renderSlots(saved);
      await removeDir(dir);
    });

    it('a JPEG cut short is ERR_IMAGE_TRUNCATED, from a file or the bytes', async function () {
      const whole = await sharp({
        create: {
          width: 600,
          height: 400,
          channels: 3,
          background: GREY,
          noise: { type: 'gaussian', mean: 128, sigma: 40 },
        },
      })
        .jpeg()
        .toBuffer();
      const cut = whole.subarray(0, Math.floor(whole.length / 2));
      const file = path.join(dir, 'cut.jpg');
      await writeFile(file, cut);
      // Two outputs share a decode; one alone is rendered straight from the file: both fail alike.
      for (const [input, densities] of [
        [cut, [1, 2]],
        [file, [1, 2]],
        [file, [1]],
      ] as const) {
        await assert.rejects(
          renderVariants(
            input,
            { mimetype: 'image/jpeg', width: 600, height: 400, pixels: 240000 },
            jobs({ avatar: { ...AVATAR, densities } }, 'image/jpeg'),
            {},
            1e8,
          ),
          (error: unknown) => error instanceof InvalidImageError && error.code === 'ERR_IMAGE_TRUNCATED',
        );
      }
    });

    it('bytes that are no image are ERR_IMAGE_UNREADABLE', async function () {
      await assert.rejects(
        renderVariants(
          Buffer.from('not an image at all'),
          { mimetype: 'image/png', width: 10, height: 10, pixels: 100 },
          jobs({ avatar: AVATAR }),
          {},
          1e8,
        ),
        (error: unknown) => error instanceof InvalidImageError && error.code === 'ERR_IMAGE_UNREADABLE',
      );
    });

    it('waits for a free render slot', async function () {
      renderSlots(1);
      let release!: () => void;
      const held = inRenderSlot(() => new Promise<void>((resolve) => (release = resolve)));
      let done = false;
      const picture = await dotPicture(200, 100, 100, 50, 10);
      const rendering = render(picture, { avatar: AVATAR }).then((r) => {
        done = true;
        return r;
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(done, false);
      release();
      await held;
      assert.equal((await rendering).length, 2);
    });
  });
});

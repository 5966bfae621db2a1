/**
 * A placeholder for an image while it loads: its ThumbHash, a tiny WebP (≤ 20 px) rendered from that hash
 * (small enough to inline in HTML), its average colour and whether it has transparency. Computed
 * once, at attach, from a raster of at most 100 px that the upload's decode already made.
 */
import { rgbaToThumbHash, thumbHashToRGBA } from 'thumbhash';
import { InvalidArgumentError } from '../errors.js';
import { sharp } from './sharp.js';

/** What `<table>_meta` keeps of an original for its placeholder. */
export interface Placeholder {
  /** The ThumbHash, base64 (about 30 characters), for apps that draw it on the client. */
  hash: string;
  /** A WebP of at most 20 px rendered from the hash, as a `data:` URI (about 140–180 characters). */
  dataUri: string;
  /** The average colour of the visible pixels, `#rrggbb`. */
  color: string;
  /** Whether any pixel is not fully opaque (the placeholder would show through it). */
  alpha: boolean;
}

/** Upright RGBA pixels, not premultiplied, at most {@link PLACEHOLDER_RASTER_SIZE} px on each side. */
export interface PlaceholderRaster {
  data: Buffer;
  width: number;
  height: number;
}

/** ThumbHash reads at most 100 × 100 pixels. */
export const PLACEHOLDER_RASTER_SIZE = 100;

/**
 * The raster the hash is computed from: ThumbHash keeps at most 7 cosine terms a side, which 32
 * samples a side carry; its encoder's time grows with the pixels, so 100 px would cost ~10× more.
 */
const HASH_RASTER_SIZE = 32;

/**
 * The long side of the WebP drawn from the hash. ThumbHash draws 32 px, but its few cosine terms
 * are as smooth at 20 px once the browser scales the background up, and the data URI is a fifth
 * shorter (about 100 bytes of WebP instead of 130), which every tag carries.
 */
const RENDERED_SIZE = 20;

/**
 * Quality of the WebP rendered from the hash. The hash is already a blur of a few cosine terms, so
 * a low quality loses nothing visible and keeps the data URI near 100–160 bytes of WebP.
 */
const WEBP_QUALITY = 40;

/**
 * The raster of `input` a placeholder is computed from: upright, fitted inside 100 × 100, RGBA.
 * A decode of its own; attach passes the raster of its one decode instead (see thumbnail-batch.ts).
 */
export async function placeholderRaster(input: string | Buffer, maxPixels: number | false): Promise<PlaceholderRaster> {
  const { data, info } = await sharp(input, { limitInputPixels: maxPixels })
    .autoOrient()
    .resize(PLACEHOLDER_RASTER_SIZE, PLACEHOLDER_RASTER_SIZE, { fit: 'inside' })
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/**
 * The placeholder of a raster.
 * @throws InvalidArgumentError when the raster is no RGBA raster of at most 100 × 100 pixels
 */
export async function placeholderOf(raster: PlaceholderRaster): Promise<Placeholder> {
  checkRaster(raster);
  const { data } = raster;
  const small = reduced(raster, HASH_RASTER_SIZE);
  const hash = rgbaToThumbHash(small.width, small.height, small.data);
  return {
    hash: Buffer.from(hash).toString('base64'),
    dataUri: await renderedHash(hash),
    color: averageColor(data),
    alpha: hasAlpha(data),
  };
}

/**
 * The hash drawn back as a WebP data URI: what a page shows, so the picture it blurs is not
 * inlined. (thumbhash's own `thumbHashToDataURL` writes an uncompressed PNG of about 4 KB.)
 */
export async function renderedHash(hash: Uint8Array): Promise<string> {
  const { w, h, rgba } = thumbHashToRGBA(hash);
  let image = sharp(Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength), {
    raw: { width: w, height: h, channels: 4 },
  });
  if (!hasAlpha(rgba)) image = image.removeAlpha();
  if (Math.max(w, h) > RENDERED_SIZE) image = image.resize(RENDERED_SIZE, RENDERED_SIZE, { fit: 'inside' });
  const webp = await image.webp({ quality: WEBP_QUALITY, alphaQuality: WEBP_QUALITY, effort: 6 }).toBuffer();
  return `data:image/webp;base64,${webp.toString('base64')}`;
}

/**
 * The mean of the pixels' colours, each weighted by its opacity (a fully transparent pixel's colour
 * is not seen); `#000000` for a wholly transparent raster.
 */
export function averageColor(rgba: Uint8Array): string {
  let r = 0;
  let g = 0;
  let b = 0;
  let weight = 0;
  for (let i = 0; i < rgba.length; i += 4) {
    const a = rgba[i + 3]!;
    r += rgba[i]! * a;
    g += rgba[i + 1]! * a;
    b += rgba[i + 2]! * a;
    weight += a;
  }
  const hex = (sum: number) =>
    Math.round(weight === 0 ? 0 : sum / weight)
      .toString(16)
      .padStart(2, '0');
  return `#${hex(r)}${hex(g)}${hex(b)}`;
}

/**
 * `raster` shrunk by a whole factor to at most `size` px a side, each pixel the mean of a block
 * (colours weighted by opacity, as {@link averageColor}); the raster itself when small enough.
 */
function reduced(raster: PlaceholderRaster, size: number): PlaceholderRaster {
  const { data, width, height } = raster;
  const factor = Math.ceil(Math.max(width, height) / size);
  if (factor <= 1) return raster;
  const w = Math.ceil(width / factor);
  const h = Math.ceil(height / factor);
  const out = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let [r, g, b, a, n] = [0, 0, 0, 0, 0];
      for (let sy = y * factor; sy < Math.min(height, (y + 1) * factor); sy++)
        for (let sx = x * factor; sx < Math.min(width, (x + 1) * factor); sx++) {
          const i = (sy * width + sx) * 4;
          const alpha = data[i + 3]!;
          r += data[i]! * alpha;
          g += data[i + 1]! * alpha;
          b += data[i + 2]! * alpha;
          a += alpha;
          n++;
        }
      const o = (y * w + x) * 4;
      if (a > 0) out.set([Math.round(r / a), Math.round(g / a), Math.round(b / a)], o);
      // Rounded down: a block with any pixel not opaque stays not opaque, as the whole raster is.
      out[o + 3] = Math.floor(a / n);
    }
  return { data: out, width: w, height: h };
}

/** Whether any pixel is less than fully opaque (ThumbHash's own rule for keeping an alpha channel). */
function hasAlpha(rgba: Uint8Array): boolean {
  for (let i = 3; i < rgba.length; i += 4) if (rgba[i]! < 255) return true;
  return false;
}

function checkRaster(raster: PlaceholderRaster): void {
  const { data, width, height } = raster ?? {};
  const side = (n: unknown) =>
    Number.isSafeInteger(n) && (n as number) >= 1 && (n as number) <= PLACEHOLDER_RASTER_SIZE;
  if (!side(width) || !side(height) || !(data instanceof Uint8Array) || data.length !== width * height * 4) {
    throw new InvalidArgumentError(
      'raster',
      `RGBA pixels of at most ${PLACEHOLDER_RASTER_SIZE} × ${PLACEHOLDER_RASTER_SIZE} ({ data, width, height }, data.length = width × height × 4)`,
      raster === null || typeof raster !== 'object' ? raster : { width, height, length: data?.length },
    );
  }
}

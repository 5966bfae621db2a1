/**
 * Everything one upload needs of its pixels, from one decode: the thumbnails, the named variants'
 * outputs and a small raster for the placeholder.
 *
 * The picture is decoded once, upright, as raw pixels at the largest scale any output needs (JPEG
 * and WebP shrink on load, so a 96-pixel avatar of a 24-megapixel photo decodes at an eighth of
 * its size), and every output is cut and resized from those pixels. What cannot come from one
 * still picture, an animation kept for WebP (`animated: 'keep'`, or a GIF/WebP thumbnail of an
 * animation), is rendered from the file with the same geometry (variant-geometry.ts), and so is a
 * single output of the whole picture, which has no decode to share.
 */
import type { Sharp } from 'sharp';
import { flattenFor } from './background.js';
import { inRenderSlot } from './render-slots.js';
import { sharp } from './sharp.js';
import { sharpFormat } from './thumbnail.js';
import type { BatchOriginal, PlannedThumbnail, RenderedThumbnail } from './thumbnail-batch.js';
import { decodeFailureOf } from './truncation.js';
import { cropInPixels, focalInCrop, gravityPoint, scaleNeeded } from './variant-geometry.js';
import {
  ANALYSIS_SIZE,
  encoded,
  fitted,
  isSmart,
  type PlannedOutput,
  type Raster,
  scaledRect,
  smartPoint,
} from './variant-pipeline.js';
import { type FocalPoint, outputDimensions } from './variant-recipe.js';
import type { RenderedVariant, VariantFrame, VariantJob } from './variant-render.js';

/** What to make of one decode. */
export interface OneDecodeWork {
  thumbnails: readonly PlannedThumbnail[];
  variants: readonly VariantJob[];
  frame: VariantFrame;
  /** Whether to return the upright picture as RGBA at most {@link RASTER_SIZE} pixels on its long side (for ThumbHash). */
  placeholderRaster: boolean;
}

/** Raw RGBA pixels, 4 bytes a pixel, row by row. */
export interface RgbaRaster {
  data: Buffer;
  width: number;
  height: number;
}

export interface OneDecodeResult {
  thumbnails: RenderedThumbnail[];
  variants: RenderedVariant[];
  raster?: RgbaRaster;
}

/** The placeholder raster's long side at most: ThumbHash reads at most 100×100. */
export const RASTER_SIZE = 100;

/**
 * Renders `work` of `input` (a local path or the bytes) in one of the process's render slots,
 * one encode after another (each uses all of libvips' threads).
 * @throws InvalidImageError `ERR_IMAGE_TRUNCATED` / `ERR_IMAGE_UNREADABLE` when the bytes do not decode
 */
export function renderInOneDecode(
  input: string | Buffer,
  original: BatchOriginal,
  work: OneDecodeWork,
  maxPixels: number,
): Promise<OneDecodeResult> {
  return inRenderSlot(async () => {
    try {
      return await render(input, original, work, maxPixels);
    } catch (error) {
      throw await decodeFailureOf(error, input);
    }
  });
}

async function render(
  input: string | Buffer,
  original: BatchOriginal,
  work: OneDecodeWork,
  maxPixels: number,
): Promise<OneDecodeResult> {
  // The header, for the upright size (a Python row holds the stored one) and the frame count.
  const header = await sharp(input, { limitInputPixels: maxPixels }).metadata();
  const upright = {
    width: header.autoOrient?.width ?? header.width ?? original.width,
    height: header.autoOrient?.height ?? header.height ?? original.height,
  };
  const multiFrame = (header.pages ?? 1) > 1 || original.pixels > original.width * original.height;
  const animatedThumbnail = (t: PlannedThumbnail) =>
    multiFrame && (t.mimetype === 'image/gif' || t.mimetype === 'image/webp');

  // Pages of a TIFF are no animation: only a GIF's or WebP's frames are kept.
  const animation = multiFrame && (original.mimetype === 'image/gif' || original.mimetype === 'image/webp');
  const planned = planOutputs(work, upright, animation);
  const smart = new Set(
    planned.filter((p) => p.job.variant.fit === 'cover' && isSmart(p.job.variant.position)).map((p) => p.job),
  );

  // The scale the decode keeps: the most any output needs, never more than the file has.
  let scale = 0;
  for (const t of work.thumbnails)
    if (!animatedThumbnail(t)) scale = Math.max(scale, t.width / upright.width, t.height / upright.height);
  for (const p of planned) if (!p.animated) scale = Math.max(scale, scaleNeeded(p.job.variant.fit, p.source, p.size));
  for (const job of smart) {
    const source = planned.find((p) => p.job === job)!.source;
    scale = Math.max(scale, ANALYSIS_SIZE / Math.max(source.width, source.height));
  }
  if (work.placeholderRaster) scale = Math.max(scale, RASTER_SIZE / Math.max(upright.width, upright.height));

  // A single still output of the whole picture (a variant made on demand or by the queue) has
  // nothing to share the decode with: one sharp pipeline from the file, as fast as sharp alone. A
  // cropped one is cut from a decode at its scale: cutting the file first decodes it whole (twice
  // the time for a 96-pixel crop of a 24 MP JPEG).
  const single =
    work.thumbnails.length === 0 &&
    !work.placeholderRaster &&
    smart.size === 0 &&
    planned.length === 1 &&
    planned[0]!.source.width === upright.width &&
    planned[0]!.source.height === upright.height;
  const raster = scale > 0 && !single ? await decode(input, upright, Math.min(1, scale), maxPixels) : undefined;
  const fromRaster = (r: Raster) =>
    sharp(r.data, { raw: { width: r.width, height: r.height, channels: r.channels, premultiplied: r.premultiplied } });
  const fromFile = () => sharp(input, { limitInputPixels: maxPixels }).autoOrient();
  // Animated renders share one input, read once.
  let animatedInput: Sharp | undefined;
  const animatedBase = () =>
    (animatedInput ??= sharp(input, { limitInputPixels: maxPixels, animated: true }).autoOrient()).clone();

  // Encoded side by side (libvips runs each on its own threads), all settled before returning.
  const thumbnailRenders = work.thumbnails.map(async (t): Promise<RenderedThumbnail> => {
    const base = animatedThumbnail(t) ? animatedBase() : fromRaster(raster!);
    const image = base.resize(t.width, t.height, { fit: 'fill' });
    const data = await flattenFor(image, t.mimetype, t.background).toFormat(sharpFormat(t.mimetype)).toBuffer();
    return { width: t.width, height: t.height, mimetype: t.mimetype, data };
  });

  // Where attention and entropy look, per variant: found once, so every output shows one window.
  const points = new Map<VariantJob, FocalPoint>();
  for (const job of smart) {
    const source = planned.find((p) => p.job === job)!.source;
    points.set(job, await smartPoint(fromRaster(raster!), raster!, upright, source, job));
  }

  const variantRenders = planned.map(async (p): Promise<RenderedVariant> => {
    const { variant } = p.job;
    const point =
      points.get(p.job) ??
      gravityPoint(variant.position) ??
      focalInCrop(work.frame.focal, variant.crop === 'user' ? work.frame.crop : undefined);
    // From the decode; or from the file, for an animation, or a single output that decoded nothing.
    const image =
      raster !== undefined && !p.animated
        ? fitted(fromRaster(raster), p, scaledRect(p.source, upright, raster), raster, point)
        : fitted(p.animated ? animatedBase() : fromFile(), p, p.source, upright, point);
    const data = await encoded(image, p).toBuffer();
    const { output } = p;
    return {
      variant: variant.name,
      descriptor: output.descriptor,
      format: output.format,
      mimetype: output.mimetype,
      digest: output.digest,
      width: p.size.width,
      height: p.size.height,
      data,
    };
  });
  const rendered = await allOf<RenderedThumbnail | RenderedVariant>([...thumbnailRenders, ...variantRenders]);
  const thumbnails = rendered.slice(0, thumbnailRenders.length) as RenderedThumbnail[];
  const variants = rendered.slice(thumbnailRenders.length) as RenderedVariant[];

  const result: OneDecodeResult = { thumbnails, variants };
  if (work.placeholderRaster) {
    const { data, info } = await fromRaster(raster!)
      .resize(RASTER_SIZE, RASTER_SIZE, { fit: 'inside', withoutEnlargement: true })
      .ensureAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    result.raster = { data, width: info.width, height: info.height };
  }
  return result;
}

function planOutputs(
  work: OneDecodeWork,
  upright: { width: number; height: number },
  animation: boolean,
): PlannedOutput[] {
  const planned: PlannedOutput[] = [];
  for (const job of work.variants) {
    const crop = job.variant.crop === 'user' ? work.frame.crop : undefined;
    const source = cropInPixels(crop, upright.width, upright.height);
    for (const output of job.outputs) {
      planned.push({
        job,
        output,
        size: outputDimensions(job.variant, output, source),
        source,
        animated: animation && job.variant.animated === 'keep' && output.format === 'webp',
      });
    }
  }
  return planned;
}

/** Decodes the upright picture as raw 8-bit pixels at `scale` (shrinking on load where the format can). */
async function decode(
  input: string | Buffer,
  upright: { width: number; height: number },
  scale: number,
  maxPixels: number,
): Promise<Raster> {
  let image = sharp(input, { limitInputPixels: maxPixels }).autoOrient();
  if (scale < 1) {
    // Rounded, not rounded up: one scale for both sides keeps libvips on its fast path (800×534 of
    // a 2400×1600 JPEG decodes in 1.6× the time of 800×533), and half a pixel less is not seen.
    const width = Math.max(1, Math.round(upright.width * scale));
    const height = Math.max(1, Math.round(upright.height * scale));
    image = image.resize(width, height, { fit: 'fill' });
  }
  const { data, info } = await image.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return {
    data,
    width: info.width,
    height: info.height,
    channels: info.channels,
    premultiplied: info.premultiplied ?? false,
  };
}

/** The values of `renders`, in order, once every one has settled (none left running on a file about to go); else the first error. */
async function allOf<T>(renders: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(renders);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/**
 * Everything one upload needs of its pixels, from one decode: the thumbnails, the named variants'
 * outputs and a small raster for the placeholder.
 *
 * The picture is decoded once, upright, as raw pixels at the largest scale any output needs (JPEG
 * and WebP shrink on load, so a 96-pixel avatar of a 24-megapixel photo decodes at an eighth of
 * its size), and every output is cut and resized from those pixels. What cannot come from one
 * still picture, an animation kept for WebP (`animated: 'keep'`, or a GIF/WebP thumbnail of an
 * animation), is rendered from the file with the same geometry (variant-geometry.ts).
 */
import type { Sharp } from 'sharp';
import { DEFAULT_BACKGROUND, flattenFor } from './background.js';
import { inRenderSlot } from './render-slots.js';
import { sharp } from './sharp.js';
import { sharpFormat } from './thumbnail.js';
import type { BatchOriginal, PlannedThumbnail, RenderedThumbnail } from './thumbnail-batch.js';
import { decodeFailureOf } from './truncation.js';
import {
  coverWindow,
  cropInPixels,
  focalInCrop,
  gravityPoint,
  type PixelRect,
  scaleNeeded,
} from './variant-geometry.js';
import {
  AVIF_EFFORT,
  type ConcreteVariantFormat,
  type FocalPoint,
  type ResolvedOutput,
  outputDimensions,
} from './variant-recipe.js';
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
 * The long side of the picture `attention` and `entropy` look at. Fixed, so the crop they choose
 * does not depend on which outputs are made in one render: a 1× and a 2× made apart still agree.
 */
const ANALYSIS_SIZE = 256;

const TRANSPARENT = { r: 0, g: 0, b: 0, alpha: 0 };

/** One variant output, placed: its size, and its source (the user's crop) in upright pixels. */
interface PlannedOutput {
  job: VariantJob;
  output: ResolvedOutput;
  size: { width: number; height: number };
  /** In pixels of the upright picture. */
  source: PixelRect;
  /** Rendered from the file with every frame (an animation kept for WebP), not from the decode. */
  animated: boolean;
}

/** The decoded picture: raw pixels of the upright picture at `scale`. */
interface Raster {
  data: Buffer;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  premultiplied: boolean;
}

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

  const planned = planOutputs(work, upright, multiFrame);
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

  const raster = scale > 0 ? await decode(input, upright, Math.min(1, scale), maxPixels) : undefined;
  const fromRaster = (r: Raster) =>
    sharp(r.data, { raw: { width: r.width, height: r.height, channels: r.channels, premultiplied: r.premultiplied } });
  // Animated renders share one input, read once.
  let animatedInput: Sharp | undefined;
  const animatedBase = () =>
    (animatedInput ??= sharp(input, { limitInputPixels: maxPixels, animated: true }).autoOrient()).clone();

  const thumbnails: RenderedThumbnail[] = [];
  for (const t of work.thumbnails) {
    const base = animatedThumbnail(t) ? animatedBase() : fromRaster(raster!);
    const image = base.resize(t.width, t.height, { fit: 'fill' });
    const data = await flattenFor(image, t.mimetype, t.background).toFormat(sharpFormat(t.mimetype)).toBuffer();
    thumbnails.push({ width: t.width, height: t.height, mimetype: t.mimetype, data });
  }

  // Where attention and entropy look, per variant: found once, so every output shows one window.
  const points = new Map<VariantJob, FocalPoint>();
  for (const job of smart) {
    const source = planned.find((p) => p.job === job)!.source;
    points.set(job, await smartPoint(fromRaster(raster!), raster!, upright, source, job));
  }

  const variants: RenderedVariant[] = [];
  for (const p of planned) {
    const { variant } = p.job;
    const point =
      points.get(p.job) ??
      gravityPoint(variant.position) ??
      focalInCrop(work.frame.focal, variant.crop === 'user' ? work.frame.crop : undefined);
    const image = p.animated
      ? fitted(animatedBase(), p, p.source, upright, point)
      : fitted(fromRaster(raster!), p, scaledRect(p.source, upright, raster!), raster!, point);
    const data = await encoded(image, p).toBuffer();
    const { output } = p;
    variants.push({
      variant: variant.name,
      descriptor: output.descriptor,
      format: output.format,
      mimetype: output.mimetype,
      digest: output.digest,
      width: p.size.width,
      height: p.size.height,
      data,
    });
  }

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
  multiFrame: boolean,
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
        animated: multiFrame && job.variant.animated === 'keep' && output.format === 'webp',
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
    const width = Math.min(upright.width, Math.max(1, Math.ceil(upright.width * scale)));
    const height = Math.min(upright.height, Math.max(1, Math.ceil(upright.height * scale)));
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

/** `rect` (upright pixels) in pixels of the decoded raster, through the same fractions. */
function scaledRect(rect: PixelRect, upright: { width: number; height: number }, raster: Raster): PixelRect {
  if (raster.width === upright.width && raster.height === upright.height) return rect;
  return cropInPixels(
    {
      left: rect.left / upright.width,
      top: rect.top / upright.height,
      width: rect.width / upright.width,
      height: rect.height / upright.height,
    },
    raster.width,
    raster.height,
  );
}

/** `image` (a whole `whole`-sized picture) cut to `rect` and fitted to the output as its variant says. */
function fitted(
  image: Sharp,
  p: PlannedOutput,
  rect: PixelRect,
  whole: { width: number; height: number },
  point: FocalPoint,
): Sharp {
  const { variant } = p.job;
  if (rect.width !== whole.width || rect.height !== whole.height) image = image.extract(rect);
  const { width, height } = p.size;
  switch (variant.fit) {
    case 'cover': {
      const window = coverWindow(rect, p.size, point);
      return image
        .resize(window.scaledWidth, window.scaledHeight, { fit: 'fill' })
        .extract({ left: window.left, top: window.top, width, height });
    }
    case 'contain':
      return image.resize(width, height, {
        fit: 'contain',
        position: gravityPoint(variant.position) === undefined ? 'centre' : variant.position,
        background: variant.background ?? (p.output.format === 'jpeg' ? DEFAULT_BACKGROUND : TRANSPARENT),
      });
    default:
      // fill stretches; inside and outside have the source's aspect already (outputDimensions).
      return image.resize(width, height, { fit: 'fill' });
  }
}

/** `image` encoded as the output's format at its variant's quality; JPEG flattened onto the background. */
function encoded(image: Sharp, p: PlannedOutput): Sharp {
  const { variant } = p.job;
  const format: ConcreteVariantFormat = p.output.format;
  const quality = variant.quality[format];
  switch (format) {
    case 'avif':
      return image.avif({ quality, effort: AVIF_EFFORT });
    case 'webp':
      return image.webp({ quality });
    case 'jpeg':
      return flattenFor(image, 'image/jpeg', variant.background).jpeg({ quality });
    case 'png':
      return image.png();
  }
}

function isSmart(position: string): position is 'attention' | 'entropy' {
  return position === 'attention' || position === 'entropy';
}

/**
 * The centre of the window sharp's `attention` or `entropy` crop keeps, as fractions of the
 * variant's source, found on a picture of {@link ANALYSIS_SIZE} pixels with the box's aspect.
 */
async function smartPoint(
  image: Sharp,
  raster: Raster,
  upright: { width: number; height: number },
  source: PixelRect,
  job: VariantJob,
): Promise<FocalPoint> {
  const { variant } = job;
  const aspect = variant.width / (variant.height ?? variant.width);
  const box =
    aspect >= 1
      ? { width: ANALYSIS_SIZE, height: Math.max(1, Math.round(ANALYSIS_SIZE / aspect)) }
      : { width: Math.max(1, Math.round(ANALYSIS_SIZE * aspect)), height: ANALYSIS_SIZE };
  const rect = scaledRect(source, upright, raster);
  if (rect.width !== raster.width || rect.height !== raster.height) image = image.extract(rect);
  const { info } = await image
    .resize(box.width, box.height, { fit: 'cover', position: variant.position as 'attention' | 'entropy' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const scale = Math.max(box.width / rect.width, box.height / rect.height);
  const scaledWidth = Math.max(box.width, Math.round(rect.width * scale));
  const scaledHeight = Math.max(box.height, Math.round(rect.height * scale));
  return {
    x: (Math.abs(info.cropOffsetLeft ?? 0) + box.width / 2) / scaledWidth,
    y: (Math.abs(info.cropOffsetTop ?? 0) + box.height / 2) / scaledHeight,
  };
}

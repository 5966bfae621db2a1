/**
 * Several thumbnails of one original, from one decode of its bytes: what attaching an upload with
 * its thumbnails does, before any transaction starts.
 *
 * A still image is decoded once, to the largest thumbnail's size, and every thumbnail encoded from
 * those pixels; otherwise (animated, or enlarging) the thumbnails are `clone()`s of one sharp
 * input. Either way the whole image is decoded, so a successful render is also the proof that the
 * file is whole: attach then skips the probe's own small decode. A truncated input fails the
 * render with `ERR_IMAGE_TRUNCATED`, as the probe would have.
 */
import type { Sharp } from 'sharp';
import { sharp } from './sharp.js';
import { InvalidArgumentError } from '../errors.js';
import { checkBackground, flattenFor, type ThumbnailBackground } from './background.js';
import { proveWhole } from './probe.js';
import { decodeFailureOf } from './truncation.js';
import { inRenderSlot } from './render-slots.js';
import { type OneDecodeResult, renderInOneDecode } from './one-decode.js';
import type { VariantFrame, VariantJob, VariantOriginal } from './variant-render.js';

export type { OneDecodeResult, RgbaRaster } from './one-decode.js';
import {
  sharpFormat,
  type ThumbnailFormat,
  type ThumbnailSize,
  thumbnailDimensions,
  thumbnailMimetype,
} from './thumbnail.js';

/**
 * One thumbnail to make: exactly one of width, height or ratio, optionally a format, and the
 * colour transparent pixels are flattened onto when that format has no alpha (JPEG; default white).
 */
export type ThumbnailSpec = ThumbnailSize & { format?: ThumbnailFormat; background?: ThumbnailBackground };

/** The original the thumbnails are made of, as its probe describes it. */
export interface BatchOriginal {
  mimetype: string;
  width: number;
  height: number;
  /** Width × height × frames: more than width × height for an animated image. */
  pixels: number;
}

/** A rendered thumbnail: small enough to hold in memory until the transaction writes it. */
export interface RenderedThumbnail {
  width: number;
  height: number;
  mimetype: string;
  data: Buffer;
}

/** A thumbnail as planned: its size and type, and its background if one was asked for. */
export type PlannedThumbnail = Omit<RenderedThumbnail, 'data'> & { background?: ThumbnailBackground };

/**
 * Validates thumbnail specs (before any work is done) and works out their sizes for `original`:
 * one of the original's own size is left out (the original is that image), and two of one size
 * are refused (a set holds one image per size).
 * @throws InvalidArgumentError naming the bad spec
 */
export function planThumbnails(
  specs: readonly ThumbnailSpec[],
  original: Pick<BatchOriginal, 'mimetype' | 'width' | 'height'>,
): PlannedThumbnail[] {
  const planned: PlannedThumbnail[] = [];
  for (const spec of specs) {
    const { width, height } = thumbnailDimensions(original.width, original.height, spec);
    const mimetype = thumbnailMimetype(original.mimetype, spec.format);
    if (width === original.width && height === original.height) continue;
    if (planned.some((p) => p.width === width && p.height === height)) {
      throw new InvalidArgumentError(
        'options.thumbnails',
        `thumbnails of different sizes (a set holds one image per size; two come out ${width}×${height})`,
        specs,
      );
    }
    planned.push(
      spec.background === undefined
        ? { width, height, mimetype }
        : { width, height, mimetype, background: spec.background },
    );
  }
  return planned;
}

/**
 * Renders `planned` thumbnails of `input` (a local path or the bytes) from one sharp input, side
 * by side, in one of the process's render slots (see render-slots.ts); with none to render, still
 * decodes the image once to prove it whole.
 * @throws InvalidImageError `ERR_IMAGE_TRUNCATED` / `ERR_IMAGE_UNREADABLE` when the bytes do not decode
 */
export function renderThumbnails(
  input: string | Buffer,
  original: BatchOriginal,
  planned: readonly PlannedThumbnail[],
  maxPixels: number,
): Promise<RenderedThumbnail[]> {
  return inRenderSlot(async () => {
    if (planned.length === 0) {
      await proveWhole(input, maxPixels);
      return [];
    }
    const multiFrame = original.pixels > original.width * original.height;
    const largest = planned.reduce((a, b) => (b.width > a.width ? b : a));
    const fitsLargest = planned.every((t) => t.width <= largest.width && t.height <= largest.height);
    const shrinks = largest.width <= original.width && largest.height <= original.height;
    const renders =
      !multiFrame && fitsLargest && shrinks
        ? fromOneDecode(input, largest, planned, maxPixels)
        : fromClones(input, planned, multiFrame, maxPixels);
    // Wait for every render (none left running on a file about to be removed), then fail with the first error.
    const settled = await Promise.allSettled(renders);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw await decodeFailureOf(failed.reason, input);
    return settled.map((r) => (r as PromiseFulfilledResult<RenderedThumbnail>).value);
  });
}

/**
 * Everything an upload makes of its pixels from one decode: `thumbnails` (planned), the
 * variants' outputs (`variants`, framed by the set's focal point and crop) and, with
 * `placeholderRaster`, the upright picture as RGBA at most 100 pixels on its long side (what
 * ThumbHash reads). In one render slot; thumbnails alone render as {@link renderThumbnails} does.
 * @throws InvalidImageError `ERR_IMAGE_TRUNCATED` / `ERR_IMAGE_UNREADABLE` when the bytes do not decode
 */
export async function renderFromOneDecode(
  input: string | Buffer,
  original: VariantOriginal,
  work: {
    thumbnails: readonly PlannedThumbnail[];
    variants?: readonly VariantJob[];
    frame?: VariantFrame;
    placeholderRaster?: boolean;
  },
  maxPixels: number,
): Promise<OneDecodeResult> {
  const variants = work.variants ?? [];
  const placeholderRaster = work.placeholderRaster === true;
  if (!placeholderRaster && variants.every((job) => job.outputs.length === 0))
    return { thumbnails: await renderThumbnails(input, original, work.thumbnails, maxPixels), variants: [] };
  return renderInOneDecode(
    input,
    original,
    { thumbnails: work.thumbnails, variants, frame: work.frame ?? {}, placeholderRaster },
    maxPixels,
  );
}

/**
 * The usual case (a still image, every thumbnail smaller than the original): one decode, resized
 * once to the largest thumbnail's size as raw pixels (JPEG and WebP shrink on load, so the decode
 * itself is at a fraction of the size); every thumbnail is encoded from those pixels, the smaller
 * ones resized from them. One decode instead of one per thumbnail.
 *
 * The encodes run one after another: each uses all of libvips' threads anyway, so side by side
 * they would finish no sooner under load, only hold two or three encoders' memory at once and
 * take more of libuv's pool from the file writes waiting behind them.
 */
function fromOneDecode(
  input: string | Buffer,
  largest: PlannedThumbnail,
  planned: readonly PlannedThumbnail[],
  maxPixels: number,
): Array<Promise<RenderedThumbnail>> {
  const pixels = sharp(input, { limitInputPixels: maxPixels })
    .autoOrient()
    .resize(largest.width, largest.height, { fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  let previous: Promise<unknown> = pixels;
  return planned.map((thumbnail) => {
    const encoded = previous.then(async () => {
      const { data, info } = await pixels;
      let image = sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } });
      if (thumbnail.width !== info.width || thumbnail.height !== info.height)
        image = image.resize(thumbnail.width, thumbnail.height, { fit: 'fill' });
      return rendered(
        thumbnail,
        await flattenFor(image, thumbnail.mimetype, thumbnail.background)
          .toFormat(sharpFormat(thumbnail.mimetype))
          .toBuffer(),
      );
    });
    // The next encode starts when this one ends, whether or not it failed (the caller sees each result).
    previous = encoded.catch(() => {});
    return encoded;
  });
}

/**
 * Otherwise (an animated original, or a thumbnail larger than the original): one sharp input,
 * every thumbnail a `clone()` of it, so the input is read once and shared by the pipelines.
 */
function fromClones(
  input: string | Buffer,
  planned: readonly PlannedThumbnail[],
  multiFrame: boolean,
  maxPixels: number,
): Array<Promise<RenderedThumbnail>> {
  // Animation is an input option, so it splits the renders: frames kept only for GIF and WebP
  // output of a multi-frame original.
  const bases = new Map<boolean, Sharp>();
  const base = (animated: boolean): Sharp => {
    let found = bases.get(animated);
    if (found === undefined)
      bases.set(animated, (found = sharp(input, { limitInputPixels: maxPixels, animated }).autoOrient()));
    return found;
  };
  return planned.map(async (thumbnail) => {
    const animated = multiFrame && (thumbnail.mimetype === 'image/gif' || thumbnail.mimetype === 'image/webp');
    const resized = base(animated).clone().resize(thumbnail.width, thumbnail.height, { fit: 'fill' });
    return rendered(
      thumbnail,
      await flattenFor(resized, thumbnail.mimetype, thumbnail.background)
        .toFormat(sharpFormat(thumbnail.mimetype))
        .toBuffer(),
    );
  });
}

function rendered({ width, height, mimetype }: PlannedThumbnail, data: Buffer): RenderedThumbnail {
  return { width, height, mimetype, data };
}

/**
 * Checks the shape of a `thumbnails` option before any work is done (sizes are worked out later,
 * from the original): an array of specs, each a valid size with a valid format, if any.
 * @throws InvalidArgumentError naming what is wrong
 */
export function checkThumbnailSpecs(specs: unknown): readonly ThumbnailSpec[] | undefined {
  if (specs === undefined) return undefined;
  if (!Array.isArray(specs))
    throw new InvalidArgumentError(
      'options.thumbnails',
      'an array of { width } | { height } | { ratio }, each with an optional format',
      specs,
    );
  for (const spec of specs as ThumbnailSpec[]) {
    thumbnailDimensions(1, 1, spec);
    if (spec.format !== undefined) thumbnailMimetype('image/png', spec.format);
    checkBackground(spec.background, 'options.thumbnails[].background');
  }
  return specs as ThumbnailSpec[];
}

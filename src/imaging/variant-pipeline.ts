/**
 * One variant output's sharp pipeline: cut to the user's crop, fitted to its box as its variant
 * says (a `cover` window placed by variant-geometry.ts), encoded at its quality; and where
 * `attention` and `entropy` would crop, found once per variant.
 */
import type { Sharp } from 'sharp';
import { DEFAULT_BACKGROUND, flattenFor } from './background.js';
import { coverWindow, cropInPixels, gravityPoint, type PixelRect } from './variant-geometry.js';
import { AVIF_EFFORT, type ConcreteVariantFormat, type FocalPoint, type ResolvedOutput } from './variant-recipe.js';
import type { VariantJob } from './variant-render.js';

/**
 * The long side of the picture `attention` and `entropy` look at. Fixed, so the crop they choose
 * does not depend on which outputs are made in one render: a 1× and a 2× made apart still agree.
 */
export const ANALYSIS_SIZE = 256;

const TRANSPARENT = { r: 0, g: 0, b: 0, alpha: 0 };

/** One variant output, placed: its size, and its source (the user's crop) in upright pixels. */
export interface PlannedOutput {
  job: VariantJob;
  output: ResolvedOutput;
  size: { width: number; height: number };
  /** In pixels of the upright picture. */
  source: PixelRect;
  /** Rendered from the file with every frame (an animation kept for WebP), not from the decode. */
  animated: boolean;
}

/** The decoded picture: raw 8-bit pixels of the upright picture, scaled down as far as its outputs allow. */
export interface Raster {
  data: Buffer;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  premultiplied: boolean;
}

/** `rect` (upright pixels) in pixels of the decoded raster, through the same fractions. */
export function scaledRect(rect: PixelRect, upright: { width: number; height: number }, raster: Raster): PixelRect {
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
export function fitted(
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
export function encoded(image: Sharp, p: PlannedOutput): Sharp {
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

export function isSmart(position: string): position is 'attention' | 'entropy' {
  return position === 'attention' || position === 'entropy';
}

/**
 * The centre of the window sharp's `attention` or `entropy` crop keeps, as fractions of the
 * variant's source, found on a picture of {@link ANALYSIS_SIZE} pixels with the box's aspect.
 */
export async function smartPoint(
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

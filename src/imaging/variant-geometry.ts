/**
 * Where a variant's output comes from in the picture: the user's crop in pixels, how much of the
 * picture's resolution an output needs, and the window a `cover` crop keeps. Pure arithmetic, so
 * the one-decode renderer and an animated render place the same window, and a 1× and a 2× output
 * show the same part of the picture.
 */
import type { CropRect, FocalPoint, NormalizedVariant, VariantPosition } from './variant-recipe.js';

/** A rectangle in pixels. */
export interface PixelRect {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Where a `cover` crop cuts its box out of the source scaled to cover it. */
export interface CoverWindow {
  /** The source's size once scaled to cover the box. */
  scaledWidth: number;
  scaledHeight: number;
  /** The box's offset in the scaled source. */
  left: number;
  top: number;
}

const clamp = (value: number, low: number, high: number) => Math.min(high, Math.max(low, value));

/**
 * `crop` (fractions of the picture) in pixels of a `width`×`height` picture, at least one pixel
 * and inside the picture; the whole picture without a crop.
 */
export function cropInPixels(crop: CropRect | undefined, width: number, height: number): PixelRect {
  if (crop === undefined) return { left: 0, top: 0, width, height };
  const left = clamp(Math.round(crop.left * width), 0, width - 1);
  const top = clamp(Math.round(crop.top * height), 0, height - 1);
  return {
    left,
    top,
    width: clamp(Math.round(crop.width * width), 1, width - left),
    height: clamp(Math.round(crop.height * height), 1, height - top),
  };
}

/** sharp's gravities as the point of the source a `cover` crop keeps in view. */
const GRAVITY_POINT: Partial<Record<VariantPosition, FocalPoint>> = {
  centre: { x: 0.5, y: 0.5 },
  center: { x: 0.5, y: 0.5 },
  north: { x: 0.5, y: 0 },
  northeast: { x: 1, y: 0 },
  east: { x: 1, y: 0.5 },
  southeast: { x: 1, y: 1 },
  south: { x: 0.5, y: 1 },
  southwest: { x: 0, y: 1 },
  west: { x: 0, y: 0.5 },
  northwest: { x: 0, y: 0 },
};

/** The point a gravity keeps in view; undefined for `focal`, `attention` and `entropy`. */
export function gravityPoint(position: VariantPosition): FocalPoint | undefined {
  return GRAVITY_POINT[position];
}

/**
 * The focal point (fractions of the picture) as fractions of the cropped source; the centre
 * without one. A focal point outside the crop keeps the crop's nearest edge in view.
 */
export function focalInCrop(focal: FocalPoint | undefined, crop: CropRect | undefined): FocalPoint {
  if (focal === undefined) return { x: 0.5, y: 0.5 };
  if (crop === undefined) return focal;
  return {
    x: clamp((focal.x - crop.left) / crop.width, 0, 1),
    y: clamp((focal.y - crop.top) / crop.height, 0, 1),
  };
}

/**
 * The window of a `box` cut out of `source` scaled to cover it (s = max(W/Wc, H/Hc)), placed so
 * that `point` (fractions of the source) is as near its centre as the source's edges allow.
 */
export function coverWindow(
  source: { width: number; height: number },
  box: { width: number; height: number },
  point: FocalPoint,
): CoverWindow {
  const scale = Math.max(box.width / source.width, box.height / source.height);
  const scaledWidth = Math.max(box.width, Math.round(source.width * scale));
  const scaledHeight = Math.max(box.height, Math.round(source.height * scale));
  return {
    scaledWidth,
    scaledHeight,
    left: clamp(Math.round(point.x * scaledWidth - box.width / 2), 0, scaledWidth - box.width),
    top: clamp(Math.round(point.y * scaledHeight - box.height / 2), 0, scaledHeight - box.height),
  };
}

/**
 * How many output pixels an output of `size` made of `source` takes per source pixel: what the
 * decode must keep for it not to be upscaled from a smaller decode. `contain` fits the source
 * inside the box, every other fit covers (or, for inside/outside, matches) it.
 */
export function scaleNeeded(
  fit: NormalizedVariant['fit'],
  source: { width: number; height: number },
  size: { width: number; height: number },
): number {
  const byWidth = size.width / source.width;
  const byHeight = size.height / source.height;
  return fit === 'contain' ? Math.min(byWidth, byHeight) : Math.max(byWidth, byHeight);
}

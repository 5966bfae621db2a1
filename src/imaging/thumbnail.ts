/**
 * Thumbnail sizes (SQLAlchemy-ImageAttach's truncation rule) and the sharp pipeline that makes them.
 */
import type { FormatEnum, Sharp } from 'sharp';
import { InvalidArgumentError } from '../errors.js';
import * as check from '../util/check.js';
import { flattenFor, type ThumbnailBackground } from './background.js';

/** Exactly one of `width`, `height` or `ratio`; the other side follows from the original's. */
export type ThumbnailSize =
  | { width: number; height?: never; ratio?: never }
  | { height: number; width?: never; ratio?: never }
  | { ratio: number; width?: never; height?: never };

export type ThumbnailFormat = 'jpeg' | 'png' | 'webp' | 'avif';

const FORMATS: readonly ThumbnailFormat[] = ['jpeg', 'png', 'webp', 'avif'];

const MIMETYPE_OF: Record<ThumbnailFormat, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
};

/**
 * The width and height of a thumbnail of a `w0`×`h0` image, by SQLAlchemy-ImageAttach's rule: the
 * given side exactly, the other by truncation, computed as that library computes it, in floating
 * point and in its order (`height = trunc(h0 * (width / w0))`; `trunc(w0 * ratio)` for a ratio), so
 * both libraries name the same thumbnail of one original (300×200 at width 87 is 87×57, not the
 * 87×58 of `h0 * width / w0`). Never below 1 (its resize would fail on 0).
 * @throws InvalidArgumentError unless exactly one of width, height or ratio is given and valid
 */
export function thumbnailDimensions(w0: number, h0: number, size: ThumbnailSize): { width: number; height: number } {
  const given =
    size && typeof size === 'object'
      ? (['width', 'height', 'ratio'] as const).filter((k) => (size as Record<string, unknown>)[k] !== undefined)
      : [];
  if (given.length !== 1) {
    throw new InvalidArgumentError('size', 'exactly one of { width }, { height } or { ratio }', size);
  }
  if ('width' in size && size.width !== undefined) {
    check.positiveInteger(size.width, 'width');
    return { width: size.width, height: Math.max(1, Math.trunc(h0 * (size.width / w0))) };
  }
  if ('height' in size && size.height !== undefined) {
    check.positiveInteger(size.height, 'height');
    return { width: Math.max(1, Math.trunc(w0 * (size.height / h0))), height: size.height };
  }
  const { ratio } = size as { ratio: number };
  if (typeof ratio !== 'number' || !Number.isFinite(ratio) || ratio <= 0) {
    throw new InvalidArgumentError('ratio', 'a finite number > 0', ratio);
  }
  return { width: Math.max(1, Math.trunc(w0 * ratio)), height: Math.max(1, Math.trunc(h0 * ratio)) };
}

/**
 * The mimetype a thumbnail of an image of `mimetype` gets: `format` if given, else the original's
 * (as SQLAlchemy-ImageAttach did), except that vector originals (SVG; PDF, which that library
 * read) make PNG thumbnails: a thumbnail is there to be small and safe to serve, and a rasterised
 * SVG is both.
 * @throws InvalidArgumentError for an unknown format
 */
export function thumbnailMimetype(mimetype: string, format?: ThumbnailFormat): string {
  if (format !== undefined) {
    check.oneOf(format, FORMATS, 'format');
    return MIMETYPE_OF[format];
  }
  return mimetype === 'image/svg+xml' || mimetype === 'application/pdf' ? 'image/png' : mimetype;
}

const SHARP_FORMAT: Record<string, keyof FormatEnum | 'avif'> = {
  'image/jpeg': 'jpeg',
  'image/png': 'png',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'image/avif': 'avif',
  'image/tiff': 'tiff',
};

/** sharp's name of the output format for `mimetype`. @throws InvalidArgumentError for one it cannot write */
export function sharpFormat(mimetype: string): keyof FormatEnum {
  const format = SHARP_FORMAT[mimetype];
  if (format === undefined) throw new InvalidArgumentError('mimetype', 'a raster type sharp can write', mimetype);
  return format as keyof FormatEnum;
}

/**
 * `image` (an opened original) resized into a `width`×`height` thumbnail in `mimetype`, upright
 * and stripped; transparency flattened onto `background` (white by default) when `mimetype` has no alpha.
 */
export function resizeToThumbnail(
  image: Sharp,
  width: number,
  height: number,
  mimetype: string,
  background?: ThumbnailBackground,
): Sharp {
  return flattenFor(image.autoOrient().resize(width, height, { fit: 'fill' }), mimetype, background).toFormat(
    sharpFormat(mimetype),
  );
}

/**
 * The colour transparent pixels are flattened onto when a thumbnail's format has no alpha (JPEG).
 * Without it, encoding an RGBA image as JPEG drops the alpha channel and shows whatever colour the
 * transparent pixels happen to hold: black, for most PNGs.
 */
import type { Sharp } from 'sharp';
import { InvalidArgumentError } from '../errors.js';

/** A colour: `'#rrggbb'`, `'#rgb'`, or `{ r, g, b }` with each channel an integer 0–255. */
export type ThumbnailBackground = string | { r: number; g: number; b: number };

/** White: what a transparent picture looks like on most pages. */
export const DEFAULT_BACKGROUND: ThumbnailBackground = '#ffffff';

const HEX_COLOUR = /^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i;
const EXPECTED = "a colour as '#rrggbb', '#rgb' or { r, g, b } with integers 0-255";

/**
 * Checks a `background` option (undefined passes: the default applies).
 * @throws InvalidArgumentError naming `argument` and the bad value
 */
export function checkBackground(value: unknown, argument = 'background'): ThumbnailBackground | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && HEX_COLOUR.test(value)) return value;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const { r, g, b } = value as Record<string, unknown>;
    const channel = (c: unknown) => Number.isInteger(c) && (c as number) >= 0 && (c as number) <= 255;
    if (channel(r) && channel(g) && channel(b) && Object.keys(value).every((k) => k === 'r' || k === 'g' || k === 'b'))
      return value as ThumbnailBackground;
  }
  throw new InvalidArgumentError(argument, EXPECTED, value);
}

/** Types whose encoders keep an alpha channel; any other output is flattened. */
const KEEPS_ALPHA = new Set(['image/png', 'image/gif', 'image/webp', 'image/avif', 'image/tiff']);

/**
 * `image`, flattened onto `background` when `mimetype` cannot hold transparency. sharp flattens
 * only images that have an alpha channel, so an opaque photo passes through untouched.
 */
export function flattenFor(
  image: Sharp,
  mimetype: string,
  background: ThumbnailBackground = DEFAULT_BACKGROUND,
): Sharp {
  return KEEPS_ALPHA.has(mimetype) ? image : image.flatten({ background });
}

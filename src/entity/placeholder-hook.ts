/**
 * How an attach turns the upload's small raster into a set's placeholder (`placeholder:
 * 'thumbhash'`): a function the placeholder code binds with `setPlaceholderEncoder`. The attach
 * asks the one decode for the raster only when the relation declares a placeholder and an
 * encoder is bound, and writes the result in the meta row, in its transaction.
 */
import type { RgbaRaster } from '../imaging/one-decode.js';
import type { Placeholder } from './set-meta.js';

export type PlaceholderEncoder = (raster: RgbaRaster) => Placeholder | Promise<Placeholder>;

let encoder: PlaceholderEncoder | undefined;

/** Binds (or, with `undefined`, unbinds) the placeholder encoder. @returns the previous one */
export function setPlaceholderEncoder(next: PlaceholderEncoder | undefined): PlaceholderEncoder | undefined {
  const previous = encoder;
  encoder = next;
  return previous;
}

/** The bound encoder, if any. */
export function placeholderEncoder(): PlaceholderEncoder | undefined {
  return encoder;
}

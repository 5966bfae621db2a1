/**
 * The placeholder part of attach, for relations with `placeholder: 'thumbhash'`: computed from the
 * one decode's raster (or beside the decode that proves the bytes whole), and written in the attach
 * transaction into the meta row of the new original (attach.ts), so it is bound to that original's
 * `created_at`, and a later replacement, ours or Python's, leaves it unused.
 */
import { type Placeholder, placeholderOf, placeholderRaster, type PlaceholderRaster } from '../imaging/placeholder.js';
import type { SetRows } from './set-rows.js';
import type { MetaFields } from './set-meta.js';

/** Whether the set's relation computes a placeholder (`placeholder: 'thumbhash'`). */
export function wantsPlaceholder(rows: SetRows): boolean {
  return rows.info.placeholder !== undefined;
}

/**
 * The placeholder of the bytes being attached, or `undefined` when the relation asks for none.
 * `raster` is the one decode's (renderFromOneDecode's `placeholderRaster`); without it, a small
 * decode of its own (JPEG and WebP shrink on load, so it reads a fraction of the pixels).
 */
export async function attachPlaceholder(
  rows: SetRows,
  data: string | Buffer,
  maxPixels: number,
  raster?: PlaceholderRaster,
): Promise<Placeholder | undefined> {
  if (!wantsPlaceholder(rows)) return undefined;
  return placeholderOf(raster ?? (await placeholderRaster(data, maxPixels)));
}

/**
 * The placeholder of the one decode's `raster`, left to compute while the attach transaction
 * writes rows and files (its WebP encode runs on libvips' threads meanwhile); awaited where it
 * is written, which is where a failure surfaces.
 */
export function placeholderWhileWriting(
  rows: SetRows,
  raster: PlaceholderRaster | undefined,
): Promise<Placeholder | undefined> {
  if (!wantsPlaceholder(rows)) return Promise.resolve(undefined);
  if (raster === undefined)
    return Promise.reject(new Error('renderFromOneDecode gave no placeholder raster, though it was asked for one'));
  const pending = placeholderOf(raster);
  // Not unhandled in the moment before the transaction awaits it.
  pending.catch(() => {});
  return pending;
}

/**
 * Runs `work` (the render that proves the bytes whole) and computes the placeholder beside it;
 * waits for both, so nothing still reads `data` when the caller removes it. The render's error
 * comes first: bytes that do not decode are that, not a placeholder problem.
 */
export async function besidePlaceholder<T>(
  rows: SetRows,
  data: string | Buffer,
  maxPixels: number,
  work: () => Promise<T>,
): Promise<{ result: T; placeholder: Placeholder | undefined }> {
  const [done, made] = await Promise.allSettled([work(), attachPlaceholder(rows, data, maxPixels)]);
  if (done.status === 'rejected') throw done.reason;
  if (made.status === 'rejected') throw made.reason;
  return { result: done.value, placeholder: made.value };
}

/** The meta row's fields for `placeholder`: none when the relation makes none (a new original's row starts cleared). */
export function placeholderFields(placeholder: Placeholder | undefined): MetaFields {
  return placeholder === undefined ? {} : { placeholder };
}

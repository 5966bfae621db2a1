/**
 * What the queue worker, the CLI, migration and the thumbnail route need of entity/ beyond its
 * public API (./index.ts): functions that take an ImageSet, so that the worker's plumbing stays off
 * the public class, and the few entity rules those layers share (which image answers a size).
 * Internal: not exported from any entry point.
 */
import type { Knex } from 'knex';
import type { Model } from 'objection';
import type { ThumbnailSize } from '../imaging/thumbnail.js';
import { attachmentInfo } from './attachment-info.js';
import { concreteStore, type ImageEntity } from './image.js';
import { type ImageSet, imageSet, rowsOf } from './image-set.js';
import { lockedRows, sqliteWriteLock } from './locks.js';
import { generateThumbnail, type RenderedAhead, renderThumbnailAhead as renderAhead } from './make-thumbnail.js';
import type { ThumbnailOptions } from './set-options.js';
import type { Subset } from './set-rows.js';

export { attachmentRelationNames } from './attachment-info.js';
export { concreteStore } from './image.js';
export { listKeptBackups } from './kept-backups.js';
export { fillPlaceholder, placeholderDeclared, type PlaceholderFill } from './placeholder-fill.js';
export type { RenderedAhead } from './make-thumbnail.js';
export type { Subset } from './set-rows.js';
export { imageOfSize, reusableImage } from './size-match.js';

/**
 * The thumbnail of `size` rendered now into a temp file, outside any transaction, for a later
 * `generateThumbnailFrom(set, size, { trx }, render)` under locks: what a background worker does so
 * that its transaction holds the database for a row and a rename, not for the resize. `undefined`
 * when there is nothing to render (no original, or the set answers the size already). Call
 * `dispose()` on it when done.
 */
export function renderThumbnailAhead(
  set: ImageSet,
  size: ThumbnailSize,
  options: ThumbnailOptions = {},
): Promise<RenderedAhead | undefined> {
  const store = concreteStore(options.store);
  return renderAhead(rowsOf(set), size, { ...options, store }, store);
}

/**
 * `set.generateThumbnail(size, options)`, using `madeAhead` (a render of {@link renderThumbnailAhead})
 * when it is of the original found in the transaction; the caller disposes of it.
 */
export async function generateThumbnailFrom<I extends ImageEntity>(
  set: ImageSet<I>,
  size: ThumbnailSize,
  options: ThumbnailOptions,
  madeAhead: RenderedAhead | undefined,
): Promise<I> {
  return (await generateThumbnail(rowsOf(set), size, options, madeAhead)) as I;
}

/**
 * On SQLite, takes the database write lock for the rest of `trx`; elsewhere nothing. A
 * transaction that reads before it writes calls it first (SQLite refuses a write lock at once to
 * a transaction whose read began before another process's write).
 */
export async function lockForWriting(set: ImageSet, trx: Knex.Transaction): Promise<void> {
  await sqliteWriteLock(trx, rowsOf(set).info.imageClass.tableName);
}

/**
 * Reads `set`'s image of `width`×`height` (the original, or a thumbnail) and locks it until `trx`
 * ends: others may read and lock it alike, but replacing or removing the set waits. A background
 * worker holds this on the original while it makes a thumbnail, so the thumbnail can never
 * outlive the original it was made of (see `entity/locks.ts`).
 * @returns the image, or `undefined` when the set has none of that size
 */
export async function lockedImage<I extends ImageEntity>(
  set: ImageSet<I>,
  size: { width: number; height: number },
  trx: Knex.Transaction,
): Promise<I | undefined> {
  const rows = rowsOf(set);
  const query = rows.setQuery(trx).where({ width: size.width, height: size.height });
  const [image] = await lockedRows(query, 'share', trx, rows.info.imageClass.tableName);
  return image as unknown as I | undefined;
}

/** The image set of `owner`'s relation `relationName` that `image` belongs to (its subset columns' values). */
export function imageSetOf(owner: Model, relationName: string, image: ImageEntity): ImageSet {
  const subset: Subset = Object.fromEntries(
    attachmentInfo(owner, relationName).subsetColumns.map((c) => [c, (image as any)[c]]),
  );
  return imageSet(owner, relationName as never, subset);
}

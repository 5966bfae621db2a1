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
import type { NormalizedVariant, ResolvedOutput } from '../imaging/variant-recipe.js';
import { variantTableNames } from '../schema.js';
import type { StoredImage } from '../stores/keys.js';
import type { Store } from '../stores/store.js';
import { textZoneOf } from './created-at.js';
import { makeVariants, type MakeWhich } from './make-variants.js';
import { withExactStamps } from './set-meta.js';
import { decodeVariantRow, variantFileKey, type VariantRow } from './variant-rows.js';
import { declaredVariant, type VariantOutput } from './variants.js';

export { attachmentRelationNames } from './attachment-info.js';
export { concreteStore } from './image.js';
export { listKeptBackups } from './kept-backups.js';
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

/** The relation's variant declarations of `set`, by name (empty when it declares none). */
export function variantDeclarations(set: ImageSet): ReadonlyMap<string, NormalizedVariant> {
  return rowsOf(set).info.variants;
}

/**
 * Makes the outputs of variant `name` of `set`'s current original that are missing (all of its
 * outputs, or those of `outputs`), and returns them as stored: what the queue, the variant route
 * and `regenerate --variants` call. `which: 'all'` remakes them, `'stale'` only the recipe-stale ones.
 * @throws InvalidArgumentError for an undeclared name; ImageNotFoundError when there is no original
 */
export function makeVariantOutputs(
  set: ImageSet,
  name: string,
  outputs?: readonly Pick<ResolvedOutput, 'descriptor' | 'format'>[],
  options: { trx?: Knex.Transaction; store?: Store; which?: MakeWhich } = {},
): Promise<VariantOutput[]> {
  const rows = rowsOf(set);
  return makeVariants(rows, [{ variant: declaredVariant(rows, name), outputs }], {
    trx: options.trx,
    store: concreteStore(options.store),
    which: options.which ?? 'missing',
  });
}

/** A variant row of an image class, with the key of the set it belongs to. */
export interface ListedVariantRow extends VariantRow {
  /** The set's key columns (owner and subset columns) and their values. */
  setKey: Record<string, unknown>;
  /** Its file's key in the store. */
  fileKey: StoredImage;
}

/**
 * Every variant row of the sets of `ownerClass`'s relation `relationName`, in pages of `pageSize`
 * (for `verify --variants`, `--orphans`, `clean --superseded`, `migrate`). Empty when the relation
 * declares no variants.
 */
export async function* listVariantRows(
  knex: Knex,
  ownerClass: typeof Model,
  relationName: string,
  pageSize = 500,
): AsyncGenerator<ListedVariantRow> {
  const owner = new (ownerClass as unknown as new () => Model)();
  const info = attachmentInfo(owner, relationName);
  if (info.variants.size === 0) return;
  const table = variantTableNames(info.imageClass.tableName).variants;
  const keyColumns = [...info.ownerColumns, ...info.subsetColumns];
  const zone = textZoneOf(knex);
  for (let offset = 0; ; offset += pageSize) {
    const page = await withExactStamps<Record<string, any>[]>(
      knex,
      knex(table)
        .orderBy([...keyColumns, 'name', 'descriptor', 'format'])
        .limit(pageSize)
        .offset(offset),
    );
    for (const raw of page) {
      const setKey = Object.fromEntries(keyColumns.map((c) => [c, raw[c]]));
      const image = new info.imageClass();
      Object.assign(image, setKey, { width: 1, height: 1 });
      const row = decodeVariantRow(raw, zone);
      yield { ...row, setKey, fileKey: variantFileKey(image, row) };
    }
    if (page.length < pageSize) return;
  }
}

// For `verify --orphans` over variant namespaces: `<objectType>.<variant>.<digest>`.
export { parseVariantObjectType } from '../stores/keys.js';
export { setVariantEnqueuer, type VariantEnqueuer, type VariantsToMake } from './variant-queue-hook.js';
export { checkCropRect, checkFocalPoint, pickOutput, type MakeWhich } from './make-variants.js';
export { writePlaceholder, readMeta, readCurrentMeta, type SetMeta, type Placeholder } from './set-meta.js';
export { readVariantRows, type VariantRow } from './variant-rows.js';
export { loadedVariantData } from './variant-eager.js';

/**
 * Making one thumbnail of a set's original (`generateThumbnail`): rendered ahead, outside any
 * transaction when it can be, then stored with its row in a short one.
 */
import type { Knex } from 'knex';
import { ImageNotFoundError } from '../errors.js';
import { checkBackground } from '../imaging/background.js';
import { inRenderSlot } from '../imaging/render-slots.js';
import { type SpooledFile, spoolToTempFile } from '../imaging/spool.js';
import { makeThumbnailStream, type ThumbnailSize, thumbnailDimensions, thumbnailMimetype } from '../imaging/thumbnail.js';
import type { Store } from '../stores/store.js';
import { concreteStore, type ImageEntity } from './image.js';
import { FileLedger } from './ledger.js';
import { openForProcessing } from './local-file.js';
import type { ThumbnailOptions } from './set-options.js';
import type { SetRows } from './set-rows.js';

/** A thumbnail rendered ahead into a temp file, and what it was rendered of (see {@link renderKey}). */
export type RenderedAhead = SpooledFile & { of: string };

/**
 * The thumbnail of `size` of the set's original: the image of that size if the set has one (even
 * the original), else a new one. See `ImageSet.generateThumbnail`. `madeAhead` is a render the
 * caller made before its transaction (a queue worker, whose transaction holds locks): used if it
 * is of the original the transaction finds, and left to the caller to dispose of.
 * @throws InvalidArgumentError for a bad size or format; ImageNotFoundError when there is no original
 */
export async function generateThumbnail(rows: SetRows, size: ThumbnailSize, options: ThumbnailOptions, madeAhead?: RenderedAhead): Promise<ImageEntity> {
  // Validate the size and format before any work is done.
  thumbnailDimensions(1, 1, size);
  if (options.format !== undefined) thumbnailMimetype('image/png', options.format);
  checkBackground(options.background, 'options.background');
  const store = concreteStore(options.store);
  // Without a caller's transaction, render before taking one: the database is then held for a
  // row and a file copy, not for the resize (SQLite has one writer: a resize inside the
  // transaction would make every other request wait for it).
  const ownAhead =
    options.trx === undefined && madeAhead === undefined
      ? await renderThumbnailAhead(rows, size, options, store).catch(() => {
          // Only a head start: the transaction below renders again from the rows it reads, and
          // throws whatever error is real (a loaded relation may name an original since replaced).
          return undefined;
        })
      : undefined;
  const ahead = madeAhead ?? ownAhead;
  try {
    const image = await rows.inTransaction(options.trx, async (trx: Knex.Transaction) => {
      const images = (await rows.setQuery(trx)) as unknown as ImageEntity[];
      const original = images.find((i) => i.original);
      if (original === undefined) throw new ImageNotFoundError(`${rows.describe()} has no original image to make a thumbnail of`);
      const { width, height } = thumbnailDimensions(original.width, original.height, size);
      const existing = images.find((i) => i.width === width && i.height === height);
      if (existing !== undefined) return existing;
      const mimetype = thumbnailMimetype(original.mimetype, options.format);
      const row = await rows.insert(trx, { width, height, mimetype, original: false });
      // The render made ahead is used only if it is of this very original, size, type and background.
      const output =
        ahead !== undefined && ahead.of === renderKey(original, width, height, mimetype, options)
          ? ahead.path
          : makeThumbnailStream(await openForProcessing(store, original), width, height, mimetype, rows.limits(options).maxPixels, options.background);
      await FileLedger.of(trx).write(store, row, output, { reproducible: true });
      return row;
    });
    rows.remember(image);
    return image;
  } finally {
    await ownAhead?.dispose();
  }
}

/** Renders the thumbnail to a temp file, outside any transaction; nothing when there is nothing to make. */
export async function renderThumbnailAhead(rows: SetRows, size: ThumbnailSize, options: ThumbnailOptions, store: Store): Promise<RenderedAhead | undefined> {
  // The loaded relation will do (the transaction checks the render against the rows anyway).
  const images = rows.isLoaded ? rows.loadedImages() : ((await rows.setQuery(undefined)) as unknown as ImageEntity[]);
  const original = images.find((i) => i.original);
  // No original (the transaction will say so), or the thumbnail exists: nothing to render.
  if (original === undefined) return undefined;
  const { width, height } = thumbnailDimensions(original.width, original.height, size);
  if (images.some((i) => i.width === width && i.height === height)) return undefined;
  const mimetype = thumbnailMimetype(original.mimetype, options.format);
  const source = await openForProcessing(store, original);
  // In a render slot (see render-slots.ts), so a burst of requests for new sizes renders a few at
  // a time. The render in the transaction below takes none: it must not wait with the database held.
  const spooled = await inRenderSlot(() => spoolToTempFile(makeThumbnailStream(source, width, height, mimetype, rows.limits(options).maxPixels, options.background), Number.MAX_SAFE_INTEGER));
  return { ...spooled, of: renderKey(original, width, height, mimetype, options) };
}

/** What a render made ahead was made of: the original (its creation instant too) and the output. */
function renderKey(original: ImageEntity, width: number, height: number, mimetype: string, options: ThumbnailOptions): string {
  const created = original.created_at instanceof Date ? original.created_at.getTime() : String(original.created_at);
  return `${original.width}x${original.height}:${original.mimetype}:${created}->${width}x${height}:${mimetype}:${JSON.stringify(options.background ?? null)}`;
}

/**
 * Setting a set's focal point or crop: data beside the original (which is never altered), in
 * its meta row. The outputs the change affects are remade as each variant says: `upload` ones now,
 * in the transaction; `queue` ones are handed to the queue after the commit; `demand` ones are
 * deleted, and remade on their next request. Old outputs are never served again.
 */
import type { Knex } from 'knex';
import { ImageNotFoundError } from '../errors.js';
import type { CropRect, FocalPoint } from '../imaging/variant-recipe.js';
import type { Store } from '../stores/store.js';
import type { ImageEntity } from './image.js';
import { affectedBy, afterCommit, makeVariants, uprightSize } from './make-variants.js';
import { readCurrentMeta, upsertMeta } from './set-meta.js';
import type { SetRows } from './set-rows.js';
import { rememberVariantData } from './variant-eager.js';
import { enqueueVariants } from './variant-queue-hook.js';
import { deleteVariantRows, readVariantRows, scheduleVariantFileDeletes } from './variant-rows.js';
import { buffer } from 'node:stream/consumers';

export type FrameChange = { focal: FocalPoint | null } | { crop: CropRect | null };

/** Writes `change` in the set's meta row and remakes what it affects. @throws ImageNotFoundError when the set has no original */
export async function setFrame(
  rows: SetRows,
  change: FrameChange,
  options: { trx?: Knex.Transaction; store: Store },
): Promise<void> {
  const kind = 'focal' in change ? 'focal' : 'crop';
  const affected = affectedBy(rows.info.variants.values(), kind);
  await rows.inTransaction(options.trx, async (trx) => {
    const locked = await rows.lockSet(trx);
    const original = locked.find((image) => image.original);
    if (original === undefined) throw new ImageNotFoundError(`${rows.describe()} has no original image`);
    const current = await readCurrentMeta(trx, rows, original);
    const upright = current
      ? { width: current.sourceWidth, height: current.sourceHeight }
      : await uprightSize(await buffer(await original.openFile({ store: options.store })));
    await upsertMeta(trx, rows, original, upright, change);
    if (affected.length === 0) return;
    const old = await readVariantRows(
      trx,
      rows,
      affected.map((v) => v.name),
    );
    scheduleVariantFileDeletes(trx, rows, await deleteVariantRows(trx, rows, old), options.store);
    const upload = affected.filter((v) => v.make === 'upload');
    if (upload.length > 0) {
      await makeVariants(
        rows,
        upload.map((variant) => ({ variant })),
        { trx, store: options.store, which: 'all' },
      );
    }
    const queued = affected.filter((v) => v.make === 'queue').map((v) => v.name);
    if (queued.length > 0) {
      const { owner, relationName, subset } = rows;
      afterCommit(trx, () => enqueueVariants({ owner, relationName, subset, names: queued, store: options.store }));
    }
  });
  await refreshLoaded(rows, options);
}

/** Reads the set's variant and meta rows again into the loaded original, if the relation is loaded. */
async function refreshLoaded(rows: SetRows, options: { trx?: Knex.Transaction }): Promise<void> {
  if (!rows.isLoaded) return;
  const original = rows.loadedImages().find((image: ImageEntity) => image.original);
  if (original === undefined) return;
  const knex = options.trx ?? (rows.info.imageClass as unknown as { knex(): Knex }).knex();
  rememberVariantData(original, {
    variants: await readVariantRows(knex, rows),
    meta: await readCurrentMeta(knex, rows, original),
  });
}

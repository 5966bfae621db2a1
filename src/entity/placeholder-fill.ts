/**
 * A set's placeholder computed after the fact, from its stored original: what
 * `regenerate --placeholders` does for sets attached before the relation had
 * `placeholder: 'thumbhash'`, or by SQLAlchemy-ImageAttach (whose rows have no meta row yet).
 * The decode runs outside any transaction; the write then checks, under the set's lock, that the
 * original is still the one decoded, so a replacement meanwhile is never given the old picture's
 * placeholder.
 */
import type { Model } from 'objection';
import { placeholderOf, placeholderRaster } from '../imaging/placeholder.js';
import { sharp } from '../imaging/sharp.js';
import type { Store } from '../stores/store.js';
import { spoolToTempFile } from '../util/spool.js';
import { attachmentInfo } from './attachment-info.js';
import { rowsOf, type ImageSet } from './image-set.js';
import { openForProcessing } from './local-file.js';
import { readCurrentMeta, writePlaceholder } from './set-meta.js';

/** Whether the owner's relation computes placeholders (`placeholder: 'thumbhash'`). */
export function placeholderDeclared(owner: Model, relationName: string): boolean {
  return attachmentInfo(owner, relationName).placeholder !== undefined;
}

/** What became of a set: its placeholder written, already there (`onlyMissing`), or skipped. */
export type PlaceholderFill = 'written' | 'present' | 'no-original' | 'replaced';

/**
 * Computes and writes the placeholder of `set` (loaded) for its original; with `onlyMissing`, only
 * when its meta row has none for that original. `'replaced'` when the original was replaced while
 * it was computed (the replacement computes its own at attach, if the relation asks for one).
 * @throws InvalidImageError when the stored original does not decode; ImageNotFoundError without its file
 */
export async function fillPlaceholder(
  set: ImageSet<any>,
  options: { store: Store; onlyMissing?: boolean },
): Promise<PlaceholderFill> {
  const original = set.original;
  if (original === undefined) return 'no-original';
  const rows = rowsOf(set);
  const knex = (rows.info.imageClass as unknown as typeof Model).knex();
  if (options.onlyMissing === true && (await readCurrentMeta(knex, rows, original))?.placeholder !== undefined)
    return 'present';
  const maxPixels = rows.limits({}).maxPixels;
  const opened = await openForProcessing(options.store, original);
  const spooled = typeof opened === 'string' ? undefined : await spoolToTempFile(opened, Number.MAX_SAFE_INTEGER);
  const input = spooled?.path ?? (opened as string);
  let computed;
  try {
    const [placeholder, metadata] = await Promise.all([
      placeholderRaster(input, maxPixels).then(placeholderOf),
      sharp(input, { limitInputPixels: maxPixels }).metadata(),
    ]);
    // The meta row keeps the upright size, as attach writes it (a kept EXIF orientation turns it).
    computed = { placeholder, upright: metadata.autoOrient };
  } finally {
    await spooled?.dispose();
  }
  return rows.inTransaction(undefined, async (trx) => {
    if (!(await rows.holdsOriginal(trx, original))) return 'replaced';
    await writePlaceholder(trx, rows, original, computed.placeholder, computed.upright);
    return 'written';
  });
}

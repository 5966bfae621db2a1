/**
 * `objection-imageattach regenerate --model NAME --width 100,400`: makes thumbnails of those
 * widths for every image set of an image class: anew by default (after a change of format or of
 * the thumbnail pipeline), or only where missing with `--only-missing`. With `--variants NAMES`
 * instead of `--width`, makes the outputs of those named variants (see regenerate-variants.ts).
 *
 * Image sets are found from their originals: each original row names its owner through the
 * owner's `imageAttachment()` relation (the owner class must be listed in the config's models).
 */
import type { Knex } from 'knex';
import type { Model } from 'objection';
import { filesSettled, type ImageEntity } from '../entity/index.js';
import { fillPlaceholder, imageOfSize, placeholderDeclared, type PlaceholderFill } from '../entity/worker-api.js';
import { InvalidArgumentError } from '../errors.js';
import { checkBackground, type ThumbnailBackground } from '../imaging/background.js';
import type { ThumbnailFormat } from '../imaging/thumbnail.js';
import { describeKey } from '../migration/copy.js';
import { countRows, pagedRows } from '../migration/rows.js';
import { keyOf, type Store } from '../stores/store.js';
import { type ConfigRelation, type LoadedConfig, relationNamed, storeNamed } from './config.js';
import { EXIT, UsageError } from './exit.js';
import { liveStoreOnly } from './live-store.js';
import { regenerateVariantsCommand } from './regenerate-variants.js';
import { setOfOriginal } from './set-of-original.js';
import { jsonError, jsonKey, type Output } from './output.js';
import { checked } from '../stores/checked-calls.js';
import * as check from '../util/check.js';

export interface RegenerateFlags {
  model: string;
  /** Optional with `--placeholders`, which can run alone, and with `--variants`. */
  width?: string;
  /** Named variants (comma-separated) to make instead of thumbnails. */
  variants?: string;
  onlyMissing?: boolean;
  /** With `--variants`: only the outputs made by another recipe than the declared one. */
  onlyStale?: boolean;
  /** Compute each set's placeholder too (relations with `placeholder: 'thumbhash'`). */
  placeholders?: boolean;
  format?: string;
  /** What transparency becomes in JPEG thumbnails: `#rrggbb` or `#rgb` (default white). */
  background?: string;
  store?: string;
  /** Write into `--store` even when it is not the config's defaultStore (see {@link liveStoreOnly}). */
  allowNonDefaultStore?: boolean;
}

const FORMATS: readonly ThumbnailFormat[] = ['jpeg', 'png', 'webp', 'avif'];

interface Tally {
  created: number;
  replaced: number;
  /** Thumbnails whose row was there but whose file was missing, made again (`--only-missing`). */
  restored: number;
  present: number;
  failed: Array<{ image: ImageEntity; error: Error }>;
  /** Sets by what `--placeholders` did (see PlaceholderFill). */
  placeholders: Record<PlaceholderFill, number>;
}

export async function regenerateCommand(config: LoadedConfig, flags: RegenerateFlags, out: Output): Promise<number> {
  const relation = relationNamed(config, '--model', flags.model);
  const placeholders = flags.placeholders === true;
  if (flags.variants !== undefined) {
    if (placeholders) throw new UsageError('--placeholders and --variants are two runs: run regenerate once for each');
    return regenerateVariantsCommand(config, relation, flags, out);
  }
  if (flags.width === undefined && !placeholders)
    throw new UsageError(
      'regenerate needs --width (thumbnails of those widths), --variants (named variants) or --placeholders',
    );
  if (flags.onlyStale)
    throw new UsageError('--only-stale remakes variant outputs of an older recipe: it needs --variants');
  if (placeholders) placeholdersDeclared(relation);
  // --placeholders alone makes no thumbnails.
  const widths = flags.width === undefined ? [] : parseWidths(flags.width);
  if (flags.format !== undefined) check.oneOf(flags.format, FORMATS, '--format');
  const format = flags.format as ThumbnailFormat | undefined;
  const background = checkBackground(flags.background, '--background');
  const { name: storeName, store } = storeNamed(config, '--store', flags.store);
  if (flags.allowNonDefaultStore !== true) liveStoreOnly(config, storeName);
  const cls = relation.imageClass;
  const originalsOnly = (query: Knex.QueryBuilder) => void query.where('original', true);
  const total = await countRows(cls, { knex: config.knex, where: originalsOnly });
  const progress = out.progress('regenerate', total, 'image sets');
  const tally: Tally = {
    created: 0,
    replaced: 0,
    restored: 0,
    present: 0,
    failed: [],
    placeholders: { written: 0, present: 0, 'no-original': 0, replaced: 0 },
  };
  let settled = 0;
  try {
    // One set at a time: sharp already spreads each thumbnail over the CPU's cores.
    for await (const original of pagedRows(cls, { knex: config.knex, pageSize: 200, where: originalsOnly })) {
      try {
        await regenerateSet(
          relation,
          original,
          widths,
          { store, format, background, onlyMissing: flags.onlyMissing === true, placeholders },
          tally,
        );
      } catch (error) {
        tally.failed.push({ image: original, error: error instanceof Error ? error : new Error(String(error)) });
      }
      progress.update(++settled);
    }
  } finally {
    progress.stop();
  }
  const what = `${relation.ownerName}.${relation.relationName} (${cls.name}), widths ${widths.join(', ')}${format ? `, as ${format}` : ''}, in ${storeName}`;
  for (const { image, error } of tally.failed)
    out.line(`failed: ${describeKey(keyOf(image))}: ${jsonError(error).code}: ${error.message}`);
  if (widths.length > 0)
    out.line(
      `Regenerated thumbnails of ${settled} image sets of ${what}: ${tally.created} created, ${tally.replaced} replaced, ` +
        `${tally.restored} restored, ${tally.present} already there, ${tally.failed.length} failed.`,
    );
  if (placeholders) {
    const p = tally.placeholders;
    out.line(
      `Placeholders of ${settled} image sets of ${relation.ownerName}.${relation.relationName}: ${p.written} written, ` +
        `${p.present} already there, ${p.replaced} skipped (original replaced meanwhile), ${tally.failed.length} failed.`,
    );
  }
  out.result({
    command: 'regenerate',
    model: `${relation.ownerName}.${relation.relationName}`,
    store: storeName,
    widths,
    format: format ?? null,
    background: background ?? null,
    onlyMissing: flags.onlyMissing === true,
    placeholders: placeholders
      ? {
          written: tally.placeholders.written,
          present: tally.placeholders.present,
          replaced: tally.placeholders.replaced,
        }
      : null,
    sets: settled,
    created: tally.created,
    replaced: tally.replaced,
    restored: tally.restored,
    present: tally.present,
    failed: tally.failed.map(({ image, error }) => ({ key: jsonKey(keyOf(image)), error: jsonError(error) })),
  });
  return tally.failed.length > 0 ? EXIT.PROBLEMS : EXIT.OK;
}

/** @throws UsageError when the relation computes no placeholders: there would be nowhere to show them. */
function placeholdersDeclared(relation: ConfigRelation): void {
  if (placeholderDeclared(relation.ownerClass.fromJson({}, { skipValidation: true }), relation.relationName)) return;
  throw new UsageError(
    `${relation.ownerName}.${relation.relationName} has no placeholder: 'thumbhash' in its imageAttachment() options: ` +
      'add it (and the variantTables() migration for its meta table), then run regenerate --placeholders again.',
    { model: `${relation.ownerName}.${relation.relationName}` },
  );
}

/** `100,400` → `[100, 400]`. @throws InvalidArgumentError naming --width */
export function parseWidths(value: string): number[] {
  const parts = typeof value === 'string' ? value.split(',').map((p) => p.trim()) : [];
  const widths = parts.map((p) => (/^\d+$/.test(p) ? Number(p) : Number.NaN));
  if (widths.length === 0 || widths.some((w) => !Number.isSafeInteger(w) || w < 1)) {
    throw new InvalidArgumentError('--width', 'a comma-separated list of integers >= 1, e.g. 100,400', value);
  }
  return [...new Set(widths)];
}

async function regenerateSet(
  relation: ConfigRelation,
  original: ImageEntity,
  widths: number[],
  options: {
    store: Store;
    format: ThumbnailFormat | undefined;
    background: ThumbnailBackground | undefined;
    onlyMissing: boolean;
    placeholders: boolean;
  },
  tally: Tally,
): Promise<void> {
  const set = setOfOriginal(relation, original);
  await set.load();
  const { store, format, background } = options;
  for (const width of widths) {
    // Any image of that width is the set's thumbnail of it, as generateThumbnail has it (size-match.ts).
    const existing = imageOfSize(set.images, { width });
    if (existing === undefined) {
      await set.findOrCreateThumbnail({ width }, { store, format, background });
      tally.created++;
    } else if (existing.original) {
      // The original is never replaced by a thumbnail of its own size.
      tally.present++;
    } else if (options.onlyMissing) {
      // A row is not enough: its file must be there too, or the thumbnail is made again.
      if ((await checked(store).statFile(existing)) !== null) {
        tally.present++;
      } else {
        await replaceThumbnail(relation, existing, store, (trx) =>
          set.generateThumbnail({ width }, { store, format: formatOf(existing, format), trx }),
        );
        tally.restored++;
      }
    } else {
      await replaceThumbnail(relation, existing, store, (trx) =>
        set.generateThumbnail({ width }, { store, format, background, trx }),
      );
      tally.replaced++;
    }
  }
  // Anew by default, as thumbnails are; --only-missing keeps a placeholder made of this original.
  if (options.placeholders) tally.placeholders[await fillPlaceholder(set, options)]++;
}

/** The format to make a missing thumbnail in: the one asked for, else the one its row names. */
function formatOf(image: ImageEntity, asked: ThumbnailFormat | undefined): ThumbnailFormat | undefined {
  if (asked !== undefined) return asked;
  const format = image.mimetype.replace(/^image\//, '');
  return FORMATS.includes(format as ThumbnailFormat) ? (format as ThumbnailFormat) : undefined;
}

/**
 * Replaces a thumbnail in one transaction: the old row goes, the new one comes. The old file is
 * removed after the commit only if no row points at it any more (a new thumbnail of the same size
 * and type was written over it).
 */
async function replaceThumbnail(
  relation: ConfigRelation,
  old: ImageEntity,
  store: Store,
  make: (trx: Knex.Transaction) => Promise<unknown>,
): Promise<void> {
  let own: Knex.Transaction | undefined;
  try {
    await (relation.imageClass as unknown as typeof Model).transaction(async (trx) => {
      own = trx;
      await old.$query(trx).delete().context({ store });
      await make(trx);
    });
  } finally {
    if (own) await filesSettled(own);
  }
}

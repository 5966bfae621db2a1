/**
 * `objection-imageattach regenerate --model NAME --width 100,400`: makes thumbnails of those
 * widths for every image set of an image class: anew by default (after a change of format or of
 * the thumbnail pipeline), or only where missing with `--only-missing`.
 *
 * Image sets are found from their originals: each original row names its owner through the
 * owner's `imageAttachment()` relation (the owner class must be listed in the config's models).
 */
import type { Knex } from 'knex';
import type { Model } from 'objection';
import { filesSettled, type ImageEntity } from '../entity/index.js';
import {
  fillPlaceholder,
  imageOfSize,
  imageSetOf,
  placeholderDeclared,
  type PlaceholderFill,
} from '../entity/worker-api.js';
import { InvalidArgumentError } from '../errors.js';
import { checkBackground, type ThumbnailBackground } from '../imaging/background.js';
import type { ThumbnailFormat } from '../imaging/thumbnail.js';
import { describeKey } from '../migration/copy.js';
import { countRows, pagedRows } from '../migration/rows.js';
import { keyOf, type Store } from '../stores/store.js';
import { type ConfigRelation, type LoadedConfig, relationNamed, storeNamed } from './config.js';
import { EXIT, UsageError } from './exit.js';
import { jsonError, jsonKey, type Output } from './output.js';
import { checked } from '../stores/checked-calls.js';
import * as check from '../util/check.js';

export interface RegenerateFlags {
  model: string;
  /** Optional with `--placeholders`, which can run alone. */
  width?: string;
  onlyMissing?: boolean;
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
  if (placeholders) placeholdersDeclared(relation);
  // --placeholders alone makes no thumbnails.
  const widths = placeholders && flags.width === undefined ? [] : parseWidths(flags.width!);
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

/**
 * Refuses to write into a store other than the one the app's files live in, which the CLI knows
 * as the config's `defaultStore` (or its only store). Image rows are shared by every store: a
 * thumbnail made in another store gets a row that the live store has no file for, and pages link
 * to a 404 (a replaced one loses its file in the live store too). Only the database names no
 * store, so the config is the one place that says which store is live.
 * @throws UsageError (exit code 2) saying why, and what to run instead
 */
function liveStoreOnly(config: LoadedConfig, storeName: string): void {
  const names = Object.keys(config.stores);
  const live = config.defaultStore ?? (names.length === 1 ? names[0] : undefined);
  if (storeName === live) return;
  const why =
    `regenerate writes image rows, and every store shares the rows: thumbnails made in ${storeName} would have rows ` +
    `whose files are only in ${storeName}`;
  throw new UsageError(
    live === undefined
      ? `Refusing to regenerate in ${storeName}: the config names no defaultStore, so which store the app's files live in is unknown, ` +
          `and ${why}. Set defaultStore in the config to the store the app uses, or pass --allow-non-default-store if ${storeName} is that store.`
      : `Refusing to regenerate in ${storeName}: ${why}, and ${live} (the config's defaultStore, where the app's files live) would answer 404 ` +
          `for them. Run it without --store (or with --store ${live}) and copy the new thumbnails with migrate, or pass ` +
          `--allow-non-default-store if the app now uses ${storeName} (then make it the defaultStore).`,
    { store: storeName, defaultStore: live ?? null },
  );
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
  // The owner needs only its join keys for the set's queries: no query to load it.
  const ownerJson = Object.fromEntries(
    relation.ownerProps.map((prop, i) => [prop, (original as any)[relation.imageProps[i]!]]),
  );
  const owner = relation.ownerClass.fromJson(ownerJson, { skipValidation: true });
  const set = imageSetOf(owner, relation.relationName, original);
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

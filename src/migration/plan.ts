/**
 * `migrate()` and `migrateClass()`: copy every image file the database knows of from one store to
 * another (SQLAlchemy-ImageAttach's `migration.migrate`/`migrate_class`). Both return a {@link MigrationPlan}
 * that does nothing until iterated or executed.
 */
import type { ImageEntity, ImageEntityClass } from '../entity/index.js';
import { InvalidArgumentError } from '../errors.js';
import * as check from '../util/check.js';
import type { ImageKey } from '../stores/keys.js';
import { keyOf, Store } from '../stores/store.js';
import { copyFile, copyImage, describeKey } from './copy.js';
import { assertImageClass, imageClassesOf, type ModelList } from './models.js';
import { countRows, pagedRows } from './rows.js';
import { countVariantRows, pagedVariantFiles, type VariantFile } from './variant-rows.js';
import {
  type MigrationEvent,
  MigrationError,
  type MigrationOptions,
  type MigrationProgress,
  type MigrationReport,
  type ProgressCallback,
} from './types.js';

type ResolvedOptions = Required<Omit<MigrationOptions, 'knex' | 'signal'>> & Pick<MigrationOptions, 'knex' | 'signal'>;

/** One file's outcome, tagged with its slot in the pool. */
type Settled = MigrationEvent & { slot: number };

/** What the plan copies a file of: an image row, or a variant row. */
type Item = { image: ImageEntity; variant?: undefined } | { image?: undefined; variant: VariantFile };

/**
 * A migration that has not run yet. Run it by iterating (`for await (const image of plan)` yields
 * each image once the destination holds it, copied or skipped) or with `execute(onProgress)`.
 * Failed images are not yielded: they are in `progress.failed` (and passed to `onProgress`).
 * The files of variant rows (`<table>_variants`) are copied after each class's images; they are
 * counted in the progress and passed to `onProgress`, but not yielded.
 * In a dry run, each image is yielded once it is known what a real run would do with it.
 * A plan can run again (say, with `skipExisting`), but not twice at once.
 */
export class MigrationPlan implements AsyncIterable<ImageEntity> {
  /** The image classes whose rows the plan walks, in order. */
  readonly classes: readonly ImageEntityClass[];
  readonly source: Store;
  readonly destination: Store;
  private readonly options: ResolvedOptions;
  private current: MigrationProgress | undefined;
  private running = false;

  /** Use {@link migrate} or {@link migrateClass}. */
  constructor(classes: readonly ImageEntityClass[], source: Store, destination: Store, options: MigrationOptions = {}) {
    check.instanceOf(source, Store, 'source');
    check.instanceOf(destination, Store, 'destination');
    if (source === destination)
      throw new InvalidArgumentError('destination', 'a store other than the source', destination);
    this.classes = classes;
    this.source = source;
    this.destination = destination;
    this.options = resolveOptions(options);
  }

  /** The progress of the run under way, or of the last one; `undefined` before any run. */
  get progress(): Readonly<MigrationProgress> | undefined {
    return this.current;
  }

  /** How many files (image rows, plus variant rows unless `variants: false`) the plan covers now. */
  async count(): Promise<number> {
    const { knex, variants } = this.options;
    const counts = await Promise.all(
      this.classes.flatMap((cls) => [
        countRows(cls, { knex }),
        variants ? countVariantRows(cls, knex) : Promise.resolve(0),
      ]),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  [Symbol.asyncIterator](): AsyncIterator<ImageEntity> {
    return this.run(undefined);
  }

  /**
   * Runs the whole migration. `onProgress` is called after each image (copied, skipped or failed)
   * with the run's progress so far and what happened to that image.
   * @returns the final progress: `{ done, copied, total, bytes, skipped, failed }`
   * @throws MigrationError `ERR_MIGRATION_STOPPED` (with `stopOnError`, the image's error as
   *   `cause`), `ERR_MIGRATION_ABORTED`, `ERR_MIGRATION_RUNNING`; database errors as they come
   */
  async execute(onProgress?: ProgressCallback): Promise<MigrationReport> {
    if (onProgress !== undefined) check.func(onProgress, 'onProgress');
    for await (const _image of this.run(onProgress)) {
      // The run does the work; execute only drains it.
    }
    return this.current!;
  }

  private async *run(onProgress: ProgressCallback | undefined): AsyncGenerator<ImageEntity> {
    if (this.running) throw new MigrationError('ERR_MIGRATION_RUNNING', 'This migration plan is already running');
    this.running = true;
    const { concurrency, signal, stopOnError } = this.options;
    const progress: MigrationProgress = { done: 0, copied: 0, total: 0, bytes: 0, skipped: 0, failed: [] };
    this.current = progress;
    const pool = new Map<number, Promise<Settled>>();
    const rows = this.rows();
    let stop: Error | undefined;
    const record = (settled: Settled) => {
      pool.delete(settled.slot);
      const { slot: _slot, ...event } = settled;
      if (event.status === 'failed') {
        progress.failed.push({ key: event.key, image: event.image, variant: event.variant, error: event.error! });
        if (stopOnError && stop === undefined) {
          stop = new MigrationError(
            'ERR_MIGRATION_STOPPED',
            `Migration stopped at ${describeFailed(event)}: ${event.error!.message}`,
            {
              cause: event.error,
              data: { key: event.key },
            },
          );
        }
      } else {
        progress.done++;
        progress.bytes += event.bytes;
        if (event.status === 'skipped') progress.skipped++;
        else progress.copied++;
      }
      onProgress?.(progress, event);
    };
    try {
      progress.total = await this.count();
      let exhausted = false;
      let slot = 0;
      for (;;) {
        if (signal?.aborted && stop === undefined) {
          stop = new MigrationError('ERR_MIGRATION_ABORTED', 'The migration was aborted', { cause: signal.reason });
        }
        while (stop === undefined && !exhausted && pool.size < concurrency) {
          const next = await rows.next();
          if (next.done) exhausted = true;
          else {
            const mine = slot++;
            pool.set(mine, this.settle(next.value, mine));
          }
        }
        if (pool.size === 0) break;
        const settled = await Promise.race(pool.values());
        record(settled);
        if (settled.status !== 'failed' && settled.image !== undefined) yield settled.image;
      }
      if (stop !== undefined) throw stop;
    } finally {
      // Stopped early (a break, an error, an abort): copies under way finish and are counted, so
      // none is cut short and the progress says what the destination holds.
      while (pool.size > 0) record(await Promise.race(pool.values()));
      await rows.return(undefined);
      this.running = false;
    }
  }

  /** Every row of every class, then its variant rows, a page at a time. */
  private async *rows(): AsyncGenerator<Item> {
    const { knex, pageSize, variants } = this.options;
    for (const cls of this.classes) {
      for await (const image of pagedRows(cls, { knex, pageSize })) yield { image };
      if (variants) for await (const variant of pagedVariantFiles(cls, { knex, pageSize })) yield { variant };
    }
  }

  /** Copies one file; never rejects (a failure is an outcome). */
  private async settle(item: Item, slot: number): Promise<Settled> {
    const { image, variant } = item;
    try {
      if (variant !== undefined) {
        const { key } = variant;
        const { status, bytes } = await copyFile(this.source, this.destination, key, {
          ...this.options,
          reproducible: true,
        });
        return { slot, variant, key, status, bytes };
      }
      const { status, bytes } = await copyImage(this.source, this.destination, image, this.options);
      return { slot, image, key: keyOf(image), status, bytes };
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      const key = variant !== undefined ? variant.key : bestEffortKey(image);
      return { slot, image, variant, key, status: 'failed', bytes: 0, error: failure };
    }
  }
}

/**
 * Plans copying the files of every image of `models` from `source` to `destination`; the source
 * is left untouched. `models` lists image classes and/or owner classes (an owner stands for the
 * image classes of its `imageAttachment()` relations), as an array or an object by name.
 * @throws InvalidArgumentError for a bad model, store or option (naming it)
 * @example
 * const report = await migrate([User, Product], oldStore, newStore, { skipExisting: true }).execute();
 * console.log(`${report.copied} copied, ${report.failed.length} failed`);
 */
export function migrate(
  models: ModelList,
  source: Store,
  destination: Store,
  options: MigrationOptions = {},
): MigrationPlan {
  return new MigrationPlan(imageClassesOf(models), source, destination, options);
}

/**
 * Plans copying the files of every image of one image class (originals and thumbnails, and the
 * outputs of its named variants).
 * @throws InvalidArgumentError for a bad class, store or option
 * @example for await (const image of migrateClass(UserPicture, oldStore, newStore)) console.log(image.objectId);
 */
export function migrateClass(
  Model: ImageEntityClass,
  source: Store,
  destination: Store,
  options: MigrationOptions = {},
): MigrationPlan {
  assertImageClass(Model);
  return new MigrationPlan([Model], source, destination, options);
}

function resolveOptions(options: MigrationOptions): ResolvedOptions {
  check.object(options, 'options');
  const integer = (name: keyof MigrationOptions, fallback: number, max: number): number => {
    const value = options[name] ?? fallback;
    check.integerIn(value, 1, max, `options.${name}`);
    return value;
  };
  const flag = (name: keyof MigrationOptions, fallback = false): boolean => {
    const value = options[name] ?? fallback;
    check.boolean(value, `options.${name}`);
    return value;
  };
  if (options.knex !== undefined) check.func(options.knex, 'options.knex', 'a knex instance');
  if (options.signal !== undefined) check.instanceOf(options.signal, AbortSignal, 'options.signal', 'an AbortSignal');
  return {
    concurrency: integer('concurrency', 4, 256),
    pageSize: integer('pageSize', 500, 100_000),
    skipExisting: flag('skipExisting'),
    verify: flag('verify'),
    stopOnError: flag('stopOnError'),
    dryRun: flag('dryRun'),
    variants: flag('variants', true),
    knex: options.knex,
    signal: options.signal,
  };
}

/** The key of an image whose key may not compute (a model whose objectId getter throws). */
function bestEffortKey(image: ImageEntity): ImageKey {
  const attempt = <T>(read: () => T): T | undefined => {
    try {
      return read();
    } catch {
      // This is for an error report: a part that cannot be read is left out, the error says why.
      return undefined;
    }
  };
  return {
    objectType: attempt(() => image.objectType)!,
    objectId: attempt(() => image.objectId)!,
    width: image.width,
    height: image.height,
    mimetype: image.mimetype,
  };
}

function describeFailed(event: MigrationEvent): string {
  try {
    return describeKey(event.key);
  } catch {
    // A key that could not be read whole: name the row instead.
    return event.image
      ? `${event.image.constructor.name} ${JSON.stringify(event.image.$id())}`
      : `variant ${event.variant?.name ?? '?'}`;
  }
}

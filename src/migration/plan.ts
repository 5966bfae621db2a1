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
import { copyImage, describeKey } from './copy.js';
import { assertImageClass, imageClassesOf, type ModelList } from './models.js';
import { countRows, pagedRows } from './rows.js';
import {
  type MigrationEvent,
  MigrationError,
  type MigrationOptions,
  type MigrationProgress,
  type MigrationReport,
  type ProgressCallback,
} from './types.js';

type ResolvedOptions = Required<Omit<MigrationOptions, 'knex' | 'signal'>> & Pick<MigrationOptions, 'knex' | 'signal'>;

/** One image's outcome, tagged with its slot in the pool. */
type Settled = MigrationEvent & { slot: number };

/**
 * A migration that has not run yet. Run it by iterating (`for await (const image of plan)` yields
 * each image once the destination holds it, copied or skipped) or with `execute(onProgress)`.
 * Failed images are not yielded: they are in `progress.failed` (and passed to `onProgress`).
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

  /** How many images (rows) the plan covers now. */
  async count(): Promise<number> {
    const counts = await Promise.all(this.classes.map((cls) => countRows(cls, { knex: this.options.knex })));
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
        progress.failed.push({ key: event.key, image: event.image, error: event.error! });
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
        if (settled.status !== 'failed') yield settled.image;
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

  /** Every row of every class, a page at a time. */
  private async *rows(): AsyncGenerator<ImageEntity> {
    for (const cls of this.classes) yield* pagedRows(cls, { knex: this.options.knex, pageSize: this.options.pageSize });
  }

  /** Copies one image; never rejects (a failure is an outcome). */
  private async settle(image: ImageEntity, slot: number): Promise<Settled> {
    try {
      const { status, bytes } = await copyImage(this.source, this.destination, image, this.options);
      return { slot, image, key: keyOf(image), status, bytes };
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      return { slot, image, key: bestEffortKey(image), status: 'failed', bytes: 0, error: failure };
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
 * Plans copying the files of every image of one image class (originals and thumbnails).
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
  const flag = (name: keyof MigrationOptions): boolean => {
    const value = options[name] ?? false;
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
    return `${event.image.constructor.name} ${JSON.stringify(event.image.$id())}`;
  }
}

/**
 * `thumbnailQueue()`: thumbnails made by background workers (BullMQ on Redis) instead of in the
 * web request, as SQLAlchemy-ImageAttach recommends for apps that outgrow one process.
 */
import type { Queue } from 'bullmq';
import type { Model } from 'objection';
import { ImageAttachError, InvalidArgumentError } from '../errors.js';
import { imageSet } from '../entity/index.js';
import { imageOfSize, reusableImage, setVariantEnqueuer, type VariantEnqueuer } from '../entity/worker-api.js';
import { checkBackground, type ThumbnailBackground } from '../imaging/background.js';
import {
  type ThumbnailFormat,
  type ThumbnailSize,
  thumbnailDimensions,
  thumbnailMimetype,
} from '../imaging/thumbnail.js';
import type { Store } from '../stores/store.js';
import * as check from '../util/check.js';
import { closeOwned, loadBullMQ, type RedisClientLike, redisClient } from './connection.js';
import type { EnqueueOptions, ThumbnailRequest } from './requests.js';
import {
  encodeValue,
  identityOf,
  jobIdOf,
  type JobData,
  type ThumbnailJobData,
  thumbnailJobId,
  variantJobId,
} from './job.js';
import {
  resolveQueueOptions,
  type ResolvedQueueOptions,
  type ThumbnailQueueOptions,
  type ThumbnailWorkerOptions,
  checkWorkerOptions,
} from './options.js';
import type { JobResult } from './process.js';
import { checkedVariantNames, variantJobData } from './variant-requests.js';
import { startWorker, type ThumbnailWorker } from './worker.js';

export type { EnqueueOptions, ThumbnailRequest } from './requests.js';

/** What `enqueue` did for one request. */
export interface EnqueuedThumbnail {
  request: ThumbnailRequest;
  /** The thumbnail's size, by the truncation rule. */
  width: number;
  height: number;
  /** `queued`: a job waits for it (a new one, or one already pending); `exists`: nothing to do. */
  status: 'queued' | 'exists';
  jobId: string | undefined;
}

/** What `enqueueVariants` did. */
export interface EnqueuedVariants {
  /** The variants with outputs to make (those of a job); the others had all theirs. */
  variants: string[];
  /** `queued`: a job waits for them (a new one, or one already pending); `exists`: nothing to do. */
  status: 'queued' | 'exists';
  jobId: string | undefined;
}

/**
 * A thumbnail queue. Web processes `enqueue`; worker processes run `worker()`. Both make their
 * queue with the same options (one module of the app, imported by both).
 */
export class ThumbnailQueue {
  private readonly options: ResolvedQueueOptions;
  private producer: Promise<{ queue: Queue<JobData, JobResult>; client: RedisClientLike; owned: boolean }> | undefined;
  private readonly workers = new Set<ThumbnailWorker>();
  /** The function this queue bound with {@link queueVariantsAfterCommit}, to unbind it on close. */
  private enqueuer: VariantEnqueuer | undefined;

  /** Made by {@link thumbnailQueue}, which is the documented way. */
  constructor(options: ThumbnailQueueOptions) {
    this.options = resolveQueueOptions(options);
  }

  /** The BullMQ queue's name. */
  get name(): string {
    return this.options.queueName;
  }

  /**
   * Queues thumbnails of the original of `owner`'s `relationName` set, one job per request; call
   * it once the attach has committed. The same thumbnail of the same original queued again, while
   * its job is pending, joins that job (its id is a hash of owner, set, size, format, store and
   * original), so enqueueing on every page view costs no extra work. A job for a failed one
   * replaces it. Reads the original from the loaded relation, or with one query.
   * @returns one entry per request, in order
   * @throws InvalidArgumentError for an owner not among `models`, an unknown relation, subset or
   *   store, or a bad size or format; ImageNotFoundError when the set has no original;
   *   ImageAttachError `ERR_QUEUE_UNAVAILABLE` (503) when Redis does not answer in `enqueueTimeout`
   * @example
   * await imageSet(user, 'picture').fromFile(upload.path);
   * await queue.enqueue(user, 'picture', [{ width: 100 }, { width: 400, format: 'webp' }]);
   */
  async enqueue(
    owner: Model,
    relationName: string,
    requests: ThumbnailRequest[],
    options: EnqueueOptions = {},
  ): Promise<EnqueuedThumbnail[]> {
    const model = this.modelNameOf(owner);
    const store = this.storeNameOf(options.store);
    const set = imageSet(owner as Model, relationName, options.subset ?? {});
    if (!Array.isArray(requests) || requests.length === 0)
      throw new InvalidArgumentError('requests', 'a non-empty array of { width }, { height } or { ratio }', requests);
    const sizes = requests.map((request) => splitRequest(request));
    if (!set.isLoaded) await set.load();
    const original = set.requireOriginal();
    const base = {
      v: 1 as const,
      model,
      id: encodeValue(owner.$id()),
      relation: relationName,
      subset: Object.fromEntries(Object.entries(set.subset).map(([column, value]) => [column, encodeValue(value)])),
      store,
      original: identityOf(original),
    };
    const results: EnqueuedThumbnail[] = [];
    const jobs: ThumbnailJobData[] = [];
    for (const [index, { size, format, background }] of sizes.entries()) {
      // An image the set has answers first, as generateThumbnail would have it (size-match.ts).
      const reused = reusableImage(set.images, size);
      const { width, height } = reused ?? thumbnailDimensions(original.width, original.height, size);
      const exists = reused !== undefined || imageOfSize(set.images, { width, height }) !== undefined;
      if (exists && !options.force) {
        results.push({ request: requests[index]!, width, height, status: 'exists', jobId: undefined });
        continue;
      }
      const data: ThumbnailJobData = {
        ...base,
        size,
        ...(format === undefined ? {} : { format }),
        ...(background === undefined ? {} : { background }),
      };
      jobs.push(data);
      results.push({ request: requests[index]!, width, height, status: 'queued', jobId: thumbnailJobId(data) });
    }
    if (jobs.length > 0) await this.withinTimeout(this.add(jobs));
    return results;
  }

  /**
   * Queues the outputs of named variants (`imageAttachment(…, { variants })`) that the original of
   * `owner`'s set lacks, in one job; call it once the attach has committed (for `make: 'queue'`
   * variants), or let the HTML helpers call it for what a page could not show. By default, every
   * `make: 'queue'` variant. Queued again while pending, the same outputs of the same original join
   * that job; a worker makes only what is still missing when it runs, so it is idempotent.
   * @throws InvalidArgumentError for a name the relation does not declare (and as {@link enqueue});
   *   ImageNotFoundError when the set has no original; `ERR_QUEUE_UNAVAILABLE` as {@link enqueue}
   * @example
   * await imageSet(user, 'picture').fromFile(upload.path);
   * await queue.enqueueVariants(user, 'picture');
   */
  async enqueueVariants(
    owner: Model,
    relationName: string,
    names?: string[],
    options: EnqueueOptions = {},
  ): Promise<EnqueuedVariants> {
    const model = this.modelNameOf(owner);
    const store = this.storeNameOf(options.store);
    const set = imageSet(owner as Model, relationName, options.subset ?? {});
    const wanted = checkedVariantNames(set, names);
    if (!set.isLoaded) await set.load();
    const data = variantJobData(set, wanted, { model, store, force: options.force === true });
    if (data === undefined) return { variants: [], status: 'exists', jobId: undefined };
    await this.withinTimeout(this.add([data]));
    return { variants: data.variants, status: 'queued', jobId: variantJobId(data) };
  }

  /**
   * Has every attach, replacement, `setFocalPoint` and `setCrop` of this process queue its
   * `make: 'queue'` variant outputs here once it has committed (`enqueueVariants`), instead of
   * leaving them missing until a page asks. Process-wide: one queue takes them; `close()` unbinds it.
   * A failed enqueue is a process warning (the outputs stay missing, never wrong).
   * @example export const queue = thumbnailQueue({ … }).queueVariantsAfterCommit();
   */
  queueVariantsAfterCommit(): this {
    this.enqueuer = async ({ owner, relationName, subset, names, store }) => {
      // A shallow copy reads the committed rows: the owner's loaded relation may not have them yet.
      // force: what a commit hands over is to be made (a new original, a moved focal point); the worker checks.
      await this.enqueueVariants(owner.$clone({ shallow: true }), relationName, names, { subset, store, force: true });
    };
    setVariantEnqueuer(this.enqueuer);
    return this;
  }

  /**
   * Starts a worker in this process: it runs jobs `concurrency` at a time, each in a transaction
   * of its own and with the job's store bound (`withStore`), until closed.
   * @throws InvalidArgumentError for a bad option; ImageAttachError `ERR_MISSING_DEPENDENCY`
   *   without bullmq/ioredis
   * @example
   * const worker = (await queue.worker({ concurrency: 2 })).closeOnSignals();
   */
  async worker(options: ThumbnailWorkerOptions = {}): Promise<ThumbnailWorker> {
    checkWorkerOptions(options);
    const worker = await startWorker(this.options, options, (w) => this.workers.delete(w));
    this.workers.add(worker);
    return worker;
  }

  /** The BullMQ queue, for what this class does not cover (counts, dashboards, cleaning). */
  async bullQueue(): Promise<Queue<JobData, JobResult>> {
    return (await this.connectProducer()).queue;
  }

  /** Closes every worker this queue started (gracefully), then the queue's own connection. */
  async close(): Promise<void> {
    if (this.enqueuer !== undefined) {
      // Unbinds only its own: another queue may have been bound since.
      const current = setVariantEnqueuer(undefined);
      if (current !== this.enqueuer) setVariantEnqueuer(current);
      this.enqueuer = undefined;
    }
    await Promise.all([...this.workers].map((worker) => worker.close()));
    const producer = this.producer;
    this.producer = undefined;
    if (producer === undefined) return;
    const { queue, client, owned } = await producer;
    await queue.close();
    if (owned) await closeOwned(client);
  }

  /** `work`, or `ERR_QUEUE_UNAVAILABLE` once `enqueueTimeout` has passed (the work goes on). */
  private async withinTimeout<T>(work: Promise<T>): Promise<T> {
    const ms = this.options.enqueueTimeout;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new ImageAttachError(
              'ERR_QUEUE_UNAVAILABLE',
              `Redis did not answer within ${ms} ms: the thumbnails are not queued`,
              { statusCode: 503 },
            ),
          ),
        ms,
      );
    });
    // A late failure of the abandoned work has nobody to tell: the timeout error was the answer.
    work.catch(() => undefined);
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async add(jobs: JobData[]): Promise<void> {
    const { queue } = await this.connectProducer();
    const ids = jobs.map(jobIdOf);
    // A failed job keeps its id (for inspection) and would swallow the new one: replace it.
    const states = await Promise.all(ids.map((id) => queue.getJobState(id)));
    await Promise.all(ids.filter((_, i) => states[i] === 'failed').map((id) => queue.remove(id)));
    const { attempts, backoff, keepFailed } = this.options;
    await queue.addBulk(
      jobs.map((data, i) => ({
        name: 'kind' in data ? data.kind : 'thumbnail',
        data,
        opts: {
          jobId: ids[i]!,
          attempts,
          backoff: { type: 'exponential', delay: backoff },
          // Gone once done, so the id is free for a later request of the same thumbnail.
          removeOnComplete: true,
          removeOnFail:
            keepFailed.age === undefined
              ? { count: keepFailed.count! }
              : { age: keepFailed.age, count: keepFailed.count },
        },
      })),
    );
  }

  private connectProducer() {
    this.producer ??= (async () => {
      const { Queue } = await loadBullMQ();
      const { client, owned } = await redisClient(this.options.connection);
      const queue = new Queue<JobData, JobResult>(this.options.queueName, {
        connection: client as never,
        ...(this.options.prefix === undefined ? {} : { prefix: this.options.prefix }),
      });
      // Errors surface on the calls that hit them; without a listener they would crash the process.
      queue.on('error', () => undefined);
      return { queue, client, owned };
    })();
    return this.producer;
  }

  private modelNameOf(owner: Model): string {
    const entries = Object.entries(this.options.models);
    const found =
      entries.find(([, cls]) => owner?.constructor === cls) ?? entries.find(([, cls]) => owner instanceof cls);
    if (found === undefined) {
      throw new InvalidArgumentError(
        'owner',
        `an instance of one of the queue's models (${entries.map(([name]) => name).join(', ')})`,
        owner,
      );
    }
    return found[0];
  }

  private storeNameOf(store: string | Store | undefined): string {
    const { stores, defaultStore } = this.options;
    if (store === undefined) return defaultStore;
    if (typeof store === 'string' && Object.hasOwn(stores, store)) return store;
    const byInstance = Object.entries(stores).find(([, s]) => s === store);
    if (byInstance) return byInstance[0];
    throw new InvalidArgumentError(
      'options.store',
      `the name or instance of one of the queue's stores (${Object.keys(stores).join(', ')})`,
      store,
    );
  }
}

/**
 * Makes a thumbnail queue. Nothing connects until the first `enqueue` or `worker()`; bullmq and
 * ioredis are loaded then, so apps without a queue need neither.
 * @throws InvalidArgumentError for a bad option (named in the message)
 * @example
 * export const queue = thumbnailQueue({ connection: process.env.REDIS_URL!, models: { User }, stores: { default: store } });
 */
export function thumbnailQueue(options: ThumbnailQueueOptions): ThumbnailQueue {
  return new ThumbnailQueue(options);
}

/** Checks a request and splits it into the size, the format and the background. */
function splitRequest(request: ThumbnailRequest): {
  size: ThumbnailSize;
  format: ThumbnailFormat | undefined;
  background: ThumbnailBackground | undefined;
} {
  check.object(request, 'requests[]', '{ width }, { height } or { ratio }');
  const { format, background, ...size } = request as ThumbnailRequest & Record<string, unknown>;
  const extra = Object.keys(size).filter((key) => !['width', 'height', 'ratio'].includes(key));
  if (extra.length > 0)
    throw new InvalidArgumentError('requests[]', '{ width }, { height } or { ratio }, and an optional format', request);
  // Both checks throw the library's usual messages (for width, format, …).
  thumbnailDimensions(1, 1, size as ThumbnailSize);
  if (format !== undefined) thumbnailMimetype('image/png', format);
  checkBackground(background, 'requests[].background');
  return { size: size as ThumbnailSize, format, background };
}

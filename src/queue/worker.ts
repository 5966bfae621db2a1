/**
 * A worker: a BullMQ worker that runs thumbnail and variant jobs, and shuts down gracefully.
 */
import type { Job, Worker } from 'bullmq';
import { ImageAttachError } from '../errors.js';
import { closeOwned, loadBullMQ, type RedisClientLike, redisClient } from './connection.js';
import { isVariantJob, type JobData, parseJobData } from './job.js';
import type { ResolvedQueueOptions, ThumbnailWorkerOptions } from './options.js';
import { isPermanent, type JobResult, runThumbnailJob, runVariantJob } from './process.js';

/** What made a job fail for good, kept on the error BullMQ is given. */
const causes = new WeakMap<Error, Error>();

/**
 * A running worker. Make one with `queue.worker()`; stop it with {@link close}.
 */
export class ThumbnailWorker {
  private closing: Promise<void> | undefined;
  private readonly signalHandlers = new Map<NodeJS.Signals, () => void>();
  private markClosed!: () => void;
  /**
   * Resolves once the worker has closed, whoever closed it: a worker script awaits it before it
   * closes what else it holds (the database).
   * @example (await queue.worker()).closeOnSignals().closed.then(() => knex.destroy())
   */
  readonly closed = new Promise<void>((resolve) => (this.markClosed = resolve));

  /** Made by `queue.worker()`, which is the documented way (it keeps the queue's list of workers). */
  constructor(
    /** The BullMQ worker, for what this class does not cover (metrics, pause, events). */
    readonly bullWorker: Worker<JobData, JobResult>,
    private readonly client: RedisClientLike,
    private readonly ownsClient: boolean,
    private readonly onClosed: (worker: ThumbnailWorker) => void,
  ) {}

  /**
   * Stops taking jobs, waits for the jobs it is running to finish (they are completed or failed
   * as usual, never cut off), then closes its Redis connection. Calling it again returns the
   * same promise.
   *
   * A worker killed instead (SIGKILL, a crash) does not lose its jobs either: another worker
   * takes them up once their lock expires (`lockDuration`, checked every `stalledInterval`).
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const [signal, handler] of this.signalHandlers) process.off(signal, handler);
      this.signalHandlers.clear();
      try {
        await this.bullWorker.close();
      } finally {
        if (this.ownsClient) await closeOwned(this.client);
        this.onClosed(this);
        this.markClosed();
      }
    })();
    return this.closing;
  }

  /**
   * Closes the worker (see {@link close}) on the first of `signals`; a second signal exits at
   * once with code 130, leaving running jobs to be taken up by another worker. For worker scripts.
   * @example (await queue.worker({ concurrency: 2 })).closeOnSignals();
   */
  closeOnSignals(signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM']): this {
    for (const signal of signals) {
      const handler = () => {
        if (this.closing) process.exit(130);
        void this.close();
      };
      this.signalHandlers.set(signal, handler);
      process.on(signal, handler);
    }
    return this;
  }
}

/** Starts a worker for the queue `options` describe. */
export async function startWorker(
  options: ResolvedQueueOptions,
  workerOptions: ThumbnailWorkerOptions,
  onClosed: (worker: ThumbnailWorker) => void,
): Promise<ThumbnailWorker> {
  const { Worker, UnrecoverableError } = await loadBullMQ();
  const { client, owned } = await redisClient(workerOptions.connection ?? options.connection);
  const registry = { models: options.models, stores: options.stores };

  const processor = async (job: Job<JobData, JobResult>): Promise<JobResult> => {
    try {
      const data = parseJobData(job.data);
      return await (isVariantJob(data) ? runVariantJob(data, registry) : runThumbnailJob(data, registry));
    } catch (error) {
      if (!isPermanent(error)) throw error;
      // No retry can cure it: tell BullMQ to fail the job now.
      const { code, message } = error as ImageAttachError;
      const unrecoverable = new UnrecoverableError(`${code}: ${message}`);
      causes.set(unrecoverable, error as Error);
      throw unrecoverable;
    }
  };

  const bullWorker = new Worker<JobData, JobResult>(options.queueName, processor, {
    connection: client as never,
    ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
    concurrency: workerOptions.concurrency ?? 1,
    ...(workerOptions.lockDuration === undefined ? {} : { lockDuration: workerOptions.lockDuration }),
    ...(workerOptions.stalledInterval === undefined ? {} : { stalledInterval: workerOptions.stalledInterval }),
    ...(workerOptions.maxStalledCount === undefined ? {} : { maxStalledCount: workerOptions.maxStalledCount }),
  });

  // An 'error' without a listener would crash the process; a worker outlives Redis hiccups.
  bullWorker.on('error', (error) => {
    if (workerOptions.onError) workerOptions.onError(error);
    else
      process.emitWarning(
        new ImageAttachError('ERR_QUEUE_WORKER', `objection-imageattach: thumbnail worker error: ${error.message}`, {
          cause: error,
        }),
      );
  });
  const { onCompleted, onFailed } = workerOptions;
  if (onCompleted) {
    bullWorker.on('completed', (job, result) => onCompleted({ jobId: job.id!, data: job.data, result }));
  }
  if (onFailed) {
    bullWorker.on('failed', (job, error) => {
      const attempts = job?.opts.attempts ?? 1;
      const attemptsMade = job?.attemptsMade ?? 0;
      const cause = causes.get(error);
      onFailed({
        jobId: job?.id,
        data: job?.data,
        error: cause ?? error,
        attemptsMade,
        final: cause !== undefined || error instanceof UnrecoverableError || attemptsMade >= attempts,
      });
    });
  }
  try {
    await bullWorker.waitUntilReady();
  } catch (error) {
    await bullWorker.close(true).catch(() => undefined);
    if (owned) await closeOwned(client);
    throw error;
  }
  return new ThumbnailWorker(bullWorker, client, owned, onClosed);
}

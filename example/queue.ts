/**
 * The thumbnail queue, when `REDIS_URL` is set: the web app enqueues, `npm run worker` processes
 * (worker.ts) make the thumbnails. Both build it here, with the same names for the models and
 * the store, since the jobs they share name them.
 */
import type { Knex } from 'knex';
import { Model } from 'objection';
import {
  type CompletedJob,
  type FailedJob,
  type ThumbnailQueue,
  thumbnailQueue,
  type ThumbnailWorker,
} from 'objection-imageattach/queue';
import { type Store } from 'objection-imageattach';
import type { AppOptions } from './app.js';
import { connect, migrate } from './database.js';
import { User } from './models.js';
import { makeStorage } from './store.js';

/** The example's queue on `redisUrl`; nothing connects until the first enqueue or worker. */
export function exampleQueue(redisUrl: string, store: Store, queueName?: string): ThumbnailQueue {
  return thumbnailQueue({
    connection: redisUrl,
    ...(queueName === undefined ? {} : { queueName }),
    // Names, not classes, go into the jobs: keep them when renaming a class.
    models: { User },
    stores: { default: store },
  });
}

export interface WorkerOptions extends Omit<AppOptions, 'redisUrl'> {
  redisUrl: string;
  /** Jobs at once. Default 1: sharp already uses every core for one image. */
  concurrency?: number;
  onCompleted?: (event: CompletedJob) => void;
  onFailed?: (event: FailedJob) => void;
}

export interface ExampleWorker {
  worker: ThumbnailWorker;
  queue: ThumbnailQueue;
  knex: Knex;
  /** Closes the worker (letting its running jobs finish), the queue, then the database. */
  close(): Promise<void>;
}

/**
 * A worker on the example's data: the same database and store the app uses (DATA_DIR,
 * DATABASE_URL, S3_BUCKET…), so what it makes is what the app's pages show.
 */
export async function startExampleWorker(options: WorkerOptions): Promise<ExampleWorker> {
  const { store } = makeStorage(options.dataDir, options.s3);
  const knex = connect(options.dataDir, options.databaseUrl);
  let queue: ThumbnailQueue | undefined;
  try {
    // A worker started before the app still finds its tables.
    await migrate(knex);
    Model.knex(knex);
    queue = exampleQueue(options.redisUrl, store, options.queueName);
    const worker = await queue.worker({
      concurrency: options.concurrency,
      onCompleted: options.onCompleted,
      onFailed: options.onFailed,
    });
    const running = queue;
    let closing: Promise<void> | undefined;
    return {
      worker,
      queue,
      knex,
      close() {
        closing ??= (async () => {
          await worker.close();
          await running.close();
          await knex.destroy();
        })();
        return closing;
      },
    };
  } catch (error) {
    await queue?.close().catch(() => undefined);
    await knex.destroy();
    throw error;
  }
}

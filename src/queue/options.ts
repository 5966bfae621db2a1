/**
 * Options of the thumbnail queue and its workers, checked where they are given.
 */
import type { Model } from 'objection';
import { InvalidArgumentError } from '../errors.js';
import * as check from '../util/check.js';
import type { Store } from '../stores/store.js';
import { isRedisClient, type RedisConnection } from './connection.js';
import type { JobData } from './job.js';
import type { JobResult } from './process.js';

export interface ThumbnailQueueOptions {
  /** Where Redis is: a URL, ioredis options, or a client (see {@link RedisConnection}). */
  connection: RedisConnection;
  /** The BullMQ queue's name. Default `objection-imageattach-thumbnails`. */
  queueName?: string;
  /** BullMQ's Redis key prefix. Default BullMQ's (`bull`). */
  prefix?: string;
  /**
   * The owner models jobs may name, by a name that is stable across deploys (jobs outlive
   * processes): `{ User, Product }`. Web and worker processes must give the same names.
   */
  models: Record<string, typeof Model>;
  /** The stores jobs may name, likewise: `{ default: store }`. */
  stores: Record<string, Store>;
  /** The store a job uses when `enqueue` names none. Default: the first of `stores`. */
  defaultStore?: string;
  /** Tries per job, the first included. Default 5. */
  attempts?: number;
  /** Milliseconds before the first retry; each later retry waits twice as long. Default 1000. */
  backoff?: number;
  /**
   * How long failed jobs are kept for inspection (BullMQ's `removeOnFail`): seconds and/or a
   * count. Default 7 days. Enqueueing the same thumbnail again replaces a failed job.
   */
  keepFailed?: { age?: number; count?: number };
  /**
   * Milliseconds `enqueue` waits for Redis before it fails with `ERR_QUEUE_UNAVAILABLE` (503), so a
   * request is not held up while Redis is down (the client goes on reconnecting). Default 5000.
   */
  enqueueTimeout?: number;
}

export interface ThumbnailWorkerOptions {
  /** Jobs this worker runs at once. Default 1 (sharp already uses every core for one image). */
  concurrency?: number;
  /**
   * Milliseconds a job's lock lasts without renewal; a worker that dies holding jobs gives them
   * up this long after its last renewal. Default 30000 (BullMQ's).
   */
  lockDuration?: number;
  /** Milliseconds between checks for jobs whose worker died (stalled jobs). Default 30000. */
  stalledInterval?: number;
  /** Times a job may stall (its worker dying) before it fails. Default 1. */
  maxStalledCount?: number;
  /** A Redis connection for this worker, instead of the queue's. */
  connection?: RedisConnection;
  /** Called after each job that succeeded (skipped ones included). */
  onCompleted?: (event: CompletedJob) => void;
  /** Called after each failed attempt; `final` is true when the job will not be tried again. */
  onFailed?: (event: FailedJob) => void;
  /** Called for worker errors outside jobs (a lost Redis connection). Default: a process warning. */
  onError?: (error: Error) => void;
}

export interface CompletedJob {
  jobId: string;
  data: JobData;
  result: JobResult;
}

export interface FailedJob {
  jobId: string | undefined;
  data: JobData | undefined;
  error: Error;
  /** Attempts made so far, this one included. */
  attemptsMade: number;
  /** True when the job failed for good: out of attempts, or an error no retry can cure. */
  final: boolean;
}

export interface ResolvedQueueOptions {
  connection: RedisConnection;
  queueName: string;
  prefix: string | undefined;
  models: Readonly<Record<string, typeof Model>>;
  stores: Readonly<Record<string, Store>>;
  defaultStore: string;
  attempts: number;
  backoff: number;
  keepFailed: { age?: number; count?: number };
  enqueueTimeout: number;
}

export const DEFAULT_QUEUE_NAME = 'objection-imageattach-thumbnails';

/** @throws InvalidArgumentError naming the bad option */
export function resolveQueueOptions(options: ThumbnailQueueOptions): ResolvedQueueOptions {
  check.object(options, 'options');
  const { connection } = options;
  if (
    !(typeof connection === 'string' && connection !== '') &&
    !(connection !== null && typeof connection === 'object')
  ) {
    throw new InvalidArgumentError('options.connection', 'a Redis URL, ioredis options or a Redis client', connection);
  }
  if (typeof connection === 'string' && !/^rediss?:\/\//.test(connection)) {
    throw new InvalidArgumentError('options.connection', 'a redis:// or rediss:// URL', connection);
  }
  const queueName = options.queueName ?? DEFAULT_QUEUE_NAME;
  if (typeof queueName !== 'string' || queueName === '' || queueName.includes(':')) {
    throw new InvalidArgumentError('options.queueName', 'a non-empty string without ":"', queueName);
  }
  if (options.prefix !== undefined) check.nonEmptyString(options.prefix, 'options.prefix');
  const models = checkRecord<typeof Model>(
    options.models,
    'options.models',
    'Objection model class',
    (m) =>
      typeof m === 'function' &&
      typeof (m as typeof Model).query === 'function' &&
      typeof (m as typeof Model).getRelations === 'function',
  );
  // The Store class is checked by shape, so a store from another copy of the library passes too.
  const stores = checkRecord<Store>(
    options.stores,
    'options.stores',
    'Store',
    (s) =>
      s !== null &&
      typeof s === 'object' &&
      typeof (s as Store).putFile === 'function' &&
      typeof (s as Store).open === 'function',
  );
  const defaultStore = options.defaultStore ?? Object.keys(stores)[0]!;
  if (!Object.hasOwn(stores, defaultStore)) {
    throw new InvalidArgumentError(
      'options.defaultStore',
      `the name of one of options.stores (${Object.keys(stores).join(', ')})`,
      options.defaultStore,
    );
  }
  const attempts = options.attempts ?? 5;
  check.positiveInteger(attempts, 'options.attempts');
  const backoff = options.backoff ?? 1000;
  check.integerAtLeast(backoff, 0, 'options.backoff', 'milliseconds');
  const keepFailed = options.keepFailed ?? { age: 7 * 24 * 3600 };
  if (
    keepFailed === null ||
    typeof keepFailed !== 'object' ||
    (keepFailed.age === undefined && keepFailed.count === undefined)
  ) {
    throw new InvalidArgumentError('options.keepFailed', '{ age } and/or { count }', keepFailed);
  }
  for (const key of ['age', 'count'] as const) {
    const value = keepFailed[key];
    if (value !== undefined) check.integerAtLeast(value, 0, `options.keepFailed.${key}`);
  }
  const enqueueTimeout = options.enqueueTimeout ?? 5000;
  check.positiveInteger(enqueueTimeout, 'options.enqueueTimeout', 'milliseconds');
  return {
    connection,
    queueName,
    prefix: options.prefix,
    models,
    stores,
    defaultStore,
    attempts,
    backoff,
    keepFailed: { ...keepFailed },
    enqueueTimeout,
  };
}

/** @throws InvalidArgumentError naming the bad option */
export function checkWorkerOptions(options: ThumbnailWorkerOptions): void {
  check.object(options, 'options');
  for (const [name, min] of [
    ['concurrency', 1],
    ['lockDuration', 1],
    ['stalledInterval', 1],
    ['maxStalledCount', 0],
  ] as const) {
    if (options[name] !== undefined) check.integerAtLeast(options[name], min, `options.${name}`);
  }
  for (const name of ['onCompleted', 'onFailed', 'onError'] as const) {
    if (options[name] !== undefined) check.func(options[name], `options.${name}`);
  }
  const { connection } = options;
  if (
    connection !== undefined &&
    typeof connection !== 'string' &&
    !isRedisClient(connection) &&
    (connection === null || typeof connection !== 'object')
  ) {
    throw new InvalidArgumentError('options.connection', 'a Redis URL, ioredis options or a Redis client', connection);
  }
}

function checkRecord<T>(
  value: unknown,
  argument: string,
  noun: string,
  test: (item: unknown) => boolean,
): Readonly<Record<string, T>> {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || Object.keys(value).length === 0) {
    throw new InvalidArgumentError(argument, `an object naming at least one ${noun}`, value);
  }
  for (const [name, item] of Object.entries(value)) {
    if (!test(item))
      throw new InvalidArgumentError(`${argument}.${name}`, `${/^[aeiou]/i.test(noun) ? 'an' : 'a'} ${noun}`, item);
  }
  return Object.freeze({ ...(value as Record<string, T>) });
}

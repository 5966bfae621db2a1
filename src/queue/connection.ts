/**
 * Loading the optional queue packages, and Redis connections.
 *
 * `bullmq` (and the Redis client it drives, `ioredis`) are optional peer dependencies: they are
 * imported only when a queue is first used, so apps without a queue need neither installed.
 * BullMQ 6 cannot load ioredis itself from an ES module (it calls `require`), so connection
 * options and URLs are turned into an ioredis client here.
 */
import { ImageAttachError } from '../errors.js';

type BullMQ = typeof import('bullmq');

/** A Redis client BullMQ accepts (ioredis, or node-redis): anything with `duplicate()`. */
export interface RedisClientLike {
  duplicate(...args: any[]): unknown;
  [key: string]: any;
}

/**
 * Where Redis is: a URL (`redis://127.0.0.1:6379/0`), ioredis options (`{ host, port, db }`), or a
 * client of your own (ioredis or node-redis; made with `maxRetriesPerRequest: null` for workers).
 * A client you pass stays yours to close; the ones the queue makes, it closes.
 */
export type RedisConnection = string | Record<string, unknown> | RedisClientLike;

let bullmq: Promise<BullMQ> | undefined;

/** The `bullmq` module. @throws ImageAttachError `ERR_MISSING_DEPENDENCY` when it is not installed */
export function loadBullMQ(): Promise<BullMQ> {
  bullmq ??= import('bullmq').catch((error: unknown) => {
    bullmq = undefined;
    throw missing('bullmq', error);
  });
  return bullmq;
}

interface IORedisConstructor {
  new (url: string, options: Record<string, unknown>): RedisClientLike;
  new (options: Record<string, unknown>): RedisClientLike;
}

async function loadIORedis(): Promise<IORedisConstructor> {
  // A specifier in a variable: ioredis is optional, so neither the compiler nor a bundler may
  // insist on finding it.
  const specifier = 'ioredis';
  try {
    const mod = (await import(specifier)) as { Redis?: IORedisConstructor; default?: IORedisConstructor };
    const Redis = mod.Redis ?? mod.default;
    if (typeof Redis !== 'function') throw new Error('ioredis exports no Redis class');
    return Redis;
  } catch (error) {
    throw missing('ioredis', error);
  }
}

export function isRedisClient(connection: unknown): connection is RedisClientLike {
  return (
    connection !== null &&
    typeof connection === 'object' &&
    typeof (connection as RedisClientLike).duplicate === 'function'
  );
}

/** A client for BullMQ, and whether this module made it (and so must close it). */
export async function redisClient(connection: RedisConnection): Promise<{ client: RedisClientLike; owned: boolean }> {
  if (isRedisClient(connection)) return { client: connection, owned: false };
  const Redis = await loadIORedis();
  // BullMQ's blocking commands must never be cut short by a retry limit.
  const options = { maxRetriesPerRequest: null };
  const client =
    typeof connection === 'string' ? new Redis(connection, options) : new Redis({ ...connection, ...options });
  return { client, owned: true };
}

/** Closes a client this module made (politely, then for good if Redis does not answer). */
export async function closeOwned(client: RedisClientLike): Promise<void> {
  // Never connected (Redis down): QUIT would wait for a connection that may never come.
  if (client.status !== 'ready') {
    client.disconnect?.();
    return;
  }
  try {
    await client.quit();
  } catch {
    // Closed meanwhile, or Redis went away: nothing left to say goodbye to.
    client.disconnect?.();
  }
}

function missing(name: string, cause: unknown): ImageAttachError {
  return new ImageAttachError(
    'ERR_MISSING_DEPENDENCY',
    `The thumbnail queue needs the optional package ${name}: npm install bullmq ioredis`,
    { cause },
  );
}

/**
 * How many thumbnail renders run at once in this process.
 *
 * Each render holds its decoded pixels and libvips' working memory until it ends, and its steps
 * queue in libuv's thread pool behind every other render's. Without a bound, 32 uploads arriving
 * together all decode first (the pool is first in, first out) and hold 32 images' pixels while
 * their encodes wait; with one, an upload past the bound waits as a file on disk, holding no
 * pixels, and memory stays that of `renderSlots()` renders however many uploads are in flight.
 * The default is one more than the CPUs (at most libuv's pool): one render per core, and one more
 * so that a core does not idle while a finished step waits for the busy main thread to start the
 * next (bench/README.md, bench/upload.ts, has the figures).
 */
import { availableParallelism } from 'node:os';
import pLimit, { type LimitFunction } from 'p-limit';
import * as check from '../util/check.js';

/** libuv's thread pool, which runs sharp's pipelines: 4 unless UV_THREADPOOL_SIZE says otherwise. */
const threadPoolSize = Number(process.env.UV_THREADPOOL_SIZE) || 4;

const limit: LimitFunction = pLimit(Math.min(availableParallelism() + 1, threadPoolSize));

/** Runs `render` once a slot is free; the slot is held until its promise settles. */
export function inRenderSlot<T>(render: () => Promise<T>): Promise<T> {
  return limit(render);
}

/**
 * How many renders may run at once (the default: one more than the CPUs, at most libuv's pool).
 * With `slots`, sets it for the whole process; renders already running finish.
 * @throws InvalidArgumentError unless `slots` is a positive integer
 */
export function renderSlots(slots?: number): number {
  if (slots !== undefined) {
    check.positiveInteger(slots, 'slots');
    limit.concurrency = slots;
  }
  return limit.concurrency;
}

/** Renders running now, and renders waiting for a slot (for monitoring, and for tests). */
export function renderLoad(): { running: number; waiting: number } {
  return { running: limit.activeCount, waiting: limit.pendingCount };
}

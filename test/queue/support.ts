/**
 * What the queue tests share: a unique queue per test on the real Redis (obliterated after), a
 * worker whose events are recorded, solid-colour images to tell originals apart by their pixels.
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import sharp from 'sharp';
import type {
  CompletedJob,
  FailedJob,
  ThumbnailQueue,
  ThumbnailWorker,
  ThumbnailWorkerOptions,
} from '../../src/queue.js';
import { until } from '../support/hooked-store.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

let redisAnswers: Promise<boolean> | undefined;

/** Does a Redis server answer PING at REDIS_URL (within two seconds)? Asked once per run. */
function pingRedis(): Promise<boolean> {
  const url = new URL(REDIS_URL);
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port || 6379) });
    const done = (answered: boolean) => {
      socket.destroy();
      resolve(answered);
    };
    socket.setTimeout(2000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => done(/^(\+PONG|-NOAUTH)/.test(data.toString())));
  });
}

/**
 * Registers a hook that skips the enclosing suite, saying why, when no Redis answers and REDIS_URL
 * is not set (as database suites run only when their URL is set). With REDIS_URL set, a Redis that
 * does not answer fails the suite instead.
 */
export function useRedis(): void {
  before(async function () {
    if (await (redisAnswers ??= pingRedis())) return;
    if (process.env.REDIS_URL) throw new Error(`REDIS_URL is ${REDIS_URL}, but no Redis answers there`);
    console.log(`      (skipped: no Redis answers at ${REDIS_URL}; start one or set REDIS_URL to run the queue tests)`);
    this.skip();
  });
}

/** A queue name no other run or test uses. */
export function uniqueQueueName(label = 'test'): string {
  return `oia-${label}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

const started: ThumbnailWorker[] = [];

/** Closes the workers tests started, removes every key of the queue from Redis, closes it. */
export async function disposeQueue(queue: ThumbnailQueue | undefined): Promise<void> {
  await Promise.all(started.splice(0).map((worker) => worker.close()));
  if (queue === undefined) return;
  await (await queue.bullQueue()).obliterate({ force: true });
  await queue.close();
}

export interface RecordingWorker {
  worker: ThumbnailWorker;
  completed: CompletedJob[];
  failed: (FailedJob & { at: number })[];
  /** Resolves once `count` jobs have completed. */
  completions(count: number): Promise<CompletedJob[]>;
}

/** Starts a worker that records what it did. */
export async function recordingWorker(
  queue: ThumbnailQueue,
  options: ThumbnailWorkerOptions = {},
): Promise<RecordingWorker> {
  const completed: CompletedJob[] = [];
  const failed: (FailedJob & { at: number })[] = [];
  const worker = await queue.worker({
    ...options,
    onCompleted: (event) => completed.push(event),
    onFailed: (event) => failed.push({ ...event, at: Date.now() }),
  });
  started.push(worker);
  return {
    worker,
    completed,
    failed,
    async completions(count) {
      await until(
        () => completed.length >= count,
        15_000,
        `${count} completed jobs (have ${completed.length}, failed ${failed.length})`,
      );
      return completed;
    },
  };
}

/** Waiting, active, delayed, failed and completed jobs of the queue, all at zero? */
export async function queueIsEmpty(queue: ThumbnailQueue): Promise<boolean> {
  const counts = await (
    await queue.bullQueue()
  ).getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized');
  return Object.values(counts).every((n) => n === 0);
}

/** A JPEG of one colour, so a thumbnail shows which original it was made of. */
export function solid(width: number, height: number, colour: 'red' | 'blue'): Promise<Buffer> {
  const background = colour === 'red' ? { r: 220, g: 20, b: 20 } : { r: 20, g: 20, b: 220 };
  return sharp({ create: { width, height, channels: 3, background } })
    .jpeg()
    .toBuffer();
}

/** The colour an image mostly is. */
export async function colourOf(bytes: Buffer): Promise<'red' | 'blue' | 'other'> {
  const { channels } = await sharp(bytes).stats();
  const [r, , b] = channels.map((c) => c.mean);
  if (r! > 150 && b! < 80) return 'red';
  if (b! > 150 && r! < 80) return 'blue';
  return 'other';
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

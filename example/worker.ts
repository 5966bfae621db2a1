/**
 * `npm run worker`: makes the thumbnails the example app queues when it runs with REDIS_URL. Run
 * as many as you like, beside `REDIS_URL=redis://127.0.0.1:6379 npm start`; they read the same
 * settings as the app (DATA_DIR, DATABASE_URL, S3_*, REDIS_URL, THUMBNAIL_QUEUE; see config.ts),
 * and `WORKER_CONCURRENCY` (1).
 *
 * Ctrl-C (SIGINT) or SIGTERM: take no new job, finish the running ones, close, exit 0. A second
 * signal exits at once; the jobs it was running are retried by another worker.
 */
import type { JobData } from 'objection-imageattach/queue';
import { settingsFromEnv } from './config.js';
import { startExampleWorker } from './queue.js';

const settings = settingsFromEnv();
if (settings.redisUrl === undefined) {
  console.error(
    'npm run worker needs REDIS_URL (e.g. REDIS_URL=redis://127.0.0.1:6379 npm run worker), the same as the app was started with.',
  );
  process.exit(2);
}
const concurrency = Number(process.env.WORKER_CONCURRENCY ?? 1);
if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
  console.error(`WORKER_CONCURRENCY must be an integer >= 1 (got ${process.env.WORKER_CONCURRENCY})`);
  process.exit(2);
}

const example = await startExampleWorker({
  ...settings,
  redisUrl: settings.redisUrl,
  concurrency,
  onCompleted: ({ data, result }) =>
    console.log(
      result.status === 'skipped'
        ? `skipped ${describe(data)}: ${result.reason}`
        : 'made' in result
          ? `${result.status}: ${result.made} outputs of ${result.variants.join(', ')} for ${describe(data)}`
          : `${result.status} ${result.width}x${result.height} ${result.mimetype} for ${describe(data)}`,
    ),
  onFailed: ({ jobId, error, attemptsMade, final }) =>
    console.error(`failed ${jobId} (attempt ${attemptsMade}${final ? ', final' : ', will retry'}): ${error.message}`),
});
example.worker.closeOnSignals();
console.log(
  `thumbnail worker on ${redacted(settings.redisUrl)}, queue ${example.queue.name}, data in ${settings.dataDir}; Ctrl-C to stop`,
);

await example.worker.closed;
await example.close();
console.log('thumbnail worker closed');

/** `User 1 picture (width 100)` or `User 1 picture (variants card)`, for the log. */
function describe(data: JobData): string {
  if ('kind' in data)
    return `${data.model} ${JSON.stringify(data.id)} ${data.relation} (variants ${data.variants.join(', ')})`;
  const size = Object.entries(data.size)
    .map(([side, value]) => `${side} ${value}`)
    .join(', ');
  return `${data.model} ${JSON.stringify(data.id)} ${data.relation} (${size}${data.format ? `, ${data.format}` : ''})`;
}

/** The URL without its password, for the log. */
function redacted(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.href;
}

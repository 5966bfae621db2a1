/**
 * objection-imageattach/queue: thumbnails made by background workers, on BullMQ and Redis. Needs
 * the optional peers `bullmq` and `ioredis`, loaded the first time a queue is used.
 */
export { ThumbnailQueue, thumbnailQueue } from './queue/queue.js';
export type { EnqueuedThumbnail, EnqueuedVariants, EnqueueOptions, ThumbnailRequest } from './queue/queue.js';
export { ThumbnailWorker } from './queue/worker.js';
export type { CompletedJob, FailedJob, ThumbnailQueueOptions, ThumbnailWorkerOptions } from './queue/options.js';
export type { JobResult, SkipReason, ThumbnailJobResult, VariantJobResult } from './queue/process.js';
export type { EncodedValue, JobData, OriginalIdentity, ThumbnailJobData, VariantJobData } from './queue/job.js';
export type { RedisClientLike, RedisConnection } from './queue/connection.js';

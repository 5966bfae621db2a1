/**
 * objection-imageattach: the public API. Everything not listed here is internal.
 */

// Errors
export {
  ContextError,
  ImageAttachError,
  ImageNotFoundError,
  InvalidArgumentError,
  InvalidImageError,
  StoreError,
} from './errors.js';
export type { ImageAttachErrorCode, ImageAttachErrorOptions } from './errors.js';

// Stores
export { Store, keyOf } from './stores/store.js';
export type { ByteRange, FileStat, PutFileOptions } from './stores/store.js';
export {
  extensionFor,
  fileSystemSegments,
  KNOWN_MIMETYPES,
  normalizeKey,
  objectStorageKey,
  timestampToken,
  toObjectId,
  withTimestamp,
} from './stores/keys.js';
export type { ImageKey, NormalizedKey, StoredImage } from './stores/keys.js';
export { FileSystemStore, FileSystemStoreBase, HttpExposedFileSystemStore } from './stores/fs.js';
export type {
  FileSystemStoreOptions,
  HttpExposedFileSystemStoreMiddlewareOptions,
  HttpExposedFileSystemStoreOptions,
} from './stores/fs.js';
export { S3Store } from './stores/s3.js';
export type { S3FileStat, S3ListedObject } from './stores/s3.js';
export type { S3CredentialsProvider, S3StoreOptions } from './stores/s3-options.js';
export { DELETED_MARK_MIMETYPE, S3SandboxStore } from './stores/s3-sandbox.js';
export type { S3SandboxStoreOptions } from './stores/s3-sandbox.js';
export type { SigningCredentials } from './stores/s3-presign.js';

// Context
export {
  currentRequestOrigin,
  currentStore,
  getCurrentStore,
  popStoreContext,
  pushStoreContext,
  requestOrigin,
  storeContext,
  withRequestOrigin,
  withStore,
} from './context.js';

// Schema
export { imageColumns } from './schema.js';

// Entities
export { Image, imgElement } from './entity/image.js';
export type { HtmlAttributes, ImageEntity, ImageEntityClass, StoreOption } from './entity/image.js';
export { imageAttachment } from './entity/attachment.js';
export type { ImageAttachmentMapping, ImageAttachmentOptions } from './entity/attachment.js';
export { ImageSet, imageSet, imageSets } from './entity/image-set.js';
export type { AttachOptions, FindSize, ThumbnailOptions, ThumbnailSpec, WriteOptions } from './entity/image-set.js';
export { ImageOwner } from './entity/owner.js';
export { filesSettled } from './entity/ledger.js';

// Imaging
export { DEFAULT_IMAGE_TYPES, DEFAULT_LIMITS, READABLE_IMAGE_TYPES } from './imaging/probe.js';
export type { ImageLimits } from './imaging/probe.js';
export { renderSlots } from './imaging/render-slots.js';
export { thumbnailDimensions } from './imaging/thumbnail.js';
export type { ThumbnailFormat, ThumbnailSize } from './imaging/thumbnail.js';

// Migration between stores
export { MigrationError, MigrationPlan, migrate, migrateClass } from './migration.js';
export type {
  FailedImage,
  MigrationEvent,
  MigrationOptions,
  MigrationProgress,
  MigrationReport,
  ModelList,
  ProgressCallback,
} from './migration.js';

// HTTP
export { staticServer } from './http/static-server.js';
export type { StaticServerIntrospection, StaticServerMiddleware, StaticServerOptions } from './http/static-server.js';
export type { ContentCacheOptions, ContentCacheStats } from './http/content-cache.js';
export { imageUpload } from './http/upload.js';
export type { ImageUploadOptions } from './http/upload.js';
export type { UploadedImage } from './http/upload-storage.js';
export type { ProbedImage } from './imaging/probe.js';
export { htmlHelpers, imageHelpers, imgTag, pictureTag, srcset } from './html.js';
export type { HelperDefaults, HelperQueue, ImgTagOptions, SrcsetOptions } from './html.js';
export { thumbnailRoute } from './http/thumbnail-route.js';
export type { ThumbnailRouteOptions } from './http/thumbnail-route.js';

// Background thumbnails (needs the optional bullmq and ioredis, loaded on first use)
export { ThumbnailQueue, thumbnailQueue } from './queue/queue.js';
export type { EnqueuedThumbnail, EnqueueOptions, ThumbnailRequest } from './queue/queue.js';
export { ThumbnailWorker } from './queue/worker.js';
export type { CompletedJob, FailedJob, ThumbnailQueueOptions, ThumbnailWorkerOptions } from './queue/options.js';
export type { SkipReason, ThumbnailJobResult } from './queue/process.js';
export type { EncodedValue, OriginalIdentity, ThumbnailJobData } from './queue/job.js';
export type { RedisClientLike, RedisConnection } from './queue/connection.js';

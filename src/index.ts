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

// HTTP
export { staticServer } from './http/static-server.js';
export type { StaticServerMiddleware, StaticServerOptions } from './http/static-server.js';

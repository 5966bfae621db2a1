/**
 * objection-imageattach: the core. Image entities and sets, stores on the local filesystem, the
 * store context, the schema helper and the error family. It loads neither Express, multer, the
 * AWS SDK nor BullMQ; those pieces have entry points of their own:
 * `objection-imageattach/express`, `/s3`, `/queue` and `/migration`.
 */

// Errors
export {
  ContextError,
  IMAGE_ATTACH_ERROR_CODES,
  ImageAttachError,
  ImageNotFoundError,
  InvalidArgumentError,
  InvalidImageError,
  StoreError,
  UploadError,
} from './errors.js';
export type { ImageAttachErrorCode, ImageAttachErrorOptions } from './errors.js';

// Stores
export { Store } from './stores/store.js';
export type { ByteRange, FileStat, PutFileOptions } from './stores/store.js';
export type { ImageKey, NormalizedKey, StoredImage } from './stores/keys.js';
export type { DatabaseTimestamp } from './stores/database-timestamp.js';
export { FileSystemStore } from './stores/fs.js';
export type { FileSystemStoreOptions } from './stores/fs.js';
export { HttpExposedFileSystemStore } from './stores/http-exposed-fs.js';
export type { HttpExposedFileSystemStoreOptions } from './stores/http-exposed-fs.js';

// Context
export { currentStore, getCurrentStore, popStoreContext, pushStoreContext, withStore } from './context.js';

// Schema
export { imageColumns, variantTables } from './schema.js';

// Entities
export {
  filesSettled,
  Image,
  imageAttachment,
  ImageOwner,
  ImageSet,
  imageSet,
  imageSets,
  restoreKeptBackups,
  settleInterruptedWrites,
} from './entity/index.js';
export type {
  AttachOptions,
  FindSize,
  HtmlAttributes,
  ImageAttachmentMapping,
  ImageAttachmentOptions,
  ImageEntity,
  ImageEntityClass,
  ImageRelationName,
  SettledWrites,
  StoreOption,
  ThumbnailOptions,
  ThumbnailSpec,
  ToHtmlOptions,
  Placeholder,
  VariantOutput,
  VariantState,
  WriteOptions,
} from './entity/index.js';

// Imaging
export { DEFAULT_IMAGE_TYPES, DEFAULT_LIMITS } from './imaging/probe.js';
export type { ImageLimits, ProbedImage } from './imaging/probe.js';
export { renderSlots } from './imaging/render-slots.js';
export { thumbnailDimensions } from './imaging/thumbnail.js';
export type { ThumbnailFormat, ThumbnailSize } from './imaging/thumbnail.js';
export type { ThumbnailBackground } from './imaging/background.js';
export type {
  CropRect,
  FocalPoint,
  NormalizedVariant,
  ResolvedOutput,
  VariantDeclaration,
  VariantFit,
  VariantFormat,
  VariantMake,
  VariantPosition,
  VariantsDeclaration,
} from './imaging/variant-recipe.js';

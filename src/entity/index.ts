/**
 * entity/'s public API: what the root entry exports, and what http/, queue/, cli/ and migration/
 * import from entity/ (with ./worker-api.ts), never its files one by one.
 */
export { Image } from './image.js';
export type { HtmlAttributes, ImageEntity, ImageEntityClass, StoreOption, ToHtmlOptions } from './image.js';
export { imageAttachment } from './attachment.js';
export type { ImageAttachmentMapping, ImageAttachmentOptions } from './attachment.js';
export { ImageSet, imageSet, imageSets } from './image-set.js';
export type {
  AttachOptions,
  FindSize,
  ImageRelationName,
  ThumbnailOptions,
  ThumbnailSpec,
  WriteOptions,
} from './image-set.js';
export { ImageOwner } from './owner.js';
export { filesSettled } from './ledger.js';
export { settleInterruptedWrites, type SettledWrites } from './staged-writes.js';
export { restoreKeptBackups } from './kept-backups.js';
export type { VariantOutput, VariantState } from './variants.js';
export type { Placeholder } from './set-meta.js';

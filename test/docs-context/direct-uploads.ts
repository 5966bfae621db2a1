import type { Knex } from 'knex';
import type { HttpExposedFileSystemStore as Store } from 'objection-imageattach';

export type { Knex } from 'knex';
export {
  HttpExposedFileSystemStore,
  imageSet,
  pendingUploadsTable,
  presignUpload,
  sweepUploads,
} from 'objection-imageattach';
export { directUploadEndpoint, imageErrors, presignRoute } from 'objection-imageattach/express';
export { S3Store } from 'objection-imageattach/s3';
export { app, user, User } from './shared.js';
export { default as express } from 'express';
/** The app's own auth: the signed-in user's id. */
export declare function currentUserId(req: import('express').Request): number;
/** The app's connection and its store with directUploads. */
export declare const knex: Knex, store: Store;

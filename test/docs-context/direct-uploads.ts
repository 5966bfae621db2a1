export type { Knex } from 'knex';
export { HttpExposedFileSystemStore, imageSet, pendingUploadsTable } from 'objection-imageattach';
export { S3Store } from 'objection-imageattach/s3';
export { app, user, User } from './shared.js';

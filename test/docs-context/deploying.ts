export { default as knex } from 'knex';
export { FileSystemStore, HttpExposedFileSystemStore } from 'objection-imageattach';
export { serveStore, storeContext } from 'objection-imageattach/express';
export { S3Store } from 'objection-imageattach/s3';
export { app, store } from './shared.js';
/** The database's connection settings, from the app's configuration. */
export declare const host: string, user: string, password: string, database: string;

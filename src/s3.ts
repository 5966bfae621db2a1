/**
 * objection-imageattach/s3: stores on Amazon S3 or an S3-compatible server. Needs the optional
 * peers `@aws-sdk/client-s3` and `@aws-sdk/lib-storage`, loaded when a store first talks to S3.
 */
export { S3Store } from './stores/s3.js';
export type { S3FileStat, S3ListedObject } from './stores/s3.js';
export type { S3CredentialsProvider, S3StoreOptions } from './stores/s3-options.js';
export type { SigningCredentials } from './stores/s3-presign.js';
export type { S3DirectUploadOptions } from './stores/s3-direct-uploads.js';
export { S3SandboxStore } from './stores/s3-sandbox.js';
export type { S3SandboxStoreOptions } from './stores/s3-sandbox.js';

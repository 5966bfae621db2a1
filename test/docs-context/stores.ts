export { imageSet } from 'objection-imageattach';
export { S3Store } from 'objection-imageattach/s3';
export { app, store, user } from './shared.js';
/** From the environment or a secrets manager. */
export declare const accessKeyId: string, secretAccessKey: string;

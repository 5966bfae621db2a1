export { imageSet, imageSets } from 'objection-imageattach';
export { product, store, user, User } from './shared.js';
export declare const knex: import('knex').Knex;
/** A file's path: an upload's temp file, a photo on disk. */
export declare const path: string, upload: string;
/** A new name from a form. */
export declare const name: string;

import type { Request } from 'express';
import type { thumbnailQueue } from 'objection-imageattach/queue';

export { Model } from 'objection';
export { imageSet } from 'objection-imageattach';
export { imageHelpers, storeContext, type UploadedImage } from 'objection-imageattach/express';
export { app, store, user, User } from './shared.js';
export declare const knex: import('knex').Knex;
/** The route's request, after imageUpload(). */
export declare const req: Request;
/** queue.ts's export, as the page's first block makes it. */
export declare const queue: ReturnType<typeof thumbnailQueue>;

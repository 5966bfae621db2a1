import type { RequestHandler, Response } from 'express';
import type { UploadedImage } from 'objection-imageattach/express';

export { Model } from 'objection';
export {
  allowDecoders,
  allowedDecoders,
  Image,
  imageAttachment,
  imageSet,
  restrictDecoders,
} from 'objection-imageattach';
export { imageUpload, type UploadedImage } from 'objection-imageattach/express';
export { app, Product, user, User } from './shared.js';
/** The relation's join, as in the models. */
export declare const join: { from: string; to: string };
/** The route's upload, and a file's bytes. */
export declare const file: UploadedImage, buffer: Buffer;
/** The app's own middleware: load the user of :id, attach the upload. */
export declare const loadUser: RequestHandler, attach: RequestHandler;
/** From the page's messages block, and the example's flash.ts. */
export declare function messageFor(error: unknown): string | undefined;
export declare function setFlash(
  res: Response,
  flash: { kind: 'error' | 'success'; text: string; field?: string },
): void;

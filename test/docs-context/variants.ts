export { imageSet } from 'objection-imageattach';
export {
  type DemandUrl,
  imageHelpers,
  imgTag,
  pictureTag,
  srcset,
  storeContext,
  variantRoute,
} from 'objection-imageattach/express';
// The page's first block is models.ts (its User declares the variants the other blocks use).
export { User } from './variants/models.js';
export { app, store } from './shared.js';
/** A user loaded with their picture. */
export declare const user: import('./variants/models.js').User;

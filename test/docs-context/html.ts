export { Model } from 'objection';
export { imageSet, ImageOwner, type ImageSet } from 'objection-imageattach';
export { imgTag, pictureTag } from 'objection-imageattach/express';
export { app, store, user, UserPicture } from './shared.js';

export { Model } from 'objection';
export { imageAttachment, imageSet, ImageOwner, type ImageSet } from 'objection-imageattach';
export { imgTag, pictureTag, placeholderColorsCss } from 'objection-imageattach/express';
export { app, store, user, UserPicture } from './shared.js';

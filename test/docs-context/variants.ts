import { Model } from 'objection';
import { Image, imageAttachment, ImageOwner } from 'objection-imageattach';

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
export { app, store } from './shared.js';

export class UserPicture extends Image(Model) {
  static override tableName = 'user_picture';
  static override idColumn = ['user_id', 'width', 'height'];
  declare user_id: number;
}

/** The page's models.ts, for its other blocks: a User whose picture declares avatar, card and hero. */
export class User extends ImageOwner(Model) {
  static override tableName = 'users';
  declare id: number;
  declare name: string;
  declare picture?: UserPicture[];
  static override relationMappings = () => ({
    picture: imageAttachment(() => UserPicture, {
      join: { from: 'users.id', to: 'user_picture.user_id' },
      variants: {
        avatar: { width: 96, height: 96, densities: [1, 2], formats: ['avif', 'webp', 'auto'] },
        card: { width: 400, height: 300, make: 'queue' },
        hero: { width: 1600, widths: [640, 960, 1280, 1600], formats: ['webp', 'auto'], make: 'demand' },
      },
    }),
  });
}

/** A user loaded with their picture. */
export declare const user: User;

/**
 * The example's two models: a user, and the table of their picture's images.
 *
 * `UserPicture` rows are the original and its thumbnails: one row per size, keyed by the owner's
 * id plus width and height (the layout SQLAlchemy-ImageAttach used, so its databases still work).
 */
import { Model } from 'objection';
import { Image, imageAttachment, ImageOwner, type ImageSet, imageSet } from 'objection-imageattach';

export class UserPicture extends Image(Model) {
  static override tableName = 'user_picture';
  static override idColumn = ['user_id', 'width', 'height'];
  declare user_id: number;
}

// ImageOwner: deleting a user (by any query) deletes their images too, files included.
export class User extends ImageOwner(Model) {
  static override tableName = 'users';
  declare id: number;
  declare name: string;
  /** The rows of the picture relation, once loaded with `withGraphFetched('picture')`. */
  declare picture?: UserPicture[];

  static override relationMappings = () => ({
    picture: imageAttachment(() => UserPicture, {
      join: { from: 'users.id', to: 'user_picture.user_id' },
      // Limits for this relation, over the library's defaults; uploads are checked again here.
      limits: { maxBytes: 10 * 1024 * 1024, maxPixels: 40_000_000 },
      // The gallery's square avatar: 96×96 CSS pixels at 1× and 2×, AVIF, WebP, then the original's
      // format for the <img>; cropped around the user's focal point; made at upload. Its rows live
      // in user_picture_variants and user_picture_meta (migrations/20250201000000_picture_variants.ts).
      variants: {
        avatar: {
          width: 96,
          height: 96,
          fit: 'cover',
          position: 'focal',
          densities: [1, 2],
          formats: ['avif', 'webp', 'auto'],
        },
      },
    }),
  });

  /**
   * The picture as an image set: `original`, `thumbnails`, `fromFile()`, `findOrCreateThumbnail()`…
   * A getter keeps views short (`imgTag(user.pictureSet, …)`); Objection leaves getters out of JSON.
   */
  get pictureSet(): ImageSet<UserPicture> {
    return imageSet(this as User, 'picture');
  }

  /**
   * The user of that id (from a URL), with their picture loaded: one query for the user and one
   * for the images, and the views then render every `<img>` without another.
   * @throws Objection's NotFoundError (status 404) when there is none
   */
  static async findWithPicture(id: string): Promise<User> {
    // Only plain ids reach the database (PostgreSQL would reject "abc" as an integer with a 500).
    const query = User.query()
      .findById(/^[1-9][0-9]{0,9}$/.test(id) ? Number(id) : 0)
      .withGraphFetched('picture');
    return query.throwIfNotFound({ message: `There is no user ${id}` });
  }
}

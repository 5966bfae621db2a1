// Models as a user writes them: their own fields and methods, relations declared as Objection's
// documentation declares them.
import { Model } from 'objection';
import { Image, imageAttachment, ImageOwner, imageSet, type ImageSet } from 'objection-imageattach';

export class Photo extends Image(Model) {
  static override tableName = 'photo';
  static override idColumn = ['product_id', 'width', 'height'];
  static override imageLimits = { maxBytes: 1024 * 1024 };
  declare product_id: number;

  describe(): string {
    return `${this.width}×${this.height} ${this.mimetype}${this.original ? ' (original)' : ''}`;
  }
}

export class Product extends ImageOwner(Model) {
  static override tableName = 'product';
  declare id: number;
  declare title: string;
  declare photo?: Photo[];

  static override relationMappings = () => ({
    photo: imageAttachment(() => Photo, { join: { from: 'product.id', to: 'photo.product_id' } }),
  });

  get photoSet(): ImageSet<Photo> {
    return imageSet(this as Product, 'photo');
  }
}

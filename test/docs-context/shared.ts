/**
 * What the docs' pages assume their reader's app already has: the models of the README, an app,
 * a store, a loaded user. The pages' contexts (test/docs-context/<page>.ts) pick from here.
 * Only compiled, never run.
 */
import express from 'express';
import { Model } from 'objection';
import { type HttpExposedFileSystemStore, Image, imageAttachment, ImageOwner } from 'objection-imageattach';

export class UserPicture extends Image(Model) {
  static override tableName = 'user_picture';
  static override idColumn = ['user_id', 'width', 'height'];
  declare user_id: number;
}

export class User extends ImageOwner(Model) {
  static override tableName = 'users';
  declare id: number;
  declare name: string;
  declare picture?: UserPicture[];
  static override relationMappings = () => ({
    picture: imageAttachment(() => UserPicture, { join: { from: 'users.id', to: 'user_picture.user_id' } }),
  });
}

export class ProductPhoto extends Image(Model) {
  static override tableName = 'product_photo';
  static override idColumn = ['product_id', 'width', 'height'];
  declare product_id: number;
}

/** Several sets per product, one per slot: the uselist=True of SQLAlchemy-ImageAttach. */
export class ProductImage extends Image(Model) {
  static override tableName = 'product_image';
  static override idColumn = ['product_id', 'slot', 'width', 'height'];
  declare product_id: number;
  declare slot: number;
}

export class Product extends ImageOwner(Model) {
  static override tableName = 'products';
  declare id: number;
  declare photo?: ProductPhoto[];
  declare images?: ProductImage[];
  static override relationMappings = () => ({
    photo: imageAttachment(() => ProductPhoto, { join: { from: 'products.id', to: 'product_photo.product_id' } }),
    images: imageAttachment(() => ProductImage, { join: { from: 'products.id', to: 'product_image.product_id' } }),
  });
}

export declare const app: express.Express;
export declare const store: HttpExposedFileSystemStore;
export declare const user: User;
export declare const product: Product;

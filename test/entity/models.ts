/**
 * The models the entity tests use: SQLAlchemy-ImageAttach's own examples, in Objection.
 */
import type { Knex } from 'knex';
import { Model } from 'objection';
import { Image, imageAttachment, imageColumns, ImageOwner } from '../../src/index.js';

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
  declare cover?: UserCover[];
  static override relationMappings = () => ({
    picture: imageAttachment(() => UserPicture, { join: { from: 'users.id', to: 'user_picture.user_id' } }),
    cover: imageAttachment(() => UserCover, { join: { from: 'users.id', to: 'user_cover.user_id' } }),
  });
}

/** A second image set per owner, in its own table: SQLAlchemy-ImageAttach's several attachments per owner. */
export class UserCover extends Image(Model) {
  static override tableName = 'user_cover';
  static override idColumn = ['user_id', 'width', 'height'];
  declare user_id: number;
}

/** Several image sets per owner in one table, keyed by an extra column (SQLAlchemy-ImageAttach's uselist=True). */
export class ProductImage extends Image(Model) {
  static override tableName = 'product_image';
  static override idColumn = ['product_id', 'slot', 'width', 'height'];
  declare product_id: number;
  declare slot: number;
  // Two key columns are left besides width/height: the default cannot pick, so say how.
  override get objectId(): bigint {
    return BigInt(this.product_id) * 1000n + BigInt(this.slot);
  }
}

export class Product extends ImageOwner(Model) {
  static override tableName = 'products';
  declare id: number;
  declare images?: ProductImage[];
  static override relationMappings = () => ({
    images: imageAttachment(() => ProductImage, { join: { from: 'products.id', to: 'product_image.product_id' } }),
  });
}

/** A string-keyed owner: its image class needs an objectId override. */
export class TagImage extends Image(Model) {
  static override tableName = 'tag_image';
  static override idColumn = ['tag_name', 'width', 'height'];
  declare tag_name: string;
}

export class Tag extends ImageOwner(Model) {
  static override tableName = 'tags';
  static override idColumn = 'name';
  declare name: string;
  static override relationMappings = () => ({
    icon: imageAttachment(() => TagImage, { join: { from: 'tags.name', to: 'tag_image.tag_name' } }),
  });
}

export async function createSchema(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    t.increments('id');
    t.string('name').notNullable();
  });
  await knex.schema.createTable('user_picture', (t) => {
    t.integer('user_id').unsigned().notNullable().references('users.id');
    imageColumns(t);
    t.primary(['user_id', 'width', 'height']);
  });
  await knex.schema.createTable('user_cover', (t) => {
    t.integer('user_id').unsigned().notNullable().references('users.id');
    imageColumns(t);
    t.primary(['user_id', 'width', 'height']);
  });
  await knex.schema.createTable('products', (t) => {
    t.increments('id');
  });
  await knex.schema.createTable('product_image', (t) => {
    t.integer('product_id').unsigned().notNullable().references('products.id');
    t.integer('slot').notNullable();
    imageColumns(t);
    t.primary(['product_id', 'slot', 'width', 'height']);
  });
  await knex.schema.createTable('tags', (t) => {
    t.string('name', 100).primary();
  });
  await knex.schema.createTable('tag_image', (t) => {
    t.string('tag_name', 100).notNullable().references('tags.name');
    imageColumns(t);
    t.primary(['tag_name', 'width', 'height']);
  });
}

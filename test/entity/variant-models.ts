/**
 * Models with named variants, for the variant tests: a user picture with an avatar made at upload,
 * a card made by the queue and a hero made on demand, and a subset table (a gallery's slots).
 */
import type { Knex } from 'knex';
import { Model } from 'objection';
import { Image, imageAttachment, imageColumns, ImageOwner, variantTables } from '../../src/index.js';

export class MemberPicture extends Image(Model) {
  static override tableName = 'member_picture';
  static override idColumn = ['member_id', 'width', 'height'];
  declare member_id: number;
}

export class Member extends ImageOwner(Model) {
  static override tableName = 'members';
  declare id: number;
  declare name: string;
  declare picture?: MemberPicture[];
  static override relationMappings = () => ({
    picture: imageAttachment(() => MemberPicture, {
      join: { from: 'members.id', to: 'member_picture.member_id' },
      variants: {
        avatar: { width: 48, height: 48, fit: 'cover', densities: [1, 2], formats: ['webp', 'auto'], make: 'upload' },
        card: { width: 80, height: 60, fit: 'cover', position: 'attention', make: 'queue' },
        hero: { width: 160, fit: 'inside', widths: [64, 160], make: 'demand' },
      },
      placeholder: 'thumbhash',
    }),
  });
}

export class SlotImage extends Image(Model) {
  static override tableName = 'slot_image';
  static override idColumn = ['gallery_id', 'slot', 'width', 'height'];
  declare gallery_id: number;
  declare slot: number;
  override get objectId(): bigint {
    return BigInt(this.gallery_id) * 1000n + BigInt(this.slot);
  }
}

export class Gallery extends ImageOwner(Model) {
  static override tableName = 'galleries';
  declare id: number;
  declare images?: SlotImage[];
  static override relationMappings = () => ({
    images: imageAttachment(() => SlotImage, {
      join: { from: 'galleries.id', to: 'slot_image.gallery_id' },
      variants: { thumb: { width: 32, height: 32, formats: ['jpeg'], make: 'upload' } },
    }),
  });
}

export async function createVariantSchema(knex: Knex): Promise<void> {
  await knex.schema.createTable('members', (t) => {
    t.increments('id');
    t.string('name').notNullable();
  });
  await knex.schema.createTable('member_picture', (t) => {
    t.integer('member_id').unsigned().notNullable().references('members.id');
    imageColumns(t);
    t.primary(['member_id', 'width', 'height']);
  });
  await variantTables(knex, 'member_picture', (t) => {
    t.integer('member_id').unsigned().notNullable().references('members.id').onDelete('CASCADE');
  });
  await knex.schema.createTable('galleries', (t) => {
    t.increments('id');
  });
  await knex.schema.createTable('slot_image', (t) => {
    t.integer('gallery_id').unsigned().notNullable().references('galleries.id');
    t.integer('slot').notNullable();
    imageColumns(t);
    t.primary(['gallery_id', 'slot', 'width', 'height']);
  });
  await variantTables(knex, 'slot_image', (t) => {
    t.integer('gallery_id').unsigned().notNullable().references('galleries.id').onDelete('CASCADE');
    t.integer('slot').notNullable();
  });
}

/** The same tables as Member's, with the avatar's WebP quality changed: the next deploy's recipe. */
export class MemberNextRecipe extends Model {
  static override tableName = 'members';
  declare id: number;
  declare picture?: MemberPicture[];
  static override relationMappings = () => ({
    picture: imageAttachment(() => MemberPicture, {
      join: { from: 'members.id', to: 'member_picture.member_id' },
      variants: {
        avatar: {
          width: 48,
          height: 48,
          fit: 'cover',
          densities: [1, 2],
          formats: ['webp', 'auto'],
          quality: { webp: 60 },
          make: 'upload',
        },
      },
    }),
  });
}

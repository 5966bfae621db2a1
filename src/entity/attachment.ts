/**
 * `imageAttachment()`: the relation from an owner to its images (SQLAlchemy-ImageAttach's `image_attachment`).
 */
import { Model, type RelationMapping } from 'objection';
import { InvalidArgumentError } from '../errors.js';
import * as check from '../util/check.js';
import type { ImageLimits } from '../imaging/probe.js';
import type { ImageEntityClass } from './image.js';
import { variantDataModifier } from './variant-eager.js';
import { checkVariants, type NormalizedVariant, type VariantsDeclaration } from '../imaging/variant-recipe.js';

const ATTACHMENT = Symbol.for('objection-imageattach.attachment');

export interface ImageAttachmentOptions {
  /** The join, as in any Objection relation: `{ from: 'users.id', to: 'user_picture.user_id' }`. */
  join: { from: string | string[]; to: string | string[] };
  /** Limits for images attached through this relation (over the image class's and the defaults). */
  limits?: Partial<ImageLimits>;
  /**
   * Named variants (square avatars, crops, several formats per size), kept in this library's
   * tables beside the image table (`variantTables()`); see docs/variants.md.
   */
  variants?: VariantsDeclaration;
  /** A placeholder computed at attach and shown while the image loads (`'thumbhash'`); see docs/html.md. */
  placeholder?: 'thumbhash';
}

/** What an `imageAttachment()` mapping carries besides Objection's own fields. */
export interface AttachmentSettings {
  limits: Partial<ImageLimits> | undefined;
  variants: ReadonlyMap<string, NormalizedVariant>;
  placeholder: 'thumbhash' | undefined;
}

export interface ImageAttachmentMapping extends RelationMapping<any> {
  [ATTACHMENT]: AttachmentSettings;
}

/**
 * A relation mapping for an owner's `relationMappings`: has-many to the image class (the
 * original and its thumbnails; with extra key columns, several image sets).
 * @example
 * static relationMappings = {
 *   picture: imageAttachment(() => UserPicture, { join: { from: 'users.id', to: 'user_picture.user_id' } }),
 * };
 */
export function imageAttachment(
  imageClass: () => ImageEntityClass,
  options: ImageAttachmentOptions,
): ImageAttachmentMapping {
  check.func(imageClass, 'imageClass', 'a function returning the image model class');
  if (!options?.join?.from || !options.join.to) {
    throw new InvalidArgumentError('options.join', "{ from: 'owner.id', to: 'image.owner_id' }", options?.join);
  }
  const variants = checkVariants(options.variants);
  if (options.placeholder !== undefined)
    check.oneOf(options.placeholder, ['thumbhash'] as const, 'options.placeholder');
  // The variant and meta rows come along with the images (see variant-eager.ts): no modifier to remember.
  const ownerColumns = () => ([] as string[]).concat(options.join.to).map((c) => c.split('.').pop()!);
  const modify =
    variants.size > 0 || options.placeholder !== undefined
      ? { modify: variantDataModifier(imageClass, ownerColumns) }
      : {};
  return {
    relation: Model.HasManyRelation,
    modelClass: imageClass as unknown as RelationMapping<any>['modelClass'],
    join: options.join,
    ...modify,
    [ATTACHMENT]: { limits: options.limits, variants, placeholder: options.placeholder },
  };
}

/** The attachment options of a relation mapping, or `undefined` when it is no image attachment. */
export function attachmentOptions(mapping: unknown): AttachmentSettings | undefined {
  return (mapping as Partial<ImageAttachmentMapping> | undefined)?.[ATTACHMENT];
}

/**
 * `imageAttachment()`: the relation from an owner to its images (SQLAlchemy-ImageAttach's `image_attachment`).
 */
import { Model, type RelationMapping } from 'objection';
import { InvalidArgumentError } from '../errors.js';
import * as check from '../util/check.js';
import type { ImageLimits } from '../imaging/probe.js';
import type { ImageEntityClass } from './image.js';

const ATTACHMENT = Symbol.for('objection-imageattach.attachment');

export interface ImageAttachmentOptions {
  /** The join, as in any Objection relation: `{ from: 'users.id', to: 'user_picture.user_id' }`. */
  join: { from: string | string[]; to: string | string[] };
  /** Limits for images attached through this relation (over the image class's and the defaults). */
  limits?: Partial<ImageLimits>;
}

export interface ImageAttachmentMapping extends RelationMapping<any> {
  [ATTACHMENT]: { limits: Partial<ImageLimits> | undefined };
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
  return {
    relation: Model.HasManyRelation,
    modelClass: imageClass as unknown as RelationMapping<any>['modelClass'],
    join: options.join,
    [ATTACHMENT]: { limits: options.limits },
  };
}

/** The attachment options of a relation mapping, or `undefined` when it is no image attachment. */
export function attachmentOptions(mapping: unknown): { limits: Partial<ImageLimits> | undefined } | undefined {
  return (mapping as Partial<ImageAttachmentMapping> | undefined)?.[ATTACHMENT];
}

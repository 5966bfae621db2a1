/**
 * What an image set needs to know of an owner's `imageAttachment()` relation, worked out once per
 * owner class and relation.
 */
import type { Model, Relation } from 'objection';
import { InvalidArgumentError } from '../errors.js';
import type { ImageLimits } from '../imaging/probe.js';
import { attachmentOptions, type AttachmentSettings } from './attachment.js';
import type { NormalizedVariant } from '../imaging/variant-recipe.js';
import type { ImageEntityClass } from './image.js';

export interface AttachmentInfo {
  relationName: string;
  imageClass: ImageEntityClass;
  /** Key columns of the image class besides the owner's and width/height: they pick a set. */
  subsetColumns: string[];
  /** The image class's columns that hold the owner's key (the join's `to` side). */
  ownerColumns: string[];
  /** The owner's properties those columns take their values from (the join's `from` side). */
  ownerProps: string[];
  limits: Partial<ImageLimits> | undefined;
  /** The relation's named variants (empty when it declares none). */
  variants: ReadonlyMap<string, NormalizedVariant>;
  placeholder: 'thumbhash' | undefined;
}

const cache = new WeakMap<object, Map<string, AttachmentInfo>>();

/** @throws InvalidArgumentError when `relationName` is not an `imageAttachment()` of the owner */
export function attachmentInfo(owner: Model, relationName: string): AttachmentInfo {
  const ownerClass = owner?.constructor as typeof Model | undefined;
  if (!ownerClass || typeof ownerClass.getRelations !== 'function') {
    throw new InvalidArgumentError('owner', 'an Objection model instance', owner);
  }
  let byName = cache.get(ownerClass);
  if (byName === undefined) cache.set(ownerClass, (byName = new Map()));
  let info = byName.get(relationName);
  if (info === undefined) {
    info = resolve(ownerClass, relationName);
    byName.set(relationName, info);
  }
  return info;
}

/** The names of the `imageAttachment()` relations of an owner class (none for any other class). */
export function attachmentRelationNames(ownerClass: typeof Model): string[] {
  return Object.keys(ownerClass.getRelations()).filter((name) => mappingOf(ownerClass, name) !== undefined);
}

/** The attachment options of relation `name` of `ownerClass`, as its relationMappings declare them. */
function mappingOf(ownerClass: typeof Model, name: string): AttachmentSettings | undefined {
  const raw = ownerClass.relationMappings;
  // relationMappings may be an object or a thunk (for require loops), as Objection allows.
  const mappings = (typeof raw === 'function' ? (raw as () => object).call(ownerClass) : raw) as
    Record<string, unknown> | undefined;
  return attachmentOptions(mappings?.[name]);
}

function resolve(ownerClass: typeof Model, relationName: string): AttachmentInfo {
  const relations = ownerClass.getRelations() as Record<string, Relation>;
  const relation = relations[relationName];
  const options = mappingOf(ownerClass, relationName);
  if (relation === undefined || options === undefined) {
    const names = attachmentRelationNames(ownerClass);
    throw new InvalidArgumentError(
      'relationName',
      `the name of an imageAttachment() relation of ${ownerClass.name} (${names.join(', ') || 'it has none'})`,
      relationName,
    );
  }
  const imageClass = relation.relatedModelClass as unknown as ImageEntityClass;
  const joined = relation as unknown as {
    relatedProp: { cols: string[]; props: string[] };
    ownerProp: { props: string[] };
  };
  const ownerColumns = joined.relatedProp.cols;
  const subsetColumns = ([] as string[])
    .concat(imageClass.idColumn)
    .filter((c) => c !== 'width' && c !== 'height' && !joined.relatedProp.props.includes(c));
  return {
    relationName,
    imageClass,
    subsetColumns,
    ownerColumns,
    ownerProps: joined.ownerProp.props,
    limits: options.limits,
    variants: options.variants,
    placeholder: options.placeholder,
  };
}

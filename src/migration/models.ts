/**
 * Which image classes a migration (or the CLI) covers, worked out from what the caller lists:
 * image classes themselves, and owner classes (whose `imageAttachment()` relations name theirs).
 */
import type { Model, Relation } from 'objection';
import type { ImageEntity, ImageEntityClass } from '../entity/index.js';
import { attachmentRelationNames } from '../entity/worker-api.js';
import { InvalidArgumentError } from '../errors.js';
import * as check from '../util/check.js';

/** An owner class's `imageAttachment()` relation, and the image class at its other end. */
export interface AttachmentRelation {
  ownerClass: typeof Model;
  relationName: string;
  imageClass: ImageEntityClass;
  /** Owner properties of the join (`users.id` → `['id']`). */
  ownerProps: string[];
  /** Image properties of the join (`user_picture.user_id` → `['user_id']`), in the same order. */
  imageProps: string[];
}

/** Model classes as a list, or by name (how a CLI config lists them). */
export type ModelList = Iterable<unknown> | Record<string, unknown>;

/**
 * True for a class made by the `Image` mixin. The mixin leaves no marker, so its members are
 * checked; `in` on the prototype finds the `objectType` getter without calling it.
 */
export function isImageClass(value: unknown): value is ImageEntityClass {
  if (typeof value !== 'function' || typeof value.prototype !== 'object' || value.prototype === null) return false;
  const proto = value.prototype as Record<string, unknown>;
  return (
    'objectType' in proto &&
    'objectId' in proto &&
    typeof proto.openFile === 'function' &&
    typeof proto.locate === 'function'
  );
}

/** The `imageAttachment()` relations of an owner class (none for any other class). */
export function attachmentRelations(ownerClass: unknown): AttachmentRelation[] {
  const cls = ownerClass as typeof Model;
  if (typeof cls !== 'function' || typeof cls.getRelations !== 'function') return [];
  const relations = cls.getRelations() as Record<string, Relation>;
  return attachmentRelationNames(cls).map((name) => {
    const relation = relations[name] as unknown as {
      relatedModelClass: ImageEntityClass;
      ownerProp: { props: string[] };
      relatedProp: { props: string[] };
    };
    return {
      ownerClass: cls,
      relationName: name,
      imageClass: relation.relatedModelClass,
      ownerProps: relation.ownerProp.props,
      imageProps: relation.relatedProp.props,
    };
  });
}

/** The entries of a model list, each with the name it is listed under (the class name in an array). */
export function listedModels(models: ModelList, argument = 'models'): Array<[string, unknown]> {
  check.object(models, argument, 'an array of model classes, or an object of them by name');
  if (Symbol.iterator in models) {
    return [...(models as Iterable<unknown>)].map((cls) => [typeof cls === 'function' ? cls.name : String(cls), cls]);
  }
  return Object.entries(models);
}

/**
 * The image classes `models` covers, each once, in the order listed: an image class stands for
 * itself, an owner class for the image classes of its `imageAttachment()` relations.
 * @throws InvalidArgumentError naming the entry that is neither
 */
export function imageClassesOf(models: ModelList, argument = 'models'): ImageEntityClass[] {
  const classes: ImageEntityClass[] = [];
  const add = (cls: ImageEntityClass) => {
    if (!classes.includes(cls)) classes.push(cls);
  };
  for (const [name, cls] of listedModels(models, argument)) {
    if (isImageClass(cls)) {
      add(cls);
      continue;
    }
    const relations = attachmentRelations(cls);
    if (relations.length === 0) {
      throw new InvalidArgumentError(
        `${argument}${/^[A-Za-z_$][\w$]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`}`,
        'an image model class (made with Image()) or an owner class with imageAttachment() relations',
        cls,
      );
    }
    for (const relation of relations) add(relation.imageClass);
  }
  return classes;
}

/** Checks that `Model` is an image class. @throws InvalidArgumentError */
export function assertImageClass(Model: unknown, argument = 'Model'): asserts Model is ImageEntityClass {
  if (!isImageClass(Model)) throw new InvalidArgumentError(argument, 'an image model class (made with Image())', Model);
}

/** The object type `cls`'s rows get by default (from its table name), when it can be read without a row. */
export function objectTypeWithoutRow(cls: ImageEntityClass): string | undefined {
  try {
    return (Object.create(cls.prototype) as ImageEntity).objectType;
  } catch {
    // An objectType override that reads the row: only the rows themselves can say.
    return undefined;
  }
}

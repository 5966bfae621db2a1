/**
 * What `queue.enqueueVariants()` checks and queues: the variant names asked for, and one job for
 * those whose outputs the set's original lacks.
 */
import { type ImageSet } from '../entity/index.js';
import { variantDeclarations } from '../entity/worker-api.js';
import { InvalidArgumentError } from '../errors.js';
import { encodeValue, identityOf, type VariantJobData } from './job.js';

/**
 * `names`, or every `make: 'queue'` variant of the set's relation.
 * @throws InvalidArgumentError for a name the relation does not declare
 */
export function checkedVariantNames(set: ImageSet, names: string[] | undefined): string[] {
  const declared = variantDeclarations(set);
  const wanted = names ?? [...declared.values()].filter((v) => v.make === 'queue').map((v) => v.name);
  if (!Array.isArray(wanted)) throw new InvalidArgumentError('names', 'an array of variant names', names);
  for (const name of wanted) {
    if (!declared.has(name)) {
      throw new InvalidArgumentError(
        'names',
        `names of the ${set.relationName} relation's variants (${[...declared.keys()].join(', ') || 'none'})`,
        name,
      );
    }
  }
  return [...new Set(wanted)].sort();
}

/**
 * The job of `names` for the loaded `set`'s original, or undefined when none of them misses an
 * output (unless `force`).
 * @throws ImageNotFoundError when the set has no original
 */
export function variantJobData(
  set: ImageSet,
  names: string[],
  options: { model: string; store: string; force: boolean },
): VariantJobData | undefined {
  const original = set.requireOriginal();
  const variants = names.filter((name) => options.force || set.variant(name).missing.length > 0);
  if (variants.length === 0) return undefined;
  return {
    v: 1,
    kind: 'variant',
    model: options.model,
    id: encodeValue(set.owner.$id()),
    relation: set.relationName,
    subset: Object.fromEntries(Object.entries(set.subset).map(([column, value]) => [column, encodeValue(value)])),
    variants,
    store: options.store,
    original: identityOf(original),
  };
}

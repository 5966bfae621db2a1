/**
 * The image set an original row heads, for the commands that walk originals (`regenerate`).
 */
import type { ImageEntity, ImageSet } from '../entity/index.js';
import { imageSetOf } from '../entity/worker-api.js';
import type { ConfigRelation } from './config.js';

/**
 * The set of `original` through `relation`, its owner made from the join keys the original holds:
 * the set's queries need nothing else, so the owner is not read.
 */
export function setOfOriginal(relation: ConfigRelation, original: ImageEntity): ImageSet {
  const ownerJson = Object.fromEntries(
    relation.ownerProps.map((prop, i) => [prop, (original as any)[relation.imageProps[i]!]]),
  );
  const owner = relation.ownerClass.fromJson(ownerJson, { skipValidation: true });
  return imageSetOf(owner, relation.relationName, original);
}

/**
 * Keys for in-process maps (single flight, ledgers, caches): values and store instances as strings
 * and numbers that compare equal when they name the same thing.
 */

/** JSON with bigints, for single-flight keys and messages. */
export function stableKey(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
}

const storeTags = new WeakMap<object, number>();
let lastStoreTag = 0;

/** A number that tells store instances apart in a key (stores have no identity of their own). */
export function storeTag(store: object): number {
  let tag = storeTags.get(store);
  if (tag === undefined) storeTags.set(store, (tag = ++lastStoreTag));
  return tag;
}

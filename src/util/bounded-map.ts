/**
 * A Map that holds at most `maxEntries`: setting a key makes it the newest, and once full the
 * oldest set goes first. For the small caches that remember what was read or checked lately.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly maxEntries: number) {
    super();
  }

  override set(key: K, value: V): this {
    // Map iterates in insertion order: deleting first makes this key the newest.
    super.delete(key);
    super.set(key, value);
    if (this.size > this.maxEntries) super.delete(this.keys().next().value!);
    return this;
  }
}

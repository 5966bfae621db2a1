/**
 * The image rows `thumbnailRoute()` read lately, per owner and relation, so that a request soon
 * after another for the same owner reads none: a warm hit then costs no query at all, and a new
 * width one statement fewer. Rows are trusted only as far as their files: every file answer stats
 * the file and compares its identity, so a thumbnail whose file was rewritten (a picture replaced
 * by one of the same size and type: same path, new bytes) is sent new at once, and a file gone (a
 * picture replaced by one of another size, or removed: the old files are deleted once the
 * replacement commits) sends the route back to the database at once. A thumbnail to make is
 * checked against the database in its own transaction anyway. What is left is a file that
 * outlives its row (a delete after commit that failed, and warned): at most `maxAgeMs` after the
 * rows were read.
 */
import type { Model, Relation } from 'objection';
import type { ImageSet } from '../entity/index.js';
import { stableKey } from '../util/cache-keys.js';
import { BoundedMap } from '../util/bounded-map.js';

interface Rows {
  /** The owner's whole relation (every subset), as `withGraphFetched` would have loaded it. */
  readonly images: readonly Model[];
  readonly readAt: number;
}

export class RecentRows {
  private readonly rows: BoundedMap<string, Rows>;

  constructor(
    private readonly maxAgeMs: number,
    maxEntries = 10_000,
  ) {
    this.rows = new BoundedMap(maxEntries);
  }

  /** The key of `set`'s owner and relation: the owner's values the relation joins on. */
  static keyOf(set: ImageSet): string {
    const owner = set.owner;
    const relation = (owner.constructor as typeof Model).getRelation(set.relationName) as Relation & {
      ownerProp: { props: string[] };
    };
    const values = relation.ownerProp.props.map((prop) => (owner as unknown as Record<string, unknown>)[prop]);
    return stableKey([relation.relatedModelClass.tableName, set.relationName, values]);
  }

  /**
   * Loads `set`'s relation from rows read less than `maxAgeMs` ago under `key`, as `set.load()`
   * would from the database.
   * @returns when those rows were read (`performance.now()`), or undefined when there are none
   */
  load(key: string, set: ImageSet): number | undefined {
    const found = this.rows.get(key);
    if (found === undefined) return undefined;
    if (performance.now() - found.readAt >= this.maxAgeMs) {
      this.rows.delete(key);
      return undefined;
    }
    // A copy: the set replaces its owner's array when it learns of a new image, never edits it.
    (set.owner as unknown as Record<string, unknown>)[set.relationName] = [...found.images];
    return found.readAt;
  }

  /** Remembers the relation `set` has loaded now, read from the database at `readAt`. */
  remember(key: string, set: ImageSet, readAt: number): void {
    const images = (set.owner as unknown as Record<string, unknown>)[set.relationName];
    if (!Array.isArray(images)) return;
    this.rows.set(key, { images: [...(images as Model[])], readAt });
  }

  forget(key: string): void {
    this.rows.delete(key);
  }
}

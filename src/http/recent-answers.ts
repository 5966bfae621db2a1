/**
 * What `thumbnailRoute()` answered lately: for (image set, width), the image whose file it sent.
 * A warm hit then reads no rows at all: the file itself is the check. Each answer still goes
 * through the file server, which stats the file and compares its identity, so a thumbnail whose
 * file was rewritten (a picture replaced by one of the same size and type: same path, new bytes)
 * is sent new at once, and a file gone (a picture replaced by one of another size, or removed:
 * the old files are deleted once the replacement commits) sends the route back to the database
 * at once. What is left is a file that outlives its row (a delete after commit that failed, and
 * warned): at most `maxAgeMs` after the answer was read.
 */
import type { Model, Relation } from 'objection';
import type { ImageSet } from '../entity/image-set.js';
import type { ImageEntity } from '../entity/image.js';
import { stableKey } from '../entity/single-flight.js';

interface Answer {
  readonly image: ImageEntity;
  readonly readAt: number;
}

export class RecentAnswers {
  private readonly answers = new Map<string, Answer>();

  constructor(
    private readonly maxAgeMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  /** The key of `set`'s answer for `width` (undefined: the original), from the owner's values the relation joins on. */
  static keyOf(set: ImageSet, width: number | undefined): string {
    const owner = set.owner;
    const relation = (owner.constructor as typeof Model).getRelation(set.relationName) as Relation & { ownerProp: { props: string[] } };
    const values = relation.ownerProp.props.map((prop) => (owner as unknown as Record<string, unknown>)[prop]);
    return stableKey([relation.relatedModelClass.tableName, set.relationName, values, set.subset, width ?? 0]);
  }

  /** The image answered for `key` less than `maxAgeMs` ago, if any. */
  get(key: string): ImageEntity | undefined {
    const answer = this.answers.get(key);
    if (answer === undefined) return undefined;
    if (performance.now() - answer.readAt >= this.maxAgeMs) {
      this.answers.delete(key);
      return undefined;
    }
    return answer.image;
  }

  /** Remembers `image` as the answer for `key`, read from the database now. */
  set(key: string, image: ImageEntity): void {
    this.answers.delete(key);
    this.answers.set(key, { image, readAt: performance.now() });
    if (this.answers.size > this.maxEntries) {
      // Map iterates in insertion order: the first key is the one read longest ago.
      const oldest = this.answers.keys().next().value;
      if (oldest !== undefined) this.answers.delete(oldest);
    }
  }

  forget(key: string): void {
    this.answers.delete(key);
  }
}

/**
 * One image set's place in the database and in its owner's loaded relation: the queries, locks
 * and transactions the set's writing paths share (attach, thumbnails, removal), and the helpers
 * that read and update the loaded relation.
 */
import type { Knex } from 'knex';
import type { Model, QueryBuilder } from 'objection';
import { ImageAttachError, InvalidArgumentError } from '../errors.js';
import { type ImageLimits, resolveLimits } from '../imaging/probe.js';
import type { ThumbnailSize } from '../imaging/thumbnail.js';
import { type AttachmentInfo, attachmentInfo } from './attachment-info.js';
import type { ImageEntity } from './image.js';
import { filesSettled, transactionOutcome } from './ledger.js';
import { isSqlite, lockedRows, sqliteWriteLock } from './locks.js';
import { toDate } from '../stores/keys.js';
import { isRetryable, MAX_TRANSACTION_ATTEMPTS, retryPause } from './retry.js';
import { stableKey } from '../util/cache-keys.js';

export type Subset = Record<string, unknown>;

export class SetRows {
  readonly info: AttachmentInfo;

  /** @throws InvalidArgumentError when the relation is no image attachment, or the subset is wrong */
  constructor(
    readonly owner: Model,
    readonly relationName: string,
    readonly subset: Subset,
  ) {
    this.info = attachmentInfo(owner, relationName);
    const missing = this.info.subsetColumns.filter((c) => subset[c] === undefined);
    const extra = Object.keys(subset).filter((c) => !this.info.subsetColumns.includes(c));
    if (missing.length > 0 || extra.length > 0) {
      const expected = this.info.subsetColumns.length
        ? `values for exactly ${this.info.subsetColumns.join(', ')}`
        : 'no subset (the key has no extra columns)';
      throw new InvalidArgumentError('subset', expected, subset);
    }
  }

  get isLoaded(): boolean {
    return Array.isArray((this.owner as any)[this.relationName]);
  }

  /** This set's images in the loaded relation. @throws ImageAttachError when it is not loaded */
  loadedImages(): ImageEntity[] {
    return loadedImages(this.owner, this.info).filter((image) => this.contains(image));
  }

  /** The limits of an attach: the call's over the relation's over the image class's. */
  limits(options: Partial<ImageLimits>): ImageLimits {
    const { maxBytes, maxPixels, types, maxAnimationPixelsPerByte } = options;
    return resolveLimits(this.info.imageClass.imageLimits, this.info.limits, {
      maxBytes,
      maxPixels,
      types,
      maxAnimationPixelsPerByte,
    });
  }

  relatedQuery(trx: Knex.Transaction | undefined): QueryBuilder<Model, Model[]> {
    // The relation name is dynamic, so Objection's typing of $relatedQuery cannot follow it.
    return (this.owner.$relatedQuery as (name: string, trx?: Knex.Transaction) => QueryBuilder<Model, Model[]>).call(
      this.owner,
      this.relationName,
      trx,
    );
  }

  setQuery(trx: Knex.Transaction | undefined): QueryBuilder<Model, Model[]> {
    return this.relatedQuery(trx).where(this.subset);
  }

  /**
   * The set's rows a thumbnail of `size` is decided from: the original, and the images of that
   * width (`{ width }`) or height (`{ height }`), the only ones that can answer it (see
   * `size-match.ts`); the whole set for a `{ ratio }`. A set with many thumbnails reads two rows,
   * not all of them.
   */
  thumbnailCandidatesQuery(trx: Knex.Transaction | undefined, size: ThumbnailSize): QueryBuilder<Model, Model[]> {
    const [side, value] =
      'width' in size && size.width !== undefined
        ? ['width', size.width]
        : 'height' in size && size.height !== undefined
          ? ['height', size.height]
          : [];
    if (side === undefined || value === undefined) return this.setQuery(trx);
    const table = this.info.imageClass.tableName;
    return this.setQuery(trx).where(
      (query) => void query.where(`${table}.original`, true).orWhere(`${table}.${side}`, value),
    );
  }

  /** Inserts one image row of this set. */
  async insert(
    trx: Knex.Transaction,
    row: { width: number; height: number; mimetype: string; original: boolean; created_at?: Date },
  ): Promise<ImageEntity> {
    return (await this.relatedQuery(trx).insert({ ...this.subset, ...row })) as unknown as ImageEntity;
  }

  /**
   * Locks the set for a replacement or removal, and returns its committed rows. The owner's row is
   * locked first: it exists even when the set is empty, so two writers of a new set queue on it
   * rather than both inserting (a set's own rows cannot be locked before they exist). Then the
   * set's rows, in a statement of their own, so a worker's share lock on the original is waited for.
   */
  async lockSet(trx: Knex.Transaction): Promise<ImageEntity[]> {
    const ownerClass = this.owner.constructor as typeof Model;
    const ownerId = this.owner.$id();
    if (ownerId !== undefined && ownerId !== null) {
      await lockedRows(
        ownerClass.query(trx).findByIds([ownerId]) as unknown as QueryBuilder<Model, Model[]>,
        'update',
        trx,
        this.info.imageClass.tableName,
      );
    }
    return (await lockedRows(
      this.setQuery(trx),
      'update',
      trx,
      this.info.imageClass.tableName,
    )) as unknown as ImageEntity[];
  }

  /**
   * Makes a thumbnail transaction of its own wait for a replacement or removal of the set under
   * way, and keeps one from starting until it ends: a share lock on the owner's row, which every
   * such writer locks for update first (see {@link lockSet}). Thumbnails of one owner share it.
   * Its own statement, so the reads after it see what the writer committed (PostgreSQL: a fresh
   * snapshot; MySQL: the snapshot is taken at the first plain read, after this). SQLite: the
   * database write lock.
   * @returns true when that holds every writer off (the owner's row exists, or SQLite)
   */
  async lockOwnerShared(trx: Knex.Transaction): Promise<boolean> {
    const ownerClass = this.owner.constructor as typeof Model;
    const ownerId = this.owner.$id();
    const table = this.info.imageClass.tableName;
    if (ownerId === undefined || ownerId === null) {
      await sqliteWriteLock(trx, table);
      return isSqlite(trx);
    }
    const owners = await lockedRows(
      ownerClass.query(trx).findByIds([ownerId]) as unknown as QueryBuilder<Model, Model[]>,
      'share',
      trx,
      table,
    );
    return owners.length > 0 || isSqlite(trx);
  }

  /**
   * Locks `original` (a row read in `trx`) as a queue worker does (worker-api.ts `lockedImage`), and
   * tells whether it is still the set's original: the same row, committed with the same
   * `created_at`. A writer that replaced it meanwhile is waited for first.
   */
  async holdsOriginal(trx: Knex.Transaction, original: ImageEntity): Promise<boolean> {
    const query = this.setQuery(trx).where({ width: original.width, height: original.height });
    const [locked] = (await lockedRows(
      query,
      'share',
      trx,
      this.info.imageClass.tableName,
    )) as unknown as ImageEntity[];
    return (
      locked !== undefined &&
      locked.original &&
      locked.mimetype === original.mimetype &&
      toDate(locked.created_at).getTime() === toDate(original.created_at).getTime()
    );
  }

  /**
   * Runs `work` in `trx`, or in a transaction of its own whose file work it waits for. A
   * transaction of its own that the database chose as a deadlock's victim (or, with
   * `uniqueRace`, that lost an insert race) is run again, a few times at most (see `retry.ts`).
   * One whose COMMIT went out but whose answer was lost returns its result if the database says
   * it committed.
   * @throws ImageAttachError `ERR_COMMIT_UNKNOWN` when the database could not say
   */
  async inTransaction<T>(
    trx: Knex.Transaction | undefined,
    work: (trx: Knex.Transaction) => Promise<T>,
    options: { uniqueRace?: boolean } = {},
  ): Promise<T> {
    if (trx) return work(trx);
    for (let attempt = 1; ; attempt++) {
      let own: Knex.Transaction | undefined;
      let done: { value: T } | undefined;
      try {
        return await (this.info.imageClass as unknown as typeof Model).transaction(async (t) => {
          own = t;
          const value = await work(t);
          done = { value };
          return value;
        });
      } catch (error) {
        if (own) await filesSettled(own);
        const outcome = own && transactionOutcome(own);
        if (outcome === 'committed' && done !== undefined) return done.value;
        if (outcome === 'unknown') {
          throw new ImageAttachError(
            'ERR_COMMIT_UNKNOWN',
            `The connection failed after COMMIT was sent for ${this.describe()}, and the database could not be asked whether it committed: no file was removed; ` +
              'the rows are the truth (a later process settles the files, see settleInterruptedWrites)',
            { cause: error, statusCode: 503 },
          );
        }
        if (attempt >= MAX_TRANSACTION_ATTEMPTS || !isRetryable(error, options.uniqueRace === true)) throw error;
      } finally {
        if (own) await filesSettled(own);
      }
      await retryPause(attempt);
    }
  }

  contains(image: ImageEntity): boolean {
    return this.info.subsetColumns.every((c) => String((image as any)[c]) === String(this.subset[c]));
  }

  /** Puts `image` in the loaded relation (if loaded), in place of this set's image of its size. */
  remember(image: ImageEntity): void {
    if (!this.isLoaded) return;
    const others = loadedImages(this.owner, this.info).filter(
      (i) => !(this.contains(i) && i.width === image.width && i.height === image.height),
    );
    this.setLoaded([...others, image]);
  }

  /** Makes `images` this set's whole content in the relation (loading the relation with them if need be). */
  replaceLoaded(images: ImageEntity[]): void {
    this.setLoaded([
      ...(this.isLoaded ? loadedImages(this.owner, this.info).filter((i) => !this.contains(i)) : []),
      ...images,
    ]);
  }

  setLoaded(images: ImageEntity[]): void {
    (this.owner as any)[this.relationName] = images;
  }

  describe(): string {
    const subset = Object.keys(this.subset).length ? ` ${stableKey(this.subset)}` : '';
    return `${this.owner.constructor.name} ${stableKey(this.owner.$id())} ${this.relationName}${subset}`;
  }
}

/** Every image of the owner's loaded relation (all its sets). @throws ImageAttachError when it is not loaded */
export function loadedImages(owner: Model, info: AttachmentInfo): ImageEntity[] {
  const images = (owner as any)[info.relationName];
  if (!Array.isArray(images)) {
    throw new ImageAttachError(
      'ERR_IMAGE_SET_NOT_LOADED',
      `${owner.constructor.name}.${info.relationName} is not loaded: fetch owners with .withGraphFetched('${info.relationName}'), ` +
        `or await imageSet(owner, '${info.relationName}').load()`,
    );
  }
  return images;
}

/**
 * Image sets: one owner's original image and its thumbnails, through an `imageAttachment()`
 * relation (SQLAlchemy-ImageAttach's `ImageSet`; with extra key columns, its `ImageSubset`).
 *
 * Reading (`original`, `locate`, `findThumbnail`, `toHTML`) works on the loaded relation, with no
 * query and no store I/O, so a page of owners fetched with `withGraphFetched` renders for free.
 * Writing runs in the transaction given as `trx` (or in one of its own), and files follow it:
 * attaching is in `attach.ts`, making a thumbnail in `make-thumbnail.ts`, the shared queries and
 * loaded-relation helpers in `set-rows.ts`.
 */
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import type { Knex } from 'knex';
import { type Model, UniqueViolationError } from 'objection';
import { ImageNotFoundError, InvalidArgumentError } from '../errors.js';
import { tooLarge } from '../imaging/probe.js';
import { checkThumbnailSpecs } from '../imaging/thumbnail-batch.js';
import type { ThumbnailSize } from '../imaging/thumbnail.js';
import { attachmentInfo } from './attachment-info.js';
import { attachOriginal } from './attach.js';
import { concreteStore, type ImageEntity, type StoreOption, type ToHtmlOptions } from './image.js';
import { generateThumbnail } from './make-thumbnail.js';
import type { AttachOptions, FindSize, ThumbnailOptions, WriteOptions } from './set-options.js';
import { loadedImages, SetRows, type Subset } from './set-rows.js';
import { imageOfSize } from './size-match.js';
import { singleFlight } from './single-flight.js';
import { stableKey, storeTag } from '../util/cache-keys.js';
import { spoolToTempFile } from '../util/spool.js';
import * as check from '../util/check.js';
import type { CropRect, FocalPoint, VariantFormat } from '../imaging/variant-recipe.js';
import { checkCropRect, checkFocalPoint, currentOriginal, makeVariants, pickOutput } from './make-variants.js';
import type { Placeholder } from './set-meta.js';
import { setFrame } from './variant-frame.js';
import { dropVariantRows } from './variant-lifecycle.js';
import { declaredVariant, loadedMeta, loadedVariant, type VariantOutput, type VariantState } from './variants.js';

export type { AttachOptions, FindSize, ThumbnailOptions, ThumbnailSpec, WriteOptions } from './set-options.js';

/**
 * The names of `Owner`'s image relations, as its properties declare them: `declare photo?: Photo[]`,
 * the way Objection's documentation declares relations. For an owner type that declares none
 * (a plain `Model`), any string: the name is then checked when the set is made.
 */
export type ImageRelationName<Owner> = [DeclaredImageRelation<Owner>] extends [never]
  ? string
  : DeclaredImageRelation<Owner>;

type DeclaredImageRelation<Owner> = {
  [K in keyof Owner]-?: NonNullable<Owner[K]> extends readonly ImageEntity[] ? K : never;
}[keyof Owner] &
  string;

/** The image class that `Owner`'s relation `Name` holds (`ImageEntity` when it is not declared). */
export type ImageOfRelation<Owner, Name> = Name extends keyof Owner
  ? NonNullable<Owner[Name]> extends readonly (infer I extends ImageEntity)[]
    ? I
    : ImageEntity
  : ImageEntity;

/**
 * The image set of `owner` through its `imageAttachment()` relation `relationName`; `subset`
 * picks one set when the image key has extra columns (`{ cover_id: 2 }`). Typed by the owner's
 * declared relation: `imageSet(product, 'photo')` is an `ImageSet<Photo>`.
 * @throws InvalidArgumentError when the relation is no image attachment, or the subset is wrong
 */
export function imageSet<Owner extends Model, Name extends ImageRelationName<Owner>>(
  owner: Owner,
  relationName: Name,
  subset: Subset = {},
): ImageSet<ImageOfRelation<Owner, Name>> {
  return new ImageSet(owner, relationName, subset);
}

/**
 * Every image set of `owner` through `relationName` (one per value of the extra key columns),
 * from the loaded relation.
 */
export function imageSets<Owner extends Model, Name extends ImageRelationName<Owner>>(
  owner: Owner,
  relationName: Name,
): ImageSet<ImageOfRelation<Owner, Name>>[] {
  const info = attachmentInfo(owner, relationName);
  const seen = new Map<string, Subset>();
  for (const image of loadedImages(owner, info)) {
    const subset = Object.fromEntries(info.subsetColumns.map((c) => [c, (image as any)[c]]));
    seen.set(stableKey(subset), subset);
  }
  return [...seen.values()].map((subset) => new ImageSet(owner, relationName, subset));
}

const setRows = new WeakMap<ImageSet<any>, SetRows>();

/** The rows behind `set`, for entity/worker-api.ts (the class keeps them private). @internal */
export function rowsOf(set: ImageSet<any>): SetRows {
  return setRows.get(set)!;
}

export class ImageSet<I extends ImageEntity = ImageEntity> {
  private readonly rows: SetRows;

  /** @throws InvalidArgumentError when the relation is no image attachment, or the subset is wrong */
  constructor(
    readonly owner: Model,
    readonly relationName: string,
    readonly subset: Subset = {},
  ) {
    this.rows = new SetRows(owner, relationName, subset);
    setRows.set(this, this.rows);
  }

  /** True when the owner's relation is loaded (by `withGraphFetched`, `$fetchGraph` or `load()`). */
  get isLoaded(): boolean {
    return this.rows.isLoaded;
  }

  /** Every image of this set, original and thumbnails. Needs the relation loaded. */
  get images(): I[] {
    return this.rows.loadedImages() as I[];
  }

  /** The original image, or `undefined` when none is attached. Needs the relation loaded. */
  get original(): I | undefined {
    return this.images.find((image) => image.original);
  }

  /** The thumbnails, smallest first. Needs the relation loaded. */
  get thumbnails(): I[] {
    return this.images.filter((image) => !image.original).sort((a, b) => a.width - b.width || a.height - b.height);
  }

  /** The original. @throws ImageNotFoundError when there is none */
  requireOriginal(): I {
    const original = this.original;
    if (original === undefined) throw new ImageNotFoundError(`${this.rows.describe()} has no original image`);
    return original;
  }

  /** The URL of the original. @throws ImageNotFoundError */
  locate(options: StoreOption = {}): string {
    return this.requireOriginal().locate(options);
  }

  /**
   * `<img>` of the original. @throws ImageNotFoundError
   * @example imageSet(user, 'picture').toHTML({ alt: user.name })
   */
  toHTML(options: ToHtmlOptions = {}): string {
    return this.requireOriginal().toHTML(options);
  }

  /**
   * The image of this set (the original included) of that width and/or height. When several
   * match (a set may hold 87×57 and 87×58 when two libraries made them), the choice is fixed: the
   * original if it matches, else the one smallest on the other side.
   * @throws InvalidArgumentError with neither; ImageNotFoundError when none matches
   */
  findThumbnail(size: FindSize): I {
    const { width, height } = size ?? {};
    if (width === undefined && height === undefined)
      throw new InvalidArgumentError('size', '{ width } and/or { height }', size);
    const found = imageOfSize(this.images, { width, height });
    if (found === undefined)
      throw new ImageNotFoundError(`${this.rows.describe()} has no image of ${describeSize(size)}`, {
        data: { ...size },
      });
    return found;
  }

  /** Loads the owner's relation (every set of it), so the reading methods work. */
  async load(options: { trx?: Knex.Transaction } = {}): Promise<this> {
    this.rows.setLoaded((await this.rows.relatedQuery(options.trx)) as unknown as ImageEntity[]);
    return this;
  }

  /**
   * Attaches a file (a path, or a stream) as the new original, replacing the whole set; with
   * `options.thumbnails`, its thumbnails too, from one decode. See {@link fromStream}.
   */
  async fromFile(file: string | Readable, options: AttachOptions = {}): Promise<I> {
    if (file instanceof Readable) return this.fromStream(file, options);
    if (typeof file !== 'string') throw new InvalidArgumentError('file', 'a file path or a Readable', file);
    return (await attachOriginal(this.rows, file, (await stat(file)).size, options)) as I;
  }

  /** Attaches image bytes held in memory as the new original (and `options.thumbnails`). See {@link fromStream}. */
  async fromBlob(blob: Buffer, options: AttachOptions = {}): Promise<I> {
    check.instanceOf(blob, Buffer, 'blob', 'a Buffer');
    return (await attachOriginal(this.rows, blob, blob.length, options)) as I;
  }

  /**
   * Attaches a stream as the new original, replacing the whole set (old original and every
   * thumbnail). The stream is spooled to a temp file (removed afterwards) so the type and size can
   * be read first; memory stays flat whatever the size.
   *
   * With `options.thumbnails`, those thumbnails are rendered from one decode of the input before the
   * transaction, and stored with the original in it: the original and all of them, or nothing.
   * @returns the original (the thumbnails are in the loaded relation: `set.thumbnails`)
   * @throws InvalidImageError when the bytes are rejected (nothing is stored then)
   * @example
   * const original = await imageSet(user, 'picture').fromStream(req, { thumbnails: [{ width: 100 }, { width: 400, format: 'webp' }] });
   */
  async fromStream(stream: Readable, options: AttachOptions = {}): Promise<I> {
    check.instanceOf(stream, Readable, 'stream', 'a Readable');
    // A bad thumbnails option is refused before the stream is read.
    checkThumbnailSpecs(options.thumbnails);
    const { maxBytes } = this.rows.limits(options);
    const spooled = await spoolToTempFile(stream, maxBytes, options.tempDir, () => tooLarge(undefined, maxBytes));
    try {
      return (await attachOriginal(this.rows, spooled.path, spooled.size, options)) as I;
    } finally {
      await spooled.dispose();
    }
  }

  /** The original's bytes as a stream. @throws ImageNotFoundError */
  async openFile(options: StoreOption & { trx?: Knex.Transaction } = {}): Promise<Readable> {
    if (!this.isLoaded) await this.load(options);
    return this.requireOriginal().openFile(options);
  }

  /** The original's bytes. @throws ImageNotFoundError */
  async makeBlob(options: StoreOption & { trx?: Knex.Transaction } = {}): Promise<Buffer> {
    return buffer(await this.openFile(options));
  }

  /**
   * Makes (or finds) a thumbnail of exactly one of `{ width }`, `{ height }` or `{ ratio }`; the
   * other side is truncated. As SQLAlchemy-ImageAttach does, an image the set has already answers
   * first: for `{ width }` any image of that width (even the original), likewise for `{ height }`;
   * for `{ ratio }` the image of the computed size.
   * Without `trx`, a replacement of the set under way is waited for, and the thumbnail is of the
   * picture it committed.
   * @throws InvalidArgumentError for a bad size; ImageNotFoundError when there is no original;
   *   ImageAttachError `ERR_ORIGINAL_UNREADABLE` (422) when the stored original does not decode,
   *   `ERR_ORIGINAL_REPLACED` (409) when, in your `trx`, the original read was replaced since
   */
  async generateThumbnail(size: ThumbnailSize, options: ThumbnailOptions = {}): Promise<I> {
    return (await generateThumbnail(this.rows, size, options)) as I;
  }

  /**
   * {@link generateThumbnail}, safe under concurrency: concurrent calls in this process for the
   * same size share one, and a row made meanwhile by another process is returned, not an error.
   */
  async findOrCreateThumbnail(size: ThumbnailSize, options: ThumbnailOptions = {}): Promise<I> {
    if (options.trx) return this.generateThumbnail(size, options);
    const store = concreteStore(options.store);
    const key = stableKey({
      table: this.rows.info.imageClass.tableName,
      owner: this.owner.$id(),
      subset: this.subset,
      size,
      format: options.format,
      store: storeTag(store),
    });
    const image = (await singleFlight(key, () =>
      this.generateThumbnail(size, { ...options, store }).catch(async (error) => {
        if (!(error instanceof UniqueViolationError)) throw error;
        // Another process inserted the same size first: theirs is the thumbnail, which a second
        // try finds (and reuses) as it would any other.
        return this.generateThumbnail(size, { ...options, store });
      }),
    )) as I;
    this.rows.remember(image);
    return image;
  }

  /**
   * What the set has of its variant `name`, for its current original: the outputs made of it
   * (recipe-stale ones included: served until remade), the missing ones, the recipe-stale ones
   * and the CSS box. Over the loaded relation (`withGraphFetched` brings the variants along): no
   * query, no store I/O.
   * @throws InvalidArgumentError when the relation declares no variant `name`; ImageNotFoundError
   *   when the set has no original
   * @example imageSet(user, 'picture').variant('avatar').outputs.map((o) => o.locate())
   */
  variant(name: string): VariantState {
    return loadedVariant(this.rows, name, this.original);
  }

  /** The focal point set for the current original (fractions of the upright picture), if any. Needs the relation loaded. */
  get focalPoint(): FocalPoint | undefined {
    return loadedMeta(this.rows, this.original)?.focal;
  }

  /** The crop rectangle set for the current original (fractions of the upright picture), if any. Needs the relation loaded. */
  get crop(): CropRect | undefined {
    return loadedMeta(this.rows, this.original)?.crop;
  }

  /** The current original's placeholder (`placeholder: 'thumbhash'`), if made. Needs the relation loaded. */
  get placeholder(): Placeholder | undefined {
    return loadedMeta(this.rows, this.original)?.placeholder;
  }

  /**
   * Sets (or, with `null`, clears) the focal point `focal`-positioned variants centre on, as
   * fractions (0–1) of the upright picture; the original is not altered. The variants it affects
   * are remade as their `make` says (upload: now; queue: enqueued after the commit; demand: on
   * their next request); their old outputs are never served again.
   * @throws InvalidArgumentError for a point outside 0–1; ImageNotFoundError when there is no original
   */
  async setFocalPoint(point: FocalPoint | null, options: WriteOptions = {}): Promise<void> {
    const focal = checkFocalPoint(point);
    await setFrame(this.rows, { focal }, { trx: options.trx, store: concreteStore(options.store) });
  }

  /**
   * Sets (or clears) the crop rectangle applied before `crop: 'user'` variants are made, as
   * fractions of the upright picture; remakes what it affects as {@link setFocalPoint} does.
   * @throws InvalidArgumentError for a rectangle outside the picture or empty; ImageNotFoundError
   */
  async setCrop(rect: CropRect | null, options: WriteOptions = {}): Promise<void> {
    const crop = checkCropRect(rect);
    await setFrame(this.rows, { crop }, { trx: options.trx, store: concreteStore(options.store) });
  }

  /**
   * Makes the outputs of the variants `names` (default: every declared variant) of the current
   * original: all of them, or with `only` those missing or those made by another recipe.
   * @returns the outputs of those variants as stored afterwards
   * @throws InvalidArgumentError for an undeclared name; ImageNotFoundError when there is no original
   */
  async generateVariants(
    names?: readonly string[],
    options: WriteOptions & { only?: 'missing' | 'stale' } = {},
  ): Promise<VariantOutput[]> {
    if (names !== undefined && !Array.isArray(names))
      throw new InvalidArgumentError('names', 'a list of variant names', names);
    if (options.only !== undefined) check.oneOf(options.only, ['missing', 'stale'] as const, 'options.only');
    const variants = (names ?? [...this.rows.info.variants.keys()]).map((n) => declaredVariant(this.rows, n));
    return makeVariants(
      this.rows,
      variants.map((variant) => ({ variant })),
      { trx: options.trx, store: concreteStore(options.store), which: options.only ?? 'all' },
    );
  }

  /**
   * The output of variant `name` picked by `output` (its `descriptor`, its `width` in pixels,
   * its `format`; the first declared output by default), made now if the current original has
   * none. Concurrent calls in this process share one render; a row another process stored
   * meanwhile is returned, not an error.
   * @throws InvalidArgumentError for an undeclared name or output; ImageNotFoundError when there is no original
   */
  async findOrCreateVariant(
    name: string,
    output: { width?: number; descriptor?: string; format?: VariantFormat } = {},
    options: StoreOption = {},
  ): Promise<VariantOutput> {
    const variant = declaredVariant(this.rows, name);
    const store = concreteStore(options.store);
    const original = this.isLoaded ? this.original : await currentOriginal(this.rows, undefined);
    if (original === undefined)
      throw new ImageNotFoundError(`${this.rows.describe()} has no original image, so no variant ${name}`);
    const pick = pickOutput(variant, original.mimetype, output);
    if (this.isLoaded) {
      const found = this.variant(name).outputs.find(
        (o) => o.descriptor === pick.descriptor && o.format === pick.format,
      );
      if (found !== undefined) return found;
    }
    const key = stableKey({
      table: this.rows.info.imageClass.tableName,
      owner: this.owner.$id(),
      subset: this.subset,
      variant: name,
      descriptor: pick.descriptor,
      format: pick.format,
      store: storeTag(store),
    });
    const outputs = await singleFlight(key, () =>
      makeVariants(this.rows, [{ variant, outputs: [pick] }], { store, which: 'missing' }),
    );
    const made = outputs[0];
    if (made === undefined)
      throw new ImageNotFoundError(
        `${this.rows.describe()}: variant ${name} ${pick.descriptor} ${pick.format} was not made`,
      );
    return made;
  }

  /** Removes the whole set: rows now (in the transaction), files once it commits. */
  async remove(options: WriteOptions = {}): Promise<void> {
    const store = concreteStore(options.store);
    await this.rows.inTransaction(options.trx, async (trx) => {
      await this.rows.lockSet(trx);
      await this.rows.setQuery(trx).delete().context({ store });
      await dropVariantRows(trx, this.rows, store);
    });
    if (this.isLoaded) this.rows.replaceLoaded([]);
  }
}

function describeSize(size: FindSize): string {
  return [
    size.width !== undefined ? `width ${size.width}` : '',
    size.height !== undefined ? `height ${size.height}` : '',
  ]
    .filter(Boolean)
    .join(' and ');
}

/**
 * Image sets: one owner's original image and its thumbnails, through an `imageAttachment()`
 * relation (the seed's `ImageSet`; with extra key columns, its `ImageSubset`).
 *
 * Reading (`original`, `locate`, `findThumbnail`, `toHTML`) works on the loaded relation, with no
 * query and no store I/O, so a page of owners fetched with `withGraphFetched` renders for free.
 * Writing runs in the transaction given as `trx` (or in one of its own), and files follow it.
 */
import { access, open, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import type { Knex } from 'knex';
import { type Model, type QueryBuilder, UniqueViolationError } from 'objection';
import { ImageAttachError, ImageNotFoundError, InvalidArgumentError } from '../errors.js';
import { checkProbed, type ImageLimits, type ProbedImage, probeImage, resolveLimits } from '../imaging/probe.js';
import { type SpooledFile, spoolToTempFile } from '../imaging/spool.js';
import { makeThumbnailStream, type ThumbnailFormat, type ThumbnailSize, thumbnailDimensions, thumbnailMimetype } from '../imaging/thumbnail.js';
import type { Store } from '../stores/store.js';
import { type AttachmentInfo, attachmentInfo } from './attachment-info.js';
import { concreteStore, type HtmlAttributes, type ImageEntity, type StoreOption } from './image.js';
import { FileLedger, filesSettled } from './ledger.js';
import { lockedRows } from './locks.js';

export interface WriteOptions extends StoreOption {
  /** The transaction to work in; without one, the set runs its own and waits for its files. */
  trx?: Knex.Transaction;
}

export interface AttachOptions extends WriteOptions, Partial<ImageLimits> {
  /** Where streamed input is spooled while it is checked. Default: the OS temp folder. */
  tempDir?: string;
  /**
   * What an earlier probe of these very bytes found (`req.file.probed` from `imageUpload()`):
   * attach then skips reading and decoding the file again, and only checks that result against
   * this set's limits. Its `size` must be the file's.
   */
  probed?: ProbedImage;
}

export interface ThumbnailOptions extends WriteOptions {
  /** The thumbnail's format. Default: the original's (PNG for SVG originals). */
  format?: ThumbnailFormat;
  /** The most pixels the original may have to be decoded (default: the attach limit). */
  maxPixels?: number;
}

/** A size to look for: width, height, or both. */
export interface FindSize {
  width?: number;
  height?: number;
}

type Subset = Record<string, unknown>;

/** Calls already making a thumbnail in this process, so concurrent requests share one. */
const inFlight = new Map<string, Promise<ImageEntity>>();

/**
 * The image set of `owner` through its `imageAttachment()` relation `relationName`; `subset`
 * picks one set when the image key has extra columns (`{ cover_id: 2 }`).
 * @throws InvalidArgumentError when the relation is no image attachment, or the subset is wrong
 */
export function imageSet<I extends ImageEntity = ImageEntity>(owner: Model, relationName: string, subset: Subset = {}): ImageSet<I> {
  return new ImageSet<I>(owner, relationName, subset);
}

/**
 * Every image set of `owner` through `relationName` (one per value of the extra key columns),
 * from the loaded relation.
 */
export function imageSets<I extends ImageEntity = ImageEntity>(owner: Model, relationName: string): ImageSet<I>[] {
  const info = attachmentInfo(owner, relationName);
  const seen = new Map<string, Subset>();
  for (const image of loadedImages(owner, info)) {
    const subset = Object.fromEntries(info.subsetColumns.map((c) => [c, (image as any)[c]]));
    seen.set(stableKey(subset), subset);
  }
  return [...seen.values()].map((subset) => new ImageSet<I>(owner, relationName, subset));
}

export class ImageSet<I extends ImageEntity = ImageEntity> {
  private readonly info: AttachmentInfo;

  constructor(
    readonly owner: Model,
    readonly relationName: string,
    readonly subset: Subset = {},
  ) {
    this.info = attachmentInfo(owner, relationName);
    const missing = this.info.subsetColumns.filter((c) => subset[c] === undefined);
    const extra = Object.keys(subset).filter((c) => !this.info.subsetColumns.includes(c));
    if (missing.length > 0 || extra.length > 0) {
      const expected = this.info.subsetColumns.length ? `values for exactly ${this.info.subsetColumns.join(', ')}` : 'no subset (the key has no extra columns)';
      throw new InvalidArgumentError('subset', expected, subset);
    }
  }

  /** True when the owner's relation is loaded (by `withGraphFetched`, `$fetchGraph` or `load()`). */
  get isLoaded(): boolean {
    return Array.isArray((this.owner as any)[this.relationName]);
  }

  /** Every image of this set, original and thumbnails. Needs the relation loaded. */
  get images(): I[] {
    return loadedImages(this.owner, this.info).filter((image) => this.contains(image)) as I[];
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
    if (original === undefined) throw new ImageNotFoundError(`${this.describe()} has no original image`);
    return original;
  }

  /** The URL of the original. @throws ImageNotFoundError */
  locate(options: StoreOption = {}): string {
    return this.requireOriginal().locate(options);
  }

  /** `<img>` of the original. @throws ImageNotFoundError */
  toHTML(options: StoreOption & { attributes?: HtmlAttributes } = {}): string {
    return this.requireOriginal().toHTML(options);
  }

  /**
   * The image of this set (the original included) of that width and/or height.
   * @throws InvalidArgumentError with neither; ImageNotFoundError when none matches
   */
  findThumbnail(size: FindSize): I {
    const { width, height } = size ?? {};
    if (width === undefined && height === undefined) throw new InvalidArgumentError('size', '{ width } and/or { height }', size);
    const found = this.images.find((i) => (width === undefined || i.width === width) && (height === undefined || i.height === height));
    if (found === undefined) throw new ImageNotFoundError(`${this.describe()} has no image of ${describeSize(size)}`, { data: { ...size } });
    return found;
  }

  /** Loads the owner's relation (every set of it), so the reading methods work. */
  async load(options: { trx?: Knex.Transaction } = {}): Promise<this> {
    (this.owner as any)[this.relationName] = await this.relatedQuery(options.trx);
    return this;
  }

  /** Attaches a file (a path, or a stream) as the new original. See {@link fromStream}. */
  async fromFile(file: string | Readable, options: AttachOptions = {}): Promise<I> {
    if (file instanceof Readable) return this.fromStream(file, options);
    if (typeof file !== 'string') throw new InvalidArgumentError('file', 'a file path or a Readable', file);
    return this.attach(file, (await stat(file)).size, options);
  }

  /** Attaches image bytes held in memory as the new original. */
  async fromBlob(blob: Buffer, options: AttachOptions = {}): Promise<I> {
    if (!Buffer.isBuffer(blob)) throw new InvalidArgumentError('blob', 'a Buffer', blob);
    return this.attach(blob, blob.length, options);
  }

  /**
   * Attaches a stream as the new original, replacing the whole set (old original and every
   * thumbnail). The stream is spooled to a temp file (removed afterwards) so the type and size can
   * be read first; memory stays flat whatever the size.
   * @throws InvalidImageError when the bytes are rejected (nothing is stored then)
   */
  async fromStream(stream: Readable, options: AttachOptions = {}): Promise<I> {
    if (!(stream instanceof Readable)) throw new InvalidArgumentError('stream', 'a Readable', stream);
    const spooled = await spoolToTempFile(stream, this.limits(options).maxBytes, options.tempDir);
    try {
      return await this.attach(spooled.path, spooled.size, options);
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
   * Makes (or finds, when an image of that size exists, even the original) a thumbnail of exactly
   * one of `{ width }`, `{ height }` or `{ ratio }`; the other side is truncated.
   * @throws InvalidArgumentError for a bad size; ImageNotFoundError when there is no original
   */
  async generateThumbnail(size: ThumbnailSize, options: ThumbnailOptions = {}): Promise<I> {
    // Validate the size and format before any work is done.
    thumbnailDimensions(1, 1, size);
    if (options.format !== undefined) thumbnailMimetype('image/png', options.format);
    const store = concreteStore(options.store);
    // Without a caller's transaction, render before taking one: the database is then held for a
    // row and a file copy, not for the resize (SQLite has one writer: a resize inside the
    // transaction would make every other request wait for it).
    const ahead =
      options.trx === undefined
        ? await this.renderAhead(size, options, store).catch(() => {
            // Only a head start: the transaction below renders again from the rows it reads, and
            // throws whatever error is real (a loaded relation may name an original since replaced).
            return undefined;
          })
        : undefined;
    try {
      const image = await this.inTransaction(options.trx, async (trx) => {
        const images = (await this.setQuery(trx)) as I[];
        const original = images.find((i) => i.original);
        if (original === undefined) throw new ImageNotFoundError(`${this.describe()} has no original image to make a thumbnail of`);
        const { width, height } = thumbnailDimensions(original.width, original.height, size);
        const existing = images.find((i) => i.width === width && i.height === height);
        if (existing !== undefined) return existing;
        const mimetype = thumbnailMimetype(original.mimetype, options.format);
        const row = (await this.relatedQuery(trx).insert({ ...this.subset, width, height, mimetype, original: false })) as unknown as I;
        // The render made ahead is used only if it is of this very original, size and type.
        const output =
          ahead !== undefined && ahead.of === renderKey(original, width, height, mimetype)
            ? await openLocalFile(ahead.path)
            : makeThumbnailStream(await openForProcessing(store, original), width, height, mimetype, this.limits(options).maxPixels);
        await FileLedger.of(trx).write(store, row, output, { reproducible: true });
        return row;
      });
      this.remember(image);
      return image;
    } finally {
      await ahead?.dispose();
    }
  }

  /** Renders the thumbnail to a temp file, outside any transaction; nothing when there is nothing to make. */
  private async renderAhead(size: ThumbnailSize, options: ThumbnailOptions, store: Store): Promise<(SpooledFile & { of: string }) | undefined> {
    // The loaded relation will do (the transaction checks the render against the rows anyway).
    const images = this.isLoaded ? this.images : ((await this.setQuery(undefined)) as I[]);
    const original = images.find((i) => i.original);
    // No original (the transaction will say so), or the thumbnail exists: nothing to render.
    if (original === undefined) return undefined;
    const { width, height } = thumbnailDimensions(original.width, original.height, size);
    if (images.some((i) => i.width === width && i.height === height)) return undefined;
    const mimetype = thumbnailMimetype(original.mimetype, options.format);
    const output = makeThumbnailStream(await openForProcessing(store, original), width, height, mimetype, this.limits(options).maxPixels);
    return { ...(await spoolToTempFile(output, Number.MAX_SAFE_INTEGER)), of: renderKey(original, width, height, mimetype) };
  }

  /**
   * {@link generateThumbnail}, safe under concurrency: concurrent calls in this process for the
   * same size share one, and a row made meanwhile by another process is returned, not an error.
   */
  async findOrCreateThumbnail(size: ThumbnailSize, options: ThumbnailOptions = {}): Promise<I> {
    if (options.trx) return this.generateThumbnail(size, options);
    const store = concreteStore(options.store);
    const key = stableKey({ table: this.info.imageClass.tableName, owner: this.owner.$id(), subset: this.subset, size, format: options.format, store: storeTag(store) });
    let pending = inFlight.get(key);
    if (pending === undefined) {
      pending = this.generateThumbnail(size, { ...options, store }).catch(async (error) => {
        if (!(error instanceof UniqueViolationError)) throw error;
        // Another process inserted the same size first: theirs is the thumbnail.
        await this.load();
        const original = this.requireOriginal();
        return this.findThumbnail(thumbnailDimensions(original.width, original.height, size));
      });
      inFlight.set(key, pending);
      void pending.then(() => inFlight.delete(key), () => inFlight.delete(key));
    }
    const image = (await pending) as I;
    this.remember(image);
    return image;
  }

  /**
   * Reads this set's image of `width`×`height` (the original, or a thumbnail) and locks it until
   * `trx` ends: others may read and lock it alike, but replacing or removing the set waits. A
   * background worker holds this on the original while it makes a thumbnail, so the thumbnail can
   * never outlive the original it was made of (see `entity/locks.ts`).
   * @returns the image, or `undefined` when the set has none of that size
   */
  async lockedImage(size: { width: number; height: number }, trx: Knex.Transaction): Promise<I | undefined> {
    const query = this.setQuery(trx).where({ width: size.width, height: size.height });
    const [image] = await lockedRows(query, 'share', trx, this.info.imageClass.tableName);
    return image as I | undefined;
  }

  /** Removes the whole set: rows now (in the transaction), files once it commits. */
  async remove(options: WriteOptions = {}): Promise<void> {
    const store = concreteStore(options.store);
    await this.inTransaction(options.trx, async (trx) => {
      await this.lockSet(trx);
      await this.setQuery(trx).delete().context({ store });
    });
    if (this.isLoaded) this.setLoaded(loadedImages(this.owner, this.info).filter((i) => !this.contains(i)));
  }

  private async attach(input: string | Buffer, size: number, options: AttachOptions): Promise<I> {
    const limits = this.limits(options);
    const probed = options.probed === undefined ? await probeImage(input, size, limits) : reuseProbe(options.probed, size, limits);
    const { mimetype, width, height } = probed;
    const store = concreteStore(options.store);
    const image = await this.inTransaction(options.trx, async (trx) => {
      // Wait for thumbnails being made of the old original, so the delete below sees them too.
      await this.lockSet(trx);
      // The old set's rows go now; the image hooks send their files after the commit.
      await this.setQuery(trx).delete().context({ store });
      const row = (await this.relatedQuery(trx).insert({ ...this.subset, mimetype, width, height, original: true })) as unknown as I;
      const data = typeof input === 'string' ? await openLocalFile(input) : Readable.from([input]);
      await FileLedger.of(trx).write(store, row, data, { reproducible: false });
      return row;
    });
    this.setLoaded([...(this.isLoaded ? loadedImages(this.owner, this.info).filter((i) => !this.contains(i)) : []), image]);
    return image;
  }

  private limits(options: Partial<ImageLimits>): ImageLimits {
    const { maxBytes, maxPixels, types } = options;
    return resolveLimits(this.info.imageClass.imageLimits, this.info.limits, { maxBytes, maxPixels, types });
  }

  private relatedQuery(trx: Knex.Transaction | undefined): QueryBuilder<Model, Model[]> {
    // The relation name is dynamic, so Objection's typing of $relatedQuery cannot follow it.
    return (this.owner.$relatedQuery as (name: string, trx?: Knex.Transaction) => QueryBuilder<Model, Model[]>).call(this.owner, this.relationName, trx);
  }

  private setQuery(trx: Knex.Transaction | undefined) {
    return this.relatedQuery(trx).where(this.subset);
  }

  /** Locks the set's rows for a replacement or removal, in a statement of its own. */
  private async lockSet(trx: Knex.Transaction): Promise<void> {
    await lockedRows(this.setQuery(trx), 'update', trx, this.info.imageClass.tableName);
  }

  /** Runs `work` in `trx`, or in a transaction of its own whose file work it waits for. */
  private async inTransaction<T>(trx: Knex.Transaction | undefined, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    if (trx) return work(trx);
    let own: Knex.Transaction | undefined;
    try {
      return await (this.info.imageClass as unknown as typeof Model).transaction(async (t) => {
        own = t;
        return work(t);
      });
    } finally {
      if (own) await filesSettled(own);
    }
  }

  private contains(image: ImageEntity): boolean {
    return this.info.subsetColumns.every((c) => String((image as any)[c]) === String(this.subset[c]));
  }

  private remember(image: I): void {
    if (!this.isLoaded) return;
    const others = loadedImages(this.owner, this.info).filter((i) => !(this.contains(i) && i.width === image.width && i.height === image.height));
    this.setLoaded([...others, image]);
  }

  private setLoaded(images: ImageEntity[]): void {
    (this.owner as any)[this.relationName] = images;
  }

  private describe(): string {
    const subset = Object.keys(this.subset).length ? ` ${stableKey(this.subset)}` : '';
    return `${this.owner.constructor.name} ${stableKey(this.owner.$id())} ${this.relationName}${subset}`;
  }
}

/** The original for sharp to read: its local path when the store has one, else a stream. */
/**
 * A stream of a local file, opened now: a missing file rejects here, in the transaction, rather
 * than as an 'error' event of a stream no one listens to yet (which would crash the process).
 */
async function openLocalFile(file: string): Promise<Readable> {
  return (await open(file, 'r')).createReadStream();
}

/** What a render made ahead was made of: the original (its creation instant too) and the output. */
function renderKey(original: ImageEntity, width: number, height: number, mimetype: string): string {
  const created = original.created_at instanceof Date ? original.created_at.getTime() : String(original.created_at);
  return `${original.width}x${original.height}:${original.mimetype}:${created}->${width}x${height}:${mimetype}`;
}

async function openForProcessing(store: Store, image: ImageEntity): Promise<Readable | string> {
  const file = store.localPath(image);
  if (file === undefined) return store.open(image);
  try {
    await access(file);
  } catch (error) {
    throw new ImageNotFoundError(`No image file at ${file}`, { cause: error, data: { path: file } });
  }
  return file;
}

function loadedImages(owner: Model, info: AttachmentInfo): ImageEntity[] {
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

/** An earlier probe of the same bytes, checked for shape, size and this set's limits. */
function reuseProbe(probed: ProbedImage, size: number, limits: ImageLimits): ProbedImage {
  const positive = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 1;
  if (probed === null || typeof probed !== 'object' || typeof probed.mimetype !== 'string' || ![probed.width, probed.height, probed.pixels].every(positive)) {
    throw new InvalidArgumentError('options.probed', 'the result of probing this file ({ mimetype, width, height, size, pixels })', probed);
  }
  if (probed.size !== size) throw new InvalidArgumentError('options.probed.size', `${size} (the size of the file attached)`, probed.size);
  checkProbed(probed, limits);
  return probed;
}

function describeSize(size: FindSize): string {
  return [size.width !== undefined ? `width ${size.width}` : '', size.height !== undefined ? `height ${size.height}` : ''].filter(Boolean).join(' and ');
}

/** JSON with bigints, for cache keys and messages. */
function stableKey(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
}

const storeTags = new WeakMap<object, number>();
let lastStoreTag = 0;
function storeTag(store: object): number {
  let tag = storeTags.get(store);
  if (tag === undefined) storeTags.set(store, (tag = ++lastStoreTag));
  return tag;
}

/**
 * S3SandboxStore: run staging (or a developer's box) against production images without touching
 * them. Two S3 stores look like one: `underlying` (production, only ever read) and `overriding`
 * (the sandbox's own bucket or prefix, where every change lands).
 *
 * SQLAlchemy-ImageAttach's semantics: writes go to `overriding`; reads try `overriding`, then `underlying`; a
 * delete writes a marker object (empty, Content-Type {@link DELETED_MARK_MIMETYPE}) to
 * `overriding`, so the production image reads as missing while it stays intact.
 *
 * URLs: SQLAlchemy-ImageAttach sent a HEAD request to `overriding` inside every `get_url()`. Our `getUrl()` is
 * synchronous and does no I/O (templates call it while rendering), so the store remembers which
 * keys `overriding` holds: every key it writes, deletes or reads from there, plus whatever
 * {@link S3SandboxStore.refreshOverrides} lists. A key written by another process since the last
 * `refreshOverrides()` gets the underlying URL until then.
 *
 * A replacement is staged in `overriding` (see `s3-staging.ts`) and copied into place there after
 * the commit, as on an S3Store.
 */
import type { Readable } from 'node:stream';
import { ImageNotFoundError, InvalidArgumentError } from '../errors.js';
import { type ImageKey, type NormalizedKey, objectStorageKey, type StoredImage } from './keys.js';
import { type S3FileStat, S3Store } from './s3.js';
import { sendWithin } from './s3-deadline.js';
import { s3Sdk } from './s3-sdk.js';
import type { StagingArea } from './staging.js';
import { type ByteRange, type PutFileOptions, Store } from './store.js';
import * as check from '../util/check.js';

/** The Content-Type of a "deleted" marker object; SQLAlchemy-ImageAttach's value, so its sandboxes read alike. */
export const DELETED_MARK_MIMETYPE = 'application/x-sqlalchemy-imageattach-sandbox-deleted';

export interface S3SandboxStoreOptions {
  /** The store read from and never written to (production). */
  underlying: S3Store;
  /** The store every write and delete goes to: another bucket, or another prefix. */
  overriding: S3Store;
}

/**
 * Production images readable, sandbox changes kept apart.
 *
 * @example
 * const store = new S3SandboxStore({
 *   underlying: new S3Store({ bucket: 'prod-images', region: 'eu-west-1' }),
 *   overriding: new S3Store({ bucket: 'staging-images', region: 'eu-west-1' }),
 * });
 * await store.refreshOverrides(); // once at startup, so URLs of earlier sandbox writes are right
 */
export class S3SandboxStore extends Store {
  readonly underlying: S3Store;
  readonly overriding: S3Store;
  /** Layout keys (`<type>/<id>/<w>x<h><ext>`) that `overriding` holds: images and markers. */
  private readonly overridden = new Set<string>();

  /** @throws InvalidArgumentError naming the bad option */
  constructor(options: S3SandboxStoreOptions) {
    super();
    for (const name of ['underlying', 'overriding'] as const) {
      check.instanceOf(options?.[name], S3Store, `options.${name}`, 'an S3Store');
    }
    const { underlying, overriding } = options;
    if (underlying.bucket === overriding.bucket && underlying.prefix === overriding.prefix) {
      throw new InvalidArgumentError(
        'options.overriding',
        `a store apart from options.underlying (another bucket or prefix than s3://${underlying.bucket}/${underlying.prefix})`,
        overriding,
      );
    }
    this.underlying = underlying;
    this.overriding = overriding;
  }

  async putFile(key: ImageKey, stream: Readable, options: PutFileOptions): Promise<void> {
    await this.overriding.putFile(key, stream, options);
    this.overridden.add(objectStorageKey(key));
  }

  async getFile(key: ImageKey, range?: ByteRange): Promise<Readable> {
    const id = objectStorageKey(key);
    let found;
    try {
      found = await this.overriding.getObject(key, range);
    } catch (error) {
      if (!(error instanceof ImageNotFoundError)) throw error;
      this.overridden.delete(id);
      return this.underlying.getFile(key, range);
    }
    this.overridden.add(id);
    if (found.contentType === DELETED_MARK_MIMETYPE) {
      found.body.destroy();
      throw new ImageNotFoundError(
        `The image s3://${this.overriding.bucket}/${this.overriding.objectKey(key)} was deleted in the sandbox`,
        {
          data: { bucket: this.overriding.bucket, key: this.overriding.objectKey(key) },
        },
      );
    }
    return found.body;
  }

  /** The overriding URL for a key the sandbox holds (written or deleted), else the underlying one. */
  getUrl(key: ImageKey): string {
    return this.storeFor(key).getUrl(key);
  }

  /** As {@link getUrl}, through the chosen store's `locate` (which signs `_ts` in for signed URLs). */
  override locate(image: StoredImage): string {
    return this.storeFor(image).locate(image);
  }

  /**
   * Hides the image: when `underlying` holds it, a marker replaces any sandbox copy; when it does
   * not, the sandbox copy is simply removed (no marker needed, none left behind). Idempotent.
   */
  async deleteFile(key: ImageKey): Promise<void> {
    const id = objectStorageKey(key);
    if ((await this.underlying.statFile(key)) === null) {
      await this.overriding.deleteFile(key);
      this.overridden.delete(id);
      return;
    }
    const { PutObjectCommand } = s3Sdk();
    const { bucket } = this.overriding;
    const name = this.overriding.objectKey(key);
    // An empty object: no storage class (cheaper classes bill a minimum size) and never cached.
    await sendWithin(
      this.overriding.access,
      new PutObjectCommand({
        Bucket: bucket,
        Key: name,
        Body: new Uint8Array(0),
        ContentType: DELETED_MARK_MIMETYPE,
        CacheControl: 'no-store',
      }),
      { bucket, key: name, operation: 'PutObject' },
    );
    this.overridden.add(id);
  }

  /** The sandbox's stat when it holds the key (`null` for a marker), else the underlying one. */
  async statFile(key: ImageKey): Promise<S3FileStat | null> {
    const id = objectStorageKey(key);
    const own = await this.overriding.statFile(key);
    if (own === null) {
      this.overridden.delete(id);
      return this.underlying.statFile(key);
    }
    this.overridden.add(id);
    return own.contentType === DELETED_MARK_MIMETYPE ? null : own;
  }

  /** The sandbox's images, then the underlying ones it neither replaces nor hides. */
  async *listFiles(): AsyncIterable<NormalizedKey> {
    const held = new Set<string>();
    for await (const object of this.overriding.listObjects()) {
      held.add(objectStorageKey(object.key));
      // Markers are empty; only an empty object needs the HEAD that tells a marker from an image.
      if (object.size === 0 && (await this.overriding.statFile(object.key))?.contentType === DELETED_MARK_MIMETYPE)
        continue;
      yield object.key;
    }
    for await (const key of this.underlying.listFiles()) {
      if (!held.has(objectStorageKey(key))) yield key;
    }
  }

  /**
   * Lists `overriding` and remembers every key it holds, so `getUrl` points at the sandbox for
   * images written (or deleted) by other processes too. Call it at startup, and again whenever
   * other processes may have written (say, on a timer).
   * @throws StoreError `ERR_STORE_UNAVAILABLE`
   */
  async refreshOverrides(): Promise<void> {
    const held = new Set<string>();
    for await (const object of this.overriding.listObjects()) held.add(objectStorageKey(object.key));
    this.overridden.clear();
    for (const id of held) this.overridden.add(id);
  }

  /**
   * The staging area of `overriding`, remembering the keys it promotes there. None for a subclass
   * with its own `putFile` (staging writes bytes as this class does).
   */
  override get staging(): StagingArea | undefined {
    const area = this.overriding.staging;
    if (area === undefined || this.putFile !== S3SandboxStore.prototype.putFile) return undefined;
    return {
      stage: (key, data, note) => area.stage(key, data, note),
      promote: async (key, token) => {
        await area.promote(key, token);
        this.overridden.add(objectStorageKey(key));
      },
      discard: (token) => area.discard(token),
      abandon: (token) => area.abandon(token),
      list: () => area.list(),
      readNote: (token) => area.readNote(token),
      open: (token) => area.open(token),
    };
  }

  private storeFor(key: ImageKey): S3Store {
    return this.overridden.has(objectStorageKey(key)) ? this.overriding : this.underlying;
  }
}

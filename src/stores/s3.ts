/**
 * S3Store: images as objects in an S3 bucket (AWS, or any S3-compatible service: MinIO, R2, B2…),
 * in SQLAlchemy-ImageAttach's key layout `[prefix/]<objectType>/<id>/<w>x<h><ext>`.
 *
 * Uploads stream (see `s3-upload.ts`); a replacement under a committed row is staged under
 * `.staging/` and copied into place after the commit (see `s3-staging.ts`). Every SDK failure
 * becomes an `ImageNotFoundError` or a `StoreError`, within a bounded time: connection and idle
 * timeouts on the client this store makes, and a total deadline per operation (`operationTimeout`).
 */
import type {
  GetObjectCommandOutput,
  HeadObjectCommandOutput,
  ListObjectsV2CommandOutput,
  S3Client,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { ImageNotFoundError } from '../errors.js';
import {
  alternateNames,
  type ImageKey,
  keyFromObjectStorageKey,
  type NormalizedKey,
  objectStorageKey,
  type StoredImage,
  withTimestamp,
} from './keys.js';
import { Deadline, type S3Access, sendWithin } from './s3-deadline.js';
import { type ResolvedS3Options, resolveS3Options, type S3StoreOptions } from './s3-options.js';
import { encodeRfc3986 } from './s3-presign.js';
import { exactRange, isUnsatisfiableRange, makeS3Client, s3Failure, s3Sdk } from './s3-sdk.js';
import { S3DirectUploads } from './s3-direct-uploads.js';
import type { SigningCredentials } from './s3-presign.js';
import { bucketUrlOf } from './s3-options.js';
import { S3StagingArea } from './s3-staging.js';
import { type ObjectHeaders, uploadObject } from './s3-upload.js';
import { UrlSigner } from './s3-url-signer.js';
import type { StagingArea } from './staging.js';
import { type ByteRange, type FileStat, type PutFileOptions, Store, validateRange } from './store.js';

/** What HeadObject tells of an object, beyond its size. */
export interface S3FileStat extends FileStat {
  contentType?: string;
  cacheControl?: string;
  /** `STANDARD` when S3 leaves it out (it does, for the default class). */
  storageClass: string;
}

/** One object as a listing reports it. */
export interface S3ListedObject {
  key: NormalizedKey;
  size: number;
  modifiedAt?: Date;
}

/**
 * Images in an S3 bucket.
 *
 * @example
 * // AWS, public bucket (or a bucket policy granting public GET), URLs through a CDN:
 * new S3Store({ bucket: 'my-images', region: 'eu-west-1', publicBaseUrl: 'https://cdn.example.com/' })
 * @example
 * // An S3-compatible service:
 * new S3Store({ bucket: 'images', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true,
 *   credentials: { accessKeyId, secretAccessKey }, requestChecksumCalculation: 'WHEN_REQUIRED' })
 * @example
 * // A private bucket: URLs are presigned for an hour.
 * new S3Store({ bucket: 'private-images', region: 'us-east-1', signedUrls: { expiresIn: 3600 } })
 */
export class S3Store extends Store {
  /** The SDK client every request goes through. */
  readonly client: S3Client;
  readonly bucket: string;
  /** The key prefix, without trailing slash (a leading one is kept, as SQLAlchemy-ImageAttach keeps it); `''` for none. */
  readonly prefix: string;
  /** `Cache-Control: max-age` of uploaded objects, in seconds. */
  readonly maxAge: number;
  private readonly settings: ResolvedS3Options;
  private readonly options: S3StoreOptions;
  private readonly ownsClient: boolean;
  /** The client, bucket and deadline every request goes with (for the sandbox store). @internal */
  readonly access: S3Access;
  private readonly stagingArea: S3StagingArea;
  private readonly signer: UrlSigner;
  private readonly uploads: S3DirectUploads | undefined;

  /** @throws InvalidArgumentError naming the bad option */
  constructor(options: S3StoreOptions) {
    super();
    this.settings = resolveS3Options(options);
    this.options = { ...options };
    this.bucket = this.settings.bucket;
    this.prefix = this.settings.prefix;
    this.maxAge = this.settings.maxAge;
    this.ownsClient = options.client === undefined;
    this.client = options.client ?? makeS3Client(options);
    this.access = { client: this.client, bucket: this.bucket, timeout: this.settings.operationTimeout };
    this.stagingArea = new S3StagingArea(
      this.access,
      this.prefix,
      (mimetype, reproducible) => this.headersFor(mimetype, reproducible),
      (key) => this.objectKey(key),
    );
    this.signer = new UrlSigner(this.client, options, this.settings);
    this.uploads =
      options.directUploads === undefined
        ? undefined
        : new S3DirectUploads(
            {
              access: this.access,
              prefix: this.prefix,
              region: options.region!,
              bucketUrl: bucketUrlOf(options),
              credentials: () => (this.client.config.credentials as unknown as () => Promise<SigningCredentials>)(),
            },
            options.directUploads,
          );
  }

  /** Uploads sent by browsers straight to the bucket, under `[prefix/].uploads/` (with the `directUploads` option). */
  override get directUploads(): S3DirectUploads | undefined {
    return this.uploads;
  }

  /**
   * The object key of `key`: `[prefix/]<objectType>/<id>/<w>x<h><ext>`.
   * @throws InvalidArgumentError for a bad key
   */
  objectKey(key: ImageKey): string {
    const name = objectStorageKey(key);
    return this.prefix === '' ? name : `${this.prefix}/${name}`;
  }

  async putFile(key: ImageKey, stream: Readable, options: PutFileOptions): Promise<void> {
    let name: string;
    try {
      name = this.objectKey(key);
    } catch (error) {
      stream.destroy();
      throw error;
    }
    await uploadObject(this.access, name, stream, this.headersFor(key.mimetype, options?.reproducible === true));
  }

  /** What an uploaded object of `mimetype` carries: its type, caching, storage class and ACL. */
  private headersFor(mimetype: string, reproducible: boolean): ObjectHeaders {
    const storageClass = reproducible
      ? (this.options.reproducibleStorageClass ?? this.options.storageClass)
      : this.options.storageClass;
    return {
      ContentType: mimetype,
      CacheControl: `max-age=${this.maxAge}`,
      StorageClass: storageClass,
      ACL: this.options.acl,
    };
  }

  async getFile(key: ImageKey, range?: ByteRange): Promise<Readable> {
    return (await this.getObject(key, range)).body;
  }

  /** The object's name, and then its names under the other extensions of its type (`.tif` for `.tiff`). */
  private candidateNames(key: ImageKey): string[] {
    const name = this.objectKey(key);
    return [name, ...alternateNames(name, key.mimetype)];
  }

  /**
   * `getFile` plus what the GET response says of the object (its `Content-Type`). An object
   * missing under its name is looked for under the other extensions of its type.
   * @throws ImageNotFoundError; StoreError `ERR_STORE_UNAVAILABLE`
   */
  async getObject(key: ImageKey, range?: ByteRange): Promise<{ body: Readable; contentType?: string }> {
    const [name, ...others] = this.candidateNames(key);
    try {
      return await this.getNamedObject(key, name!, range);
    } catch (error) {
      if (!(error instanceof ImageNotFoundError)) throw error;
      for (const other of others) {
        try {
          return await this.getNamedObject(key, other, range);
        } catch (otherError) {
          if (!(otherError instanceof ImageNotFoundError)) throw otherError;
        }
      }
      throw error;
    }
  }

  private async getNamedObject(
    key: ImageKey,
    name: string,
    range?: ByteRange,
  ): Promise<{ body: Readable; contentType?: string }> {
    if (range !== undefined) validateRange(range);
    const { GetObjectCommand } = s3Sdk();
    const deadline = new Deadline(this.access.timeout, { bucket: this.bucket, key: name, operation: 'GetObject' });
    try {
      const out: GetObjectCommandOutput = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: name, Range: range && `bytes=${range.start}-${range.end}` }),
        { abortSignal: deadline.signal },
      );
      // The body is held to the same deadline: a peer trickling bytes cannot hold its reader longer.
      const body = deadline.guard(out.Body as Readable);
      return {
        body: range ? exactRange(body, range, out.ContentRange, out.ContentLength) : body,
        contentType: out.ContentType,
      };
    } catch (error) {
      deadline.clear();
      if (!(range !== undefined && isUnsatisfiableRange(error))) throw deadline.failure(error);
    }
    // A range starting past the end reads nothing, as it does from a file. The 416 carries no
    // object headers, so ask for the type (rare path: a reader asking past the end).
    const stat = await this.statNamedObject(name);
    if (stat === null)
      throw s3Failure({ name: 'NoSuchKey' }, { bucket: this.bucket, key: name, operation: 'GetObject' });
    return { body: Readable.from([]), contentType: stat.contentType };
  }

  /** Deletes the object, and its copies under the other extensions of its type (`.tif`), if any. */
  async deleteFile(key: ImageKey): Promise<void> {
    const { DeleteObjectCommand } = s3Sdk();
    for (const name of this.candidateNames(key)) {
      try {
        await sendWithin(this.access, new DeleteObjectCommand({ Bucket: this.bucket, Key: name }), {
          bucket: this.bucket,
          key: name,
          operation: 'DeleteObject',
        });
      } catch (error) {
        // S3 answers 204 for a missing object; some compatible services answer 404. Both mean "gone".
        if (!(error instanceof ImageNotFoundError)) throw error;
      }
    }
  }

  /**
   * HeadObject (under the other extensions of its type too, `extension` then saying which). Note
   * that S3 answers a HEAD with a bare 404 for a missing bucket and a missing object alike, so a
   * missing bucket reads as `null` here (getFile tells them apart).
   */
  async statFile(key: ImageKey): Promise<S3FileStat | null> {
    const [name, ...others] = this.candidateNames(key);
    const found = await this.statNamedObject(name!);
    if (found !== null || others.length === 0) return found;
    for (const other of others) {
      const stat = await this.statNamedObject(other);
      if (stat !== null) return { ...stat, extension: other.slice(other.lastIndexOf('.')) };
    }
    return null;
  }

  private async statNamedObject(name: string): Promise<S3FileStat | null> {
    const { HeadObjectCommand } = s3Sdk();
    try {
      const target = { bucket: this.bucket, key: name, operation: 'HeadObject' };
      const out = await sendWithin<HeadObjectCommandOutput>(
        this.access,
        new HeadObjectCommand({ Bucket: this.bucket, Key: name }),
        target,
      );
      return {
        size: out.ContentLength ?? 0,
        modifiedAt: out.LastModified,
        contentType: out.ContentType,
        cacheControl: out.CacheControl,
        storageClass: out.StorageClass ?? 'STANDARD',
      };
    } catch (error) {
      if (error instanceof ImageNotFoundError) return null;
      throw error;
    }
  }

  async *listFiles(): AsyncIterable<NormalizedKey> {
    for await (const object of this.listObjects()) yield object.key;
  }

  /**
   * Every image object under the prefix, with its size, page by page (ListObjectsV2). Objects
   * whose names this layout does not make are skipped.
   * @throws StoreError `ERR_STORE_UNAVAILABLE`
   */
  async *listObjects(): AsyncIterable<S3ListedObject> {
    const { ListObjectsV2Command } = s3Sdk();
    const start = this.prefix === '' ? '' : `${this.prefix}/`;
    let continuation: string | undefined;
    do {
      const page = await sendWithin<ListObjectsV2CommandOutput>(
        this.access,
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: start || undefined,
          MaxKeys: 1000,
          ContinuationToken: continuation,
        }),
        { bucket: this.bucket, operation: 'ListObjectsV2' },
      );
      for (const object of page.Contents ?? []) {
        const key = object.Key?.startsWith(start) ? keyFromObjectStorageKey(object.Key.slice(start.length)) : undefined;
        if (key !== undefined) yield { key, size: object.Size ?? 0, modifiedAt: object.LastModified };
      }
      continuation = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuation !== undefined);
  }

  /** Staging writes bytes as this class does: a subclass with its own `putFile` gets none. */
  override get staging(): StagingArea | undefined {
    return this.putFile === S3Store.prototype.putFile ? this.stagingArea : undefined;
  }

  /**
   * The URL of the object: `<base>/<key>`, where the base is `publicBaseUrl`, the custom endpoint
   * (path style) or the AWS bucket URL. With `signedUrls`, a presigned GET URL (see {@link locate}).
   * @throws StoreError `ERR_NO_SIGNING_CREDENTIALS` with `signedUrls` and no credentials in hand
   */
  getUrl(key: ImageKey): string {
    return this.signer.url(this.unsignedUrl(key));
  }

  /**
   * The URL with the `_ts` cache buster. With `signedUrls` the stamp goes in before signing: S3
   * checks every query parameter against the signature, so one appended afterwards would void it.
   */
  override locate(image: StoredImage): string {
    if (!this.signer.signs) return super.locate(image);
    return this.signer.url(withTimestamp(this.unsignedUrl(image), image.created_at));
  }

  /**
   * Resolves the client's credentials and keeps them for signing URLs, which `getUrl` must do
   * synchronously. Not needed with static `credentials`. With a provider (environment, instance
   * role, SSO…) call it once at startup; later `getUrl` calls refresh them in the background
   * before they expire.
   * @throws StoreError `ERR_STORE_UNAVAILABLE` when the credentials cannot be resolved
   */
  refreshCredentials(): Promise<void> {
    return this.signer.refresh();
  }

  /** Closes the sockets of the client this store made (not of a client you passed). */
  destroy(): void {
    if (this.ownsClient) this.client.destroy();
  }

  private unsignedUrl(key: ImageKey): string {
    return `${this.settings.baseUrl}/${this.objectKey(key).split('/').map(encodeRfc3986).join('/')}`;
  }
}

export type { S3StoreOptions } from './s3-options.js';

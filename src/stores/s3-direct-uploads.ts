/**
 * Direct uploads into an S3 store: the browser sends the bytes to the bucket itself, to a key
 * the library chose under the staging prefix `[prefix/].uploads/<id>`, with either
 *
 * - a POST policy (the default): S3 checks the key, `content-length-range` (1 to the declared
 *   size) and the exact `Content-Type`; or
 * - a presigned PUT whose `content-length` and `content-type` are signed headers: S3 refuses any
 *   other length or type (a PUT presigned without them would take any size).
 *
 * Both are signed here, by hand (SigV4 is HMAC over text, see `s3-presign.ts`), and the tests
 * compare them byte for byte with `@aws-sdk/s3-presigned-post` and `@aws-sdk/s3-request-presigner`.
 * Neither proves what arrived: the claim measures and sniffs the staged object itself.
 */
import type { GetObjectCommandOutput, HeadObjectCommandOutput } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { InvalidArgumentError, ImageNotFoundError } from '../errors.js';
import {
  checkUploadId,
  type DirectUploadOptions,
  type DirectUploads,
  type DirectUploadTarget,
  resolveDirectUploadOptions,
  type StagedUploadStat,
  type UploadInstructions,
} from './direct-uploads.js';
import { Deadline, type S3Access, sendWithin } from './s3-deadline.js';
import { encodeRfc3986, MAX_PRESIGN_SECONDS, presignPost, presignUrl, type SigningCredentials } from './s3-presign.js';
import { s3Sdk } from './s3-sdk.js';

/** An S3 store's `directUploads` option. */
export interface S3DirectUploadOptions extends DirectUploadOptions {
  /**
   * `'POST'` (default): a form upload under a POST policy. `'PUT'`: a presigned PUT with its
   * length and type signed. Both bound the size; POST also works from a plain HTML form.
   */
  method?: 'POST' | 'PUT';
}

/** What the capability needs of its store. */
export interface S3UploadAccess {
  access: S3Access;
  prefix: string;
  region: string;
  /** The bucket's URL on S3, without trailing slash. */
  bucketUrl: string;
  /** Resolves the credentials to sign with. */
  credentials(): Promise<SigningCredentials>;
}

export class S3DirectUploads implements DirectUploads {
  readonly tag: string;
  readonly secrets: readonly string[];
  readonly method: 'POST' | 'PUT';

  /** @throws InvalidArgumentError naming the bad option */
  constructor(
    private readonly store: S3UploadAccess,
    options: S3DirectUploadOptions,
  ) {
    const { secrets, tag } = resolveDirectUploadOptions(options, 's3', `${store.access.bucket}/${store.prefix}`);
    this.secrets = secrets;
    this.tag = tag;
    const method = options.method ?? 'POST';
    if (method !== 'POST' && method !== 'PUT') {
      throw new InvalidArgumentError('options.directUploads.method', '"POST" or "PUT"', method);
    }
    this.method = method;
  }

  stagingKey(id: string): string {
    checkUploadId(id);
    return this.store.prefix === '' ? `.uploads/${id}` : `${this.store.prefix}/.uploads/${id}`;
  }

  async presign(target: DirectUploadTarget, now = Date.now()): Promise<UploadInstructions> {
    const key = this.stagingKey(target.id);
    // Whole seconds, as SigV4 dates are; the signature then expires with the pending row.
    const date = new Date(Math.floor(now / 1000) * 1000);
    const expiresIn = Math.floor((target.expiresAt.getTime() - date.getTime()) / 1000);
    if (!(expiresIn >= 1 && expiresIn <= MAX_PRESIGN_SECONDS)) {
      throw new InvalidArgumentError('expiresAt', `an instant 1 s to 7 days ahead`, target.expiresAt);
    }
    const credentials = await this.store.credentials();
    const { region, bucketUrl } = this.store;
    if (this.method === 'PUT') {
      const url = presignUrl(
        'PUT',
        // `x-id` as the SDK's presigner adds it, so the two can be compared whole.
        `${bucketUrl}/${key.split('/').map(encodeRfc3986).join('/')}?x-id=PutObject`,
        { 'content-length': String(target.size), 'content-type': target.type },
        { region, credentials, expiresIn, date },
      );
      return { method: 'PUT', url, headers: { 'Content-Type': target.type } };
    }
    const { fields } = presignPost(
      this.store.access.bucket,
      key,
      [
        ['content-length-range', 1, target.size],
        ['eq', '$Content-Type', target.type],
      ],
      { region, credentials, expiresIn, date },
    );
    return { method: 'POST', url: bucketUrl, fields: { ...fields, 'Content-Type': target.type } };
  }

  async stat(id: string): Promise<StagedUploadStat | null> {
    const key = this.stagingKey(id);
    const { HeadObjectCommand } = s3Sdk();
    const { bucket } = this.store.access;
    try {
      const out = await sendWithin<HeadObjectCommandOutput>(
        this.store.access,
        new HeadObjectCommand({ Bucket: bucket, Key: key }),
        { bucket, key, operation: 'HeadObject' },
      );
      return { size: out.ContentLength ?? 0, modifiedAt: out.LastModified };
    } catch (error) {
      if (error instanceof ImageNotFoundError) return null;
      throw error;
    }
  }

  async open(id: string): Promise<Readable> {
    const key = this.stagingKey(id);
    const { GetObjectCommand } = s3Sdk();
    const { client, bucket, timeout } = this.store.access;
    const deadline = new Deadline(timeout, { bucket, key, operation: 'GetObject' });
    try {
      const out: GetObjectCommandOutput = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), {
        abortSignal: deadline.signal,
      });
      return deadline.guard(out.Body as Readable);
    } catch (error) {
      deadline.clear();
      throw deadline.failure(error);
    }
  }

  async delete(id: string): Promise<void> {
    const key = this.stagingKey(id);
    const { DeleteObjectCommand } = s3Sdk();
    const { bucket } = this.store.access;
    try {
      await sendWithin(this.store.access, new DeleteObjectCommand({ Bucket: bucket, Key: key }), {
        bucket,
        key,
        operation: 'DeleteObject',
      });
    } catch (error) {
      // S3 answers 204 for a missing object; some compatible services answer 404. Both mean "gone".
      if (!(error instanceof ImageNotFoundError)) throw error;
    }
  }
}

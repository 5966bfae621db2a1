/**
 * The AWS SDK, loaded when an S3 store is made; its client made from a store's options; its errors
 * turned into ours; its ranged reads made exact.
 *
 * The SDK packages are optional peer dependencies: an app that only uses the filesystem stores
 * must be able to import this library without them. So nothing here imports them at module load;
 * `createRequire` loads them (they ship CommonJS builds) the first time an S3 store needs them.
 */
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { ImageAttachError, ImageNotFoundError, StoreError } from '../errors.js';
import type { S3Client } from '@aws-sdk/client-s3';
import type { S3StoreOptions } from './s3-options.js';
import type { ByteRange } from './store.js';

type ClientS3 = typeof import('@aws-sdk/client-s3');
type LibStorage = typeof import('@aws-sdk/lib-storage');

const require = createRequire(import.meta.url);
let clientS3: ClientS3 | undefined;
let libStorage: LibStorage | undefined;

/**
 * `@aws-sdk/client-s3`.
 * @throws ImageAttachError `ERR_MISSING_DEPENDENCY` when it is not installed
 */
export function s3Sdk(): ClientS3 {
  return (clientS3 ??= load('@aws-sdk/client-s3') as ClientS3);
}

/**
 * `@aws-sdk/lib-storage` (streamed and multipart uploads).
 * @throws ImageAttachError `ERR_MISSING_DEPENDENCY` when it is not installed
 */
export function s3Upload(): LibStorage {
  return (libStorage ??= load('@aws-sdk/lib-storage') as LibStorage);
}

function load(name: string): unknown {
  try {
    return require(name);
  } catch (error) {
    throw new ImageAttachError('ERR_MISSING_DEPENDENCY', `S3 stores need the package ${name}: npm install ${name}`, {
      cause: error,
      data: { package: name },
    });
  }
}

/** The client an S3Store makes from its options (when it is given none). */
export function makeS3Client(o: S3StoreOptions): S3Client {
  return new (s3Sdk().S3Client)({
    region: o.region ?? (o.endpoint === undefined ? undefined : 'us-east-1'),
    endpoint: o.endpoint,
    forcePathStyle: o.forcePathStyle,
    credentials: o.credentials,
    requestChecksumCalculation: o.requestChecksumCalculation,
    // A wrong (or defaulted) region then costs one redirect instead of failing every request.
    followRegionRedirects: o.endpoint === undefined,
    maxAttempts: o.maxAttempts ?? 3,
    requestHandler: { connectionTimeout: o.connectionTimeout ?? 5000, socketTimeout: o.socketTimeout ?? 30_000 },
  });
}

/** What the SDK's errors carry: a service error's name and HTTP status, or a Node network code. */
interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/** True for "no such object" (GET's `NoSuchKey`, HEAD's bodiless `NotFound`), not for a missing bucket. */
export function isMissingObject(error: unknown): boolean {
  const e = (error ?? {}) as SdkError;
  if (e.name === 'NoSuchBucket') return false;
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}

/** True when a ranged GET started past the end of the object (HTTP 416). */
export function isUnsatisfiableRange(error: unknown): boolean {
  const e = (error ?? {}) as SdkError;
  return e.name === 'InvalidRange' || e.$metadata?.httpStatusCode === 416;
}

/** Where a failure happened, for messages and `error.data`. */
export interface S3Target {
  bucket: string;
  key?: string;
  operation: string;
}

/**
 * The typed error for an SDK failure: `ImageNotFoundError` for a missing object, else a
 * `StoreError` `ERR_STORE_UNAVAILABLE` (unreachable server, timeout, 5xx, missing bucket, access
 * denied…) that keeps the SDK's error as `cause` and its name and status in `data`.
 */
export function s3Failure(error: unknown, target: S3Target): ImageAttachError {
  if (error instanceof ImageAttachError) return error;
  const where = target.key === undefined ? `s3://${target.bucket}` : `s3://${target.bucket}/${target.key}`;
  const e = (error ?? {}) as SdkError;
  const data = {
    bucket: target.bucket,
    key: target.key,
    operation: target.operation,
    awsCode: e.name ?? e.code,
    httpStatus: e.$metadata?.httpStatusCode,
  };
  if (target.key !== undefined && isMissingObject(error)) {
    // The message may reach a page: it names the object's key, the bucket is in data.
    return new ImageNotFoundError(`No image object at ${target.key}`, { cause: error, data });
  }
  const reason =
    [e.name && e.name !== 'Error' ? e.name : e.code, e.message].filter(Boolean).join(': ') || String(error);
  return new StoreError('ERR_STORE_UNAVAILABLE', `S3 ${target.operation} on ${where} failed: ${reason}`, {
    cause: error,
    data,
  });
}

/**
 * The requested bytes of a GET's body. HTTP lets a server send more than a `Range` asked for (a
 * 200 with the whole object, or a wider 206), and some S3-compatible servers do (s3rver reads
 * `bytes=0-0` as "from 0 to the end"), so the body is cut to `range` here when the response's
 * `Content-Range` says it is wider. A body that is already exact passes through untouched.
 */
export function exactRange(
  body: Readable,
  range: ByteRange,
  contentRange: string | undefined,
  contentLength: number | undefined,
): Readable {
  const served = /^bytes (\d+)-(\d+)\//.exec(contentRange ?? '');
  const servedStart = served ? Number(served[1]) : 0;
  const servedLength = served ? Number(served[2]) - servedStart + 1 : contentLength;
  const skip = range.start - servedStart;
  const wanted = range.end - range.start + 1;
  if (skip === 0 && servedLength !== undefined && servedLength <= wanted) return body;
  return Readable.from(slice(body, Math.max(0, skip), wanted), { objectMode: false });
}

async function* slice(source: Readable, skip: number, length: number): AsyncGenerator<Buffer> {
  const end = skip + length;
  let offset = 0;
  try {
    // Leaving the loop early destroys `source`, so no more of the object is downloaded.
    for await (const chunk of source as AsyncIterable<Buffer>) {
      const from = Math.max(0, skip - offset);
      const to = Math.min(chunk.length, end - offset);
      offset += chunk.length;
      if (to > from) yield chunk.subarray(from, to);
      if (offset >= end) break;
    }
  } catch (error) {
    // Cutting the download short closes its socket, and the HTTP client may then report the
    // response 'aborted': once every wanted byte is here, that is our doing, not a failure.
    if (offset < end) throw error;
  }
}

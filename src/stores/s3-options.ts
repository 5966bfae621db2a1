/**
 * S3Store's options: their types, their checks, and what follows from them (the key prefix, the
 * base URL of objects). Kept apart from the store so that the store reads as S3 operations only.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { InvalidArgumentError } from '../errors.js';
import * as check from '../util/check.js';
import { checkHttpUrl } from './http-url.js';
import type { S3DirectUploadOptions } from './s3-direct-uploads.js';
import { encodeRfc3986, MAX_PRESIGN_SECONDS, type SigningCredentials } from './s3-presign.js';

/** A credentials provider as the AWS SDK takes one (env, instance role, SSO… resolve to these). */
export type S3CredentialsProvider = () => Promise<SigningCredentials>;

export interface S3StoreOptions {
  /** The bucket name. */
  bucket: string;
  /**
   * A client you made yourself (any `S3Client` configuration). Without it the store makes one from
   * `region`, `endpoint`, `forcePathStyle`, `credentials`, `requestChecksumCalculation` and the timeouts.
   * With it, `region`/`endpoint`/`forcePathStyle` still tell the store how to write URLs (a client's
   * own settings can only be read asynchronously), and the client-making options are refused.
   */
  client?: S3Client;
  /**
   * The bucket's region. Default: the SDK's own lookup (`AWS_REGION`, `~/.aws/config`), or
   * `us-east-1` with a custom `endpoint`. Required with `signedUrls` (a signature names its region).
   */
  region?: string;
  /** An S3-compatible service's endpoint, e.g. `http://127.0.0.1:9000` (MinIO). */
  endpoint?: string;
  /** Address buckets as `<endpoint>/<bucket>/…` instead of `<bucket>.<host>/…` (MinIO, s3rver…). */
  forcePathStyle?: boolean;
  /** Static keys, or an SDK credentials provider. Default: the SDK's chain (env, files, instance role). */
  credentials?: SigningCredentials | S3CredentialsProvider;
  /**
   * When the SDK adds request checksums. The SDK's default, `'WHEN_SUPPORTED'`, sends streamed
   * uploads as `aws-chunked` with a trailing CRC32, which some S3-compatible services reject and
   * some (s3rver) store corrupted, the chunk framing kept as data. Set `'WHEN_REQUIRED'` for those.
   * AWS itself works with either. (With your own `client`, set it on that client.)
   */
  requestChecksumCalculation?: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';
  /** Milliseconds to wait for a TCP connection before failing (each attempt). Default 5000. */
  connectionTimeout?: number;
  /**
   * Milliseconds a request's socket may stay silent (no byte sent or received) before the request
   * fails (each attempt). Default 30000. This is an idle timeout, so long uploads and downloads are
   * fine as long as bytes keep moving.
   */
  socketTimeout?: number;
  /** Attempts per request, retries included (the SDK retries throttling, 5xx and network errors). Default 3. */
  maxAttempts?: number;
  /**
   * Milliseconds one operation may take in all, retries included, from its request to the last
   * byte of its body (an upload's or a download's); then it fails with `ERR_STORE_UNAVAILABLE`.
   * Default 120000. A download whose bytes wait for a slow reader (a slow client it is piped to) is
   * not cut by it while they wait, only by `socketTimeout`. The timeouts above bound each attempt's silences only,
   * so without this a peer trickling a byte at a time could hold a call, and the transaction
   * around it, for minutes. Raise it when files are large and links slow. Applies to a `client`
   * you pass too.
   */
  operationTimeout?: number;
  /**
   * A key prefix, to share a bucket between stores: `'images'` → `images/<type>/<id>/<w>x<h><ext>`.
   * Trailing slashes are dropped and a leading one kept, as SQLAlchemy-ImageAttach does:
   * `'/images/'` names `/images/<type>/…`, another object than `images/<type>/…`.
   */
  prefix?: string;
  /** The public URL objects are served from, e.g. a CDN: `https://cdn.example.com/`. */
  publicBaseUrl?: string;
  /** `Cache-Control: max-age=<maxAge>` on every object, in seconds. Default 31536000 (a year). */
  maxAge?: number;
  /** A canned ACL, e.g. `'public-read'`. Default: none sent (most buckets now have ACLs disabled). */
  acl?: string;
  /** The storage class of originals, e.g. `'STANDARD'`. Default: the bucket's default. */
  storageClass?: string;
  /**
   * The storage class of reproducible files (thumbnails), e.g. `'STANDARD_IA'` or `'ONEZONE_IA'`:
   * they can be made again, so a cheaper, less durable class will do. Default: `storageClass`.
   */
  reproducibleStorageClass?: string;
  /** Make `getUrl`/`locate` return presigned GET URLs valid for `expiresIn` seconds (default 3600), for private buckets. */
  signedUrls?: { expiresIn?: number };
  /**
   * Accept direct uploads from browsers: presigned POSTs (or PUTs) into `[prefix/].uploads/<id>`
   * (see docs/direct-uploads.md). Needs `region` (signatures name it) and CORS on the bucket.
   */
  directUploads?: S3DirectUploadOptions;
}

/** The checked options, normalised. */
export interface ResolvedS3Options {
  bucket: string;
  prefix: string;
  /** Where objects are, without trailing slash: `<baseUrl>/<key>`. */
  baseUrl: string;
  maxAge: number;
  expiresIn: number | undefined;
  operationTimeout: number;
}

/** The longest delay a Node timer keeps (a longer one fires at once). */
const MAX_TIMER_MS = 2_147_483_647;

const CLIENT_MAKING = [
  'credentials',
  'requestChecksumCalculation',
  'connectionTimeout',
  'socketTimeout',
  'maxAttempts',
] as const;

/**
 * Checks every option, naming the bad one.
 * @throws InvalidArgumentError
 */
export function resolveS3Options(options: S3StoreOptions): ResolvedS3Options {
  check.object(options, 'options', 'an options object');
  const { bucket } = options;
  if (typeof bucket !== 'string' || !/^[A-Za-z0-9._-]{3,255}$/.test(bucket)) {
    throw new InvalidArgumentError(
      'options.bucket',
      'a bucket name (3 to 255 letters, digits, ".", "_" or "-")',
      bucket,
    );
  }
  if (options.client !== undefined) {
    if (options.client === null || typeof (options.client as { send?: unknown }).send !== 'function') {
      throw new InvalidArgumentError('options.client', 'an S3Client', options.client);
    }
    for (const name of CLIENT_MAKING) {
      if (options[name] !== undefined) {
        throw new InvalidArgumentError(
          `options.${name}`,
          'nothing alongside options.client (configure the client you pass)',
          options[name],
        );
      }
    }
  }
  optionalString(options.region, 'options.region', 'a region name like "eu-west-1"', /^[a-z0-9-]+$/);
  if (options.endpoint !== undefined) checkHttpUrl(options.endpoint, 'options.endpoint');
  if (options.forcePathStyle !== undefined) check.boolean(options.forcePathStyle, 'options.forcePathStyle');
  const { credentials } = options;
  if (credentials !== undefined && typeof credentials !== 'function') {
    const c = credentials as Partial<SigningCredentials> | null;
    if (
      c === null ||
      typeof c !== 'object' ||
      typeof c.accessKeyId !== 'string' ||
      typeof c.secretAccessKey !== 'string'
    ) {
      throw new InvalidArgumentError(
        'options.credentials',
        '{ accessKeyId, secretAccessKey } or a credentials provider function',
        credentials,
      );
    }
  }
  const checksum = options.requestChecksumCalculation;
  if (checksum !== undefined)
    check.oneOf(checksum, ['WHEN_SUPPORTED', 'WHEN_REQUIRED'], 'options.requestChecksumCalculation');
  optionalInteger(options.connectionTimeout, 'options.connectionTimeout', 1);
  optionalInteger(options.socketTimeout, 'options.socketTimeout', 1);
  optionalInteger(options.maxAttempts, 'options.maxAttempts', 1);
  const operationTimeout = options.operationTimeout ?? 120_000;
  check.integerIn(operationTimeout, 1, MAX_TIMER_MS, 'options.operationTimeout', 'milliseconds');
  const maxAge = options.maxAge ?? 31_536_000;
  optionalInteger(maxAge, 'options.maxAge', 0);
  optionalString(options.acl, 'options.acl', 'a canned ACL like "public-read"', /^[a-z-]+$/);
  optionalString(options.storageClass, 'options.storageClass', 'a storage class like "STANDARD"', /^[A-Z_]+$/);
  optionalString(
    options.reproducibleStorageClass,
    'options.reproducibleStorageClass',
    'a storage class like "STANDARD_IA"',
    /^[A-Z_]+$/,
  );

  const prefix = normalizePrefix(options.prefix);
  let expiresIn: number | undefined;
  if (options.signedUrls !== undefined) {
    check.object(options.signedUrls, 'options.signedUrls', 'an object like { expiresIn: 3600 }');
    expiresIn = options.signedUrls.expiresIn ?? 3600;
    check.integerIn(expiresIn, 1, MAX_PRESIGN_SECONDS, 'options.signedUrls.expiresIn', 'seconds');
    if (options.region === undefined) {
      throw new InvalidArgumentError(
        'options.region',
        'a region alongside options.signedUrls (signatures name their region)',
        undefined,
      );
    }
    if (options.publicBaseUrl !== undefined) {
      throw new InvalidArgumentError(
        'options.publicBaseUrl',
        'no publicBaseUrl alongside options.signedUrls (an S3 signature is only valid on S3 itself)',
        options.publicBaseUrl,
      );
    }
  }
  if (options.publicBaseUrl !== undefined) checkHttpUrl(options.publicBaseUrl, 'options.publicBaseUrl');
  if (options.directUploads !== undefined && options.region === undefined) {
    throw new InvalidArgumentError(
      'options.region',
      'a region alongside options.directUploads (signatures name their region)',
      undefined,
    );
  }
  return { bucket, prefix, baseUrl: baseUrlOf(options), maxAge, expiresIn, operationTimeout };
}

/**
 * `''`, `'a'`, `'/a/'`, `'a/b/'` → `''`, `'a'`, `'/a'`, `'a/b'`: SQLAlchemy-ImageAttach's rule
 * (`strip()`, then `rstrip('/')`), so both libraries address the same objects. What follows the
 * leading slashes must be plain path segments.
 */
function normalizePrefix(prefix: unknown): string {
  if (prefix === undefined) return '';
  const trimmed = typeof prefix === 'string' ? prefix.trim().replace(/\/+$/, '') : undefined;
  const path = trimmed?.replace(/^\/+/, '');
  const segments = path === undefined || path === '' ? [] : path.split('/');
  if (
    trimmed === undefined ||
    segments.some((s) => s === '' || s === '.' || s === '..' || /[\u0000-\u001f\u007f]/.test(s))
  ) {
    throw new InvalidArgumentError(
      'options.prefix',
      'a key prefix like "images" or "app/images" (no empty, "." or ".." segments)',
      prefix,
    );
  }
  return trimmed;
}

/**
 * The URL objects live under, without trailing slash:
 * - `publicBaseUrl` (a CDN), as given;
 * - a custom `endpoint`: path style, `<endpoint>/<bucket>` (works on every S3-compatible service);
 * - AWS, as SQLAlchemy-ImageAttach writes it: `https://<bucket>.s3.amazonaws.com` with no region
 *   (it reaches a bucket in any region), `https://<bucket>.s3.<region>.amazonaws.com` with one
 *   (`us-east-1` too); path style (`https://s3[.<region>].amazonaws.com/<bucket>`) when
 *   `forcePathStyle` is set or the bucket name is not a valid host name part: there we differ from
 *   it on purpose, as dots break TLS on virtual hosts (`*.s3.amazonaws.com` covers one label),
 *   capitals and `_` DNS.
 */
function baseUrlOf(options: S3StoreOptions): string {
  if (options.publicBaseUrl !== undefined) return options.publicBaseUrl.replace(/\/+$/, '');
  return bucketUrlOf(options);
}

/** The bucket's own URL on S3 (never `publicBaseUrl`): where presigned uploads go. See {@link baseUrlOf}. */
export function bucketUrlOf(options: S3StoreOptions): string {
  const bucket = encodeRfc3986(options.bucket);
  if (options.endpoint !== undefined) return `${options.endpoint.replace(/\/+$/, '')}/${bucket}`;
  const { region } = options;
  const host = region === undefined ? 's3.amazonaws.com' : `s3.${region}.amazonaws.com`;
  const virtualHostable = /^[a-z0-9][a-z0-9-]*[a-z0-9]$/.test(options.bucket);
  return options.forcePathStyle || !virtualHostable ? `https://${host}/${bucket}` : `https://${bucket}.${host}`;
}

function optionalString(value: unknown, name: string, expected: string, pattern: RegExp): void {
  if (value !== undefined && (typeof value !== 'string' || !pattern.test(value)))
    throw new InvalidArgumentError(name, expected, value);
}

function optionalInteger(value: unknown, name: string, min: number): void {
  if (value !== undefined) check.integerAtLeast(value, min, name);
}

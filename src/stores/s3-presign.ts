/**
 * Presigned S3 GET URLs (AWS Signature Version 4, query-string form), computed synchronously.
 *
 * Why not `@aws-sdk/s3-request-presigner`? Its `presign` is async (credential providers and hashing
 * are promise-based), while `Store.getUrl()` is synchronous: `<img src>` helpers and templates call
 * it while rendering. SigV4 itself is only HMAC-SHA256 over a canonical request, which node:crypto
 * does synchronously, so with credentials in hand the URL is pure computation. The tests check that
 * this function produces, byte for byte, the URL the SDK's presigner produces for the same request
 * and instant. The signing instant is floored to a window (see {@link stableSigningDate}) so that
 * URLs stay the same long enough to be cached.
 *
 * Internal: the public surface is `S3Store({ signedUrls })`.
 */
import { createHash, createHmac } from 'node:crypto';

/** Credentials as the AWS SDK resolves them. */
export interface SigningCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** When temporary credentials stop working (URLs signed with them stop working too). */
  expiration?: Date;
}

export interface PresignOptions {
  region: string;
  credentials: SigningCredentials;
  /** Seconds the URL stays valid, 1 to 604800 (7 days, SigV4's limit). */
  expiresIn: number;
  /** The signing instant. Default: {@link stableSigningDate} of `now`. */
  date?: Date;
  /** The current time in epoch milliseconds, when `date` is not given. Default `Date.now()`. */
  now?: number;
}

/**
 * The signing instant of a URL asked for at `now`: `now` floored to a multiple (since the epoch)
 * of half of `expiresIn`, in whole seconds (1 s at least). Every URL of one object signed within
 * one such window is the same string, in every process, so browsers and CDNs can cache its
 * response; a URL signed at now-to-the-second would be a new URL, and a new download, every
 * second. A URL handed out is valid for more than `expiresIn - max(1, floor(expiresIn / 2))`
 * seconds from `now`: at least half of `expiresIn` (rounded up) from 2 s on, and never a URL that
 * has expired.
 */
export function stableSigningDate(now: number, expiresIn: number): Date {
  const windowMs = Math.max(1, Math.floor(expiresIn / 2)) * 1000;
  return new Date(Math.floor(now / windowMs) * windowMs);
}

/** The longest validity SigV4 allows for a presigned URL: 7 days. */
export const MAX_PRESIGN_SECONDS = 604_800;

/**
 * Signs a GET of `url` (its path already percent-encoded once, as S3 wants it; its query, if any,
 * is signed too) and returns the URL with the `X-Amz-*` query parameters, sorted as the SDK sorts them.
 */
export function presignGetUrl(url: string, options: PresignOptions): string {
  const target = new URL(url);
  const date = options.date ?? stableSigningDate(options.now ?? Date.now(), options.expiresIn);
  const amzDate = date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, ''); // 20240102T030405Z
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${options.region}/s3/aws4_request`;
  const { accessKeyId, secretAccessKey, sessionToken } = options.credentials;

  const params: Array<[string, string]> = [...target.searchParams];
  params.push(
    ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'],
    // The SDK hoists its payload header into the query; doing the same keeps our URLs identical.
    ['X-Amz-Content-Sha256', 'UNSIGNED-PAYLOAD'],
    ['X-Amz-Credential', `${accessKeyId}/${scope}`],
    ['X-Amz-Date', amzDate],
    ['X-Amz-Expires', String(options.expiresIn)],
    ['X-Amz-SignedHeaders', 'host'],
  );
  if (sessionToken) params.push(['X-Amz-Security-Token', sessionToken]);
  const query = canonicalQuery(params);

  const canonicalRequest = [
    'GET',
    target.pathname || '/',
    query,
    `host:${target.host}\n`,
    'host',
    'UNSIGNED-PAYLOAD',
  ].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');

  let key: Buffer = hmac(`AWS4${secretAccessKey}`, day);
  for (const part of [options.region, 's3', 'aws4_request']) key = hmac(key, part);
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');

  return `${target.origin}${target.pathname}?${canonicalQuery([...params, ['X-Amz-Signature', signature]])}`;
}

/** Percent-encodes as SigV4 wants: everything but `A-Z a-z 0-9 - _ . ~`. */
export function encodeRfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `k=v&…`, encoded and sorted by key, then value (SigV4's canonical query string). */
function canonicalQuery(params: Array<[string, string]>): string {
  return params
    .map(([k, v]) => [encodeRfc3986(k), encodeRfc3986(v)] as const)
    .sort(([ka, va], [kb, vb]) => (ka < kb ? -1 : ka > kb ? 1 : va < vb ? -1 : va > vb ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function sha256Hex(data: string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Presigned S3 URLs (AWS Signature Version 4, query-string form) and POST policies, computed synchronously.
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
  return presignUrl('GET', url, {}, options);
}

/**
 * Signs a request of `method` to `url` with `headers` (lowercase names) signed too: the client
 * must send exactly those values, or S3 refuses the request. A PUT with `content-length` and
 * `content-type` signed is how a presigned upload gets a size bound (a PUT signed without it
 * accepts any size).
 */
export function presignUrl(
  method: string,
  url: string,
  headers: Readonly<Record<string, string>>,
  options: PresignOptions,
): string {
  const target = new URL(url);
  const date = options.date ?? stableSigningDate(options.now ?? Date.now(), options.expiresIn);
  const { amzDate, day, scope } = signingScope(date, options.region);
  const { accessKeyId, sessionToken } = options.credentials;
  const signed = [
    ...Object.entries(headers).map(([k, v]) => [k, v.trim()] as const),
    ['host', target.host] as const,
  ].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const signedHeaders = signed.map(([k]) => k).join(';');

  const params: Array<[string, string]> = [...target.searchParams];
  params.push(
    ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'],
    // The SDK hoists its payload header into the query; doing the same keeps our URLs identical.
    ['X-Amz-Content-Sha256', 'UNSIGNED-PAYLOAD'],
    ['X-Amz-Credential', `${accessKeyId}/${scope}`],
    ['X-Amz-Date', amzDate],
    ['X-Amz-Expires', String(options.expiresIn)],
    ['X-Amz-SignedHeaders', signedHeaders],
  );
  if (sessionToken) params.push(['X-Amz-Security-Token', sessionToken]);
  const query = canonicalQuery(params);

  const canonicalRequest = [
    method,
    target.pathname || '/',
    query,
    signed.map(([k, v]) => `${k}:${v}\n`).join(''),
    signedHeaders,
    'UNSIGNED-PAYLOAD',
  ].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const signature = createHmac('sha256', signingKey(options.credentials, day, options.region))
    .update(stringToSign)
    .digest('hex');

  return `${target.origin}${target.pathname}?${canonicalQuery([...params, ['X-Amz-Signature', signature]])}`;
}

/** What S3 needs of a POST upload form besides the file: the policy, and its signature. */
export interface PresignedPost {
  /** Form fields, in the order to send them (the file goes after them all). */
  fields: Record<string, string>;
}

/**
 * Signs an S3 POST policy (a browser form upload): the policy lists `conditions` (a key, size
 * and type bound), then the fields S3 itself checks, in the order `@aws-sdk/s3-presigned-post`
 * writes them, so tests can compare the two byte for byte. `expiresIn` seconds from `date`.
 */
export function presignPost(
  bucket: string,
  key: string,
  conditions: readonly unknown[],
  options: { region: string; credentials: SigningCredentials; expiresIn: number; date: Date },
): PresignedPost {
  const { amzDate, day, scope } = signingScope(options.date, options.region);
  const { accessKeyId, sessionToken } = options.credentials;
  const signedFields: Record<string, string> = {
    bucket,
    'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    'X-Amz-Credential': `${accessKeyId}/${scope}`,
    'X-Amz-Date': amzDate,
    ...(sessionToken ? { 'X-Amz-Security-Token': sessionToken } : {}),
  };
  const expiration = new Date(options.date.getTime() + options.expiresIn * 1000)
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z');
  const policy = {
    expiration,
    conditions: [...conditions, ...Object.entries(signedFields).map(([k, v]) => ({ [k]: v })), { key }],
  };
  const encodedPolicy = Buffer.from(JSON.stringify(policy), 'utf8').toString('base64');
  const signature = createHmac('sha256', signingKey(options.credentials, day, options.region))
    .update(encodedPolicy)
    .digest('hex');
  return { fields: { ...signedFields, key, Policy: encodedPolicy, 'X-Amz-Signature': signature } };
}

/** The SigV4 date stamps and credential scope of a signature made at `date`. */
function signingScope(date: Date, region: string): { amzDate: string; day: string; scope: string } {
  const amzDate = date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, ''); // 20240102T030405Z
  const day = amzDate.slice(0, 8);
  return { amzDate, day, scope: `${day}/${region}/s3/aws4_request` };
}

/** SigV4's signing key: the secret, HMAC-chained through the day, region, service and terminator. */
function signingKey(credentials: SigningCredentials, day: string, region: string): Buffer {
  let key: Buffer = hmac(`AWS4${credentials.secretAccessKey}`, day);
  for (const part of [region, 's3', 'aws4_request']) key = hmac(key, part);
  return key;
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

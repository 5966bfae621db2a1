/**
 * Signed, expiring URLs for files a store serves through this app (`HttpExposedFileSystemStore`
 * with `signedUrls`): an HMAC-SHA256 over the URL path and an expiry time, checked by the serving
 * middleware in constant time. The path names the image (type, owner, size, format; a variant
 * output's path also names the variant and its recipe), so a signature opens that one file.
 *
 * The expiry is rounded up to a multiple of `window`, so every page rendered within one window
 * gives the same URL and browsers keep their cached copy.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';
import * as check from '../util/check.js';

export interface SignedUrlOptions {
  /**
   * Secrets of at least 32 bytes. URLs are signed with the first and accepted with any, so a new
   * secret goes first and the old one stays until the URLs it signed have expired.
   */
  secrets: readonly (string | Buffer)[];
  /** How long a URL stays valid, at least, in seconds. Default 3600. */
  expiresIn?: number;
  /** URLs stay the same for this many seconds (their expiry is rounded up to it). Default 300. */
  window?: number;
}

/** What a request's signature says. */
export type SignatureVerdict = 'valid' | 'expired' | 'forged';

const MIN_SECRET_BYTES = 32;
/** A base64url SHA-256 HMAC: 43 characters. */
const SIGNATURE = /^[A-Za-z0-9_-]{43}$/;

export class UrlSigner {
  readonly expiresIn: number;
  readonly window: number;
  private readonly secrets: readonly Buffer[];

  /** @throws InvalidArgumentError naming the bad option (under `name`) */
  constructor(options: SignedUrlOptions, name = 'options.signedUrls') {
    check.object(options, name, 'an object like { secrets: [process.env.IMAGE_URL_SECRET] }');
    const { secrets, expiresIn = 3600, window = 300 } = options;
    if (!Array.isArray(secrets) || secrets.length === 0) {
      throw new InvalidArgumentError(`${name}.secrets`, 'a non-empty list of secrets (the first signs)', secrets);
    }
    this.secrets = secrets.map((secret, i) => {
      const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
      if (!Buffer.isBuffer(bytes) || bytes.length < MIN_SECRET_BYTES) {
        throw new InvalidArgumentError(
          `${name}.secrets[${i}]`,
          `a string or Buffer of at least ${MIN_SECRET_BYTES} bytes (e.g. crypto.randomBytes(32).toString('base64url'))`,
          typeof secret === 'string' ? `a string of ${bytes.length} bytes` : secret,
        );
      }
      return bytes;
    });
    check.integerIn(expiresIn, 1, 365 * 24 * 3600, `${name}.expiresIn`, 'seconds');
    check.integerIn(window, 1, expiresIn, `${name}.window`, 'seconds (at most expiresIn)');
    this.expiresIn = expiresIn;
    this.window = window;
  }

  /** The query (`exp=…&sig=…`) that signs `path` (the URL's path, as it will be requested). */
  sign(path: string, now = Date.now()): string {
    const earliest = Math.ceil(now / 1000) + this.expiresIn;
    const expires = Math.ceil(earliest / this.window) * this.window;
    return `exp=${expires}&sig=${mac(this.secrets[0]!, path, expires).toString('base64url')}`;
  }

  /** Whether `exp` and `sig` (a request's query values) sign `path` now. */
  verify(path: string, exp: string | null, sig: string | null, now = Date.now()): SignatureVerdict {
    if (exp === null || sig === null || !/^\d{1,12}$/.test(exp) || !SIGNATURE.test(sig)) return 'forged';
    const given = Buffer.from(sig, 'base64url');
    const expires = Number(exp);
    // Every secret is tried, whichever matches, so the time taken tells nothing.
    let matches = false;
    for (const secret of this.secrets) matches = timingSafeEqual(mac(secret, path, expires), given) || matches;
    if (!matches) return 'forged';
    return expires * 1000 > now ? 'valid' : 'expired';
  }
}

function mac(secret: Buffer, path: string, expires: number): Buffer {
  return createHmac('sha256', secret).update(`${expires}\n${path}`).digest();
}

/**
 * Signed, expiring URLs for files a store serves through this app (`HttpExposedFileSystemStore`
 * with `signedUrls`): an HMAC-SHA256 over the URL path and an expiry time, checked by the serving
 * middleware in constant time. The path names the image (type, owner, size, format; a variant
 * output's path also names the variant and its recipe), so a signature opens that one file.
 *
 * The expiry is rounded up to a multiple of `window`, so every page rendered within one window
 * gives the same URL and browsers keep their cached copy.
 */
import * as check from '../util/check.js';
import { checkSecrets, macOf, verifyMac } from '../util/hmac.js';

export interface SignedUrlOptions {
  /**
   * Secrets of at least 32 characters. URLs are signed with the first and accepted with any, so a
   * new secret goes first and the old one stays until the URLs it signed have expired.
   */
  secrets: readonly string[];
  /** How long a URL stays valid, at least, in seconds. Default 3600. */
  expiresIn?: number;
  /** URLs stay the same for this many seconds (their expiry is rounded up to it). Default 300. */
  window?: number;
}

/** What a request's signature says. */
export type SignatureVerdict = 'valid' | 'expired' | 'forged';

/** A base64url SHA-256 HMAC: 43 characters. */
const SIGNATURE = /^[A-Za-z0-9_-]{43}$/;

export class UrlSigner {
  readonly expiresIn: number;
  readonly window: number;
  private readonly secrets: readonly string[];

  /** @throws InvalidArgumentError naming the bad option (under `name`) */
  constructor(options: SignedUrlOptions, name = 'options.signedUrls') {
    check.object(options, name, 'an object like { secrets: [process.env.IMAGE_URL_SECRET] }');
    const { secrets, expiresIn = 3600, window = 300 } = options;
    this.secrets = checkSecrets(secrets, `${name}.secrets`);
    check.integerIn(expiresIn, 1, 365 * 24 * 3600, `${name}.expiresIn`, 'seconds');
    check.integerIn(window, 1, expiresIn, `${name}.window`, 'seconds (at most expiresIn)');
    this.expiresIn = expiresIn;
    this.window = window;
  }

  /** The query (`exp=…&sig=…`) that signs `path` (the URL's path, as it will be requested). */
  sign(path: string, now = Date.now()): string {
    const earliest = Math.ceil(now / 1000) + this.expiresIn;
    const expires = Math.ceil(earliest / this.window) * this.window;
    return `exp=${expires}&sig=${macOf(this.secrets[0]!, fieldsOf(path, expires))}`;
  }

  /** Whether `exp` and `sig` (a request's query values) sign `path` now. */
  verify(path: string, exp: string | null, sig: string | null, now = Date.now()): SignatureVerdict {
    if (exp === null || sig === null || !/^\d{1,12}$/.test(exp) || !SIGNATURE.test(sig) || path.includes('\0'))
      return 'forged';
    const expires = Number(exp);
    if (!verifyMac(this.secrets, fieldsOf(path, expires), sig)) return 'forged';
    return expires * 1000 > now ? 'valid' : 'expired';
  }
}

/** What a URL's signature covers: its kind (so no other signed thing of this library passes), expiry and path. */
function fieldsOf(path: string, expires: number): string[] {
  return ['url', String(expires), path];
}

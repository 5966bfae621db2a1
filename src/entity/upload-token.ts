/**
 * The token of a direct upload: what the browser gets at presign and hands back with the form, so
 * the app can claim the upload. `<id>.<expires>.<mac>`: the upload's id (32 hex), its expiry in
 * epoch seconds, and an HMAC-SHA256 (base64url) over those and what the upload is bound to
 * (purpose, owner, principal, store). The claim recomputes the MAC from what *it* expects, so a
 * token presigned for another owner, user, purpose or store fails as a forgery does; MACs are
 * compared in constant time, against every secret (sign with the first, accept any).
 */
import { UploadError } from '../errors.js';
import { isUploadId } from '../stores/direct-uploads.js';
import { macOf, verifyMac } from '../util/hmac.js';

/** What a token binds. */
export interface UploadTokenFields {
  id: string;
  purpose: string;
  /** The owner as `ownerText()` writes it. */
  owner: string;
  principal: string | null;
  /** The store's directUploads tag. */
  store: string;
  expiresAt: Date;
}

const TOKEN = /^([0-9a-f]{32})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/;
const PURPOSE = 'objection-imageattach upload-token v1';

/** The token of an upload, signed with the first of `secrets`. */
export function signUploadToken(fields: UploadTokenFields, secrets: readonly string[]): string {
  const expires = Math.floor(fields.expiresAt.getTime() / 1000);
  return `${fields.id}.${expires}.${macOf(secrets[0]!, signedFields(fields.id, expires, fields))}`;
}

/**
 * The upload id a well-formed token names (its MAC not checked yet: use it only to find the
 * row, then {@link verifyUploadToken}).
 * @throws UploadError `ERR_UPLOAD_TOKEN_INVALID` (403) for a malformed token
 */
export function uploadIdOf(token: unknown): string {
  const match = typeof token === 'string' ? TOKEN.exec(token) : null;
  if (match === null || !isUploadId(match[1])) throw invalidToken('is malformed');
  return match[1];
}

/**
 * Checks `token` against what the caller expects it to bind: the MAC first (constant time, every
 * secret), then the expiry, so an expired forgery reads as a forgery.
 * @returns the upload's id and expiry
 * @throws UploadError `ERR_UPLOAD_TOKEN_INVALID` (403) for a malformed or forged token, or one made
 *   for another purpose, owner, principal or store; `ERR_UPLOAD_EXPIRED` (410) once it has expired
 */
export function verifyUploadToken(
  token: unknown,
  secrets: readonly string[],
  expected: Omit<UploadTokenFields, 'id' | 'expiresAt'>,
  now = Date.now(),
): { id: string; expiresAt: Date } {
  const match = typeof token === 'string' ? TOKEN.exec(token) : null;
  if (match === null) throw invalidToken('is malformed');
  const [, id, expiresText, mac] = match as unknown as [string, string, string, string];
  const expires = Number(expiresText);
  if (!verifyMac(secrets, signedFields(id, expires, expected), mac)) {
    throw invalidToken('does not match this upload (forged, or for another owner, user, purpose or store)');
  }
  const expiresAt = new Date(expires * 1000);
  if (expiresAt.getTime() <= now) {
    throw new UploadError('ERR_UPLOAD_EXPIRED', `The upload token expired at ${expiresAt.toISOString()}`, {
      statusCode: 410,
      data: { id, expiresAt: expiresAt.toISOString() },
    });
  }
  return { id, expiresAt };
}

function signedFields(id: string, expires: number, fields: Omit<UploadTokenFields, 'id' | 'expiresAt'>): string[] {
  return [PURPOSE, id, String(expires), fields.purpose, fields.owner, fields.principal ?? '', fields.store];
}

function invalidToken(why: string): UploadError {
  // The token itself stays out of the message and data: it is a bearer credential.
  return new UploadError('ERR_UPLOAD_TOKEN_INVALID', `The upload token ${why}`, { statusCode: 403 });
}

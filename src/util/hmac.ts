/**
 * HMAC-SHA256 over a list of fields, for the tokens and URLs this library signs (direct uploads, private URLs).
 * Fields are joined with a separator they cannot contain, so two lists never sign the same; a
 * MAC is checked in constant time against every secret, so secrets rotate: sign with the first,
 * accept any (drop an old one once nothing signed with it is still in flight).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';

/** The shortest secret accepted: 32 bytes, as much as the MAC itself. */
export const MIN_SECRET_LENGTH = 32;

/**
 * Checks a list of secrets where an option takes them.
 * @throws InvalidArgumentError naming `name` unless it is a non-empty list of strings of 32 characters or more
 */
export function checkSecrets(secrets: unknown, name: string): readonly string[] {
  if (
    !Array.isArray(secrets) ||
    secrets.length === 0 ||
    !secrets.every((s) => typeof s === 'string' && s.length >= MIN_SECRET_LENGTH)
  ) {
    throw new InvalidArgumentError(
      name,
      `a non-empty list of secrets of ${MIN_SECRET_LENGTH} characters or more (the first signs, any verifies)`,
      Array.isArray(secrets) ? secrets.map((s) => (typeof s === 'string' ? `<${s.length} characters>` : s)) : secrets,
    );
  }
  return Object.freeze([...secrets]);
}

/** The MAC of `fields` under `secret`, base64url (43 characters). */
export function macOf(secret: string, fields: readonly string[]): string {
  return rawMac(secret, fields).toString('base64url');
}

/** True when `mac` is the MAC of `fields` under one of `secrets`; every secret is tried, in constant time each. */
export function verifyMac(secrets: readonly string[], fields: readonly string[], mac: string): boolean {
  const given = Buffer.from(mac, 'base64url');
  // A MAC of another length, or text that is not base64url, matches nothing: compare anyway, so
  // the time taken does not tell how the input failed.
  const candidate = given.length === 32 && given.toString('base64url') === mac ? given : Buffer.alloc(32);
  let valid = false;
  for (const secret of secrets) {
    if (timingSafeEqual(rawMac(secret, fields), candidate)) valid = true;
  }
  return valid && candidate === given;
}

function rawMac(secret: string, fields: readonly string[]): Buffer {
  const hmac = createHmac('sha256', secret);
  for (const field of fields) {
    if (field.includes('\0')) throw new InvalidArgumentError('field', 'text without NUL characters', field);
    hmac.update(field).update('\0');
  }
  return hmac.digest();
}

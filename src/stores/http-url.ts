/**
 * The check of every URL option a store takes (`baseUrl`, `hostUrl`, `endpoint`, `publicBaseUrl`).
 * The WHATWG URL parser silently drops tabs and newlines and trims spaces, so a string can parse
 * while the string kept (and later written into pages) still carries them: in a `srcset`,
 * whitespace ends a URL and starts its descriptor. Such a value is refused, not cleaned.
 */
import { InvalidArgumentError } from '../errors.js';

/** Whitespace (ASCII or Unicode) or a C0/C1 control character. */
const WHITESPACE_OR_CONTROL = /[\s\u0000-\u001f\u007f-\u009f]/;

/** True for an absolute http(s) URL. */
function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    // Not parseable as a URL at all.
    return false;
  }
}

/**
 * `value`, once known to be an absolute http(s) URL with no whitespace or control character.
 * @throws InvalidArgumentError naming `name`, what was expected and what came
 */
export function checkHttpUrl(value: unknown, name: string): string {
  if (typeof value === 'string' && WHITESPACE_OR_CONTROL.test(value)) {
    throw new InvalidArgumentError(name, 'an absolute http(s) URL without whitespace or control characters', value);
  }
  if (typeof value !== 'string' || !isHttpUrl(value))
    throw new InvalidArgumentError(name, 'an absolute http(s) URL', value);
  return value;
}

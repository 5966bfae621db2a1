/**
 * The conditional and range decisions of a static response, in pillarjs/send's order:
 * 412 (If-Match, If-Unmodified-Since), then 304 (If-None-Match, If-Modified-Since), then If-Range,
 * then the Range itself (416, a single-range 206, or the whole file).
 *
 * Each function only reads request headers and the file's validators; writing the response is
 * `static-server.ts`'s job.
 */
import type { IncomingHttpHeaders } from 'node:http';
import fresh from 'fresh';
import parseRange from 'range-parser';

/** What a request's conditions are compared with. */
export interface Validators {
  /** A strong entity tag, quotes included (`file-response.ts` `strongTag`). */
  readonly etag: string;
  /** The Last-Modified HTTP-date. */
  readonly lastModified: string;
  /** The same instant as a number (milliseconds, whole seconds, as the HTTP-date has it). */
  readonly lastModifiedTime: number;
}

/**
 * 412 Precondition Failed: `If-Match` names no current tag (strong comparison, RFC 9110 §13.1.1),
 * or, without `If-Match`, the file changed after `If-Unmodified-Since`. An unparseable date is
 * ignored, as the RFC says.
 */
export function preconditionFailed(headers: IncomingHttpHeaders, validators: Validators): boolean {
  const ifMatch = headers['if-match'];
  if (ifMatch !== undefined) {
    if (ifMatch.trim() === '*') return false;
    return !tokenList(ifMatch).includes(validators.etag);
  }
  const ifUnmodifiedSince = headers['if-unmodified-since'];
  if (ifUnmodifiedSince !== undefined) {
    const since = Date.parse(ifUnmodifiedSince);
    return !Number.isNaN(since) && validators.lastModifiedTime > since;
  }
  return false;
}

/**
 * 304 Not Modified: the client's copy is current (`If-None-Match` with weak comparison, else
 * `If-Modified-Since`); `Cache-Control: no-cache` in the request forces a full answer.
 */
export function notModified(headers: IncomingHttpHeaders, validators: Validators): boolean {
  if (headers['if-none-match'] === undefined && headers['if-modified-since'] === undefined) return false;
  return fresh(headers, { etag: validators.etag, 'last-modified': validators.lastModified });
}

/**
 * `If-Range` holds (or is absent): the range may be honoured. A tag must match exactly and be
 * strong. A date never holds: Last-Modified is not a strong validator here (a file replaced with
 * its mtime kept has the old date), and a client that got our ETag must send that instead
 * (RFC 9110 §13.1.5). Otherwise the whole file is sent, so a client never stitches bytes of two
 * versions together.
 */
export function rangeStillValid(headers: IncomingHttpHeaders, validators: Validators): boolean {
  // Node joins repeated headers into one string; anything else is not a header we know.
  const ifRange = headers['if-range'];
  if (typeof ifRange !== 'string') return true;
  return ifRange.trim() === validators.etag;
}

/** How to answer a GET/HEAD for a file of `size` bytes, as far as `Range` goes. */
export type RangeDecision =
  | { readonly kind: 'full' }
  | { readonly kind: 'unsatisfiable' }
  | { readonly kind: 'partial'; readonly start: number; readonly end: number };

const FULL: RangeDecision = Object.freeze({ kind: 'full' });
const UNSATISFIABLE: RangeDecision = Object.freeze({ kind: 'unsatisfiable' });

/**
 * Decides the answer to `Range`: one range (after merging overlapping ones) is a 206; a header
 * that is malformed, of another unit, or asks for several disjoint ranges gets the whole file
 * (a plain 200 is always a correct answer to a Range request); ranges that all start past the end
 * are a 416. `If-Range` that does not hold means the whole file, whatever the Range says.
 */
export function decideRange(headers: IncomingHttpHeaders, size: number, validators: Validators): RangeDecision {
  const range = headers.range;
  if (range === undefined || !/^ *bytes=/.test(range)) return FULL;
  if (!rangeStillValid(headers, validators)) return FULL;
  const ranges = parseRange(size, /[=,]\s*-/.test(range) ? clampSuffixes(range, size) : range, { combine: true });
  if (ranges === -1) return UNSATISFIABLE;
  if (ranges === -2 || ranges.type !== 'bytes' || ranges.length !== 1) return FULL;
  const [only] = ranges;
  return { kind: 'partial', start: only!.start, end: only!.end };
}

/**
 * `bytes=-N` with N larger than the file means the whole file (RFC 9110 §14.1.3), but
 * range-parser 1.x calls it unsatisfiable; shortening such suffixes to the size fixes that.
 */
function clampSuffixes(range: string, size: number): string {
  return range.replace(/([=,]\s*)-(\d+)/g, (spec: string, lead: string, suffix: string) =>
    Number(suffix) > size ? `${lead}-${size}` : spec,
  );
}

/** `a, "b", W/"c"` → its tokens, trimmed. Entity tags with commas inside are not ours to parse. */
function tokenList(value: string): string[] {
  return value
    .split(',')
    .map((token) => token.trim())
    .filter((token) => token !== '');
}

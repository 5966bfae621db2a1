/**
 * From a request URL to a file path under the root: the first half of path containment.
 *
 * The URL path is decoded exactly once and then judged segment by segment, before any filesystem
 * call. Whatever could climb out or name something other than a plain file below the root is
 * refused here: `..` (however it was encoded), NUL bytes, backslashes, empty segments (`//`) and
 * dot-names (`.hidden`, and the stores' own `.<name>.<random>.tmp` files of writes in flight).
 * The second half, symlinks, needs the filesystem and lives in `file-opener.ts`.
 */
import path from 'node:path';

/** What a request URL means for a static server mounted at some prefix. */
export type RequestPath =
  /** Not under the prefix (or not a path at all): someone else's request. */
  | { readonly kind: 'elsewhere' }
  /** Malformed percent-encoding or a NUL byte: 400. */
  | { readonly kind: 'malformed' }
  /** Refused by containment, or names a folder: 404, without touching the disk. */
  | { readonly kind: 'refused' }
  /** A candidate file: `file` is absolute and lies inside the root. */
  | { readonly kind: 'file'; readonly file: string };

const ELSEWHERE: RequestPath = Object.freeze({ kind: 'elsewhere' });
const MALFORMED: RequestPath = Object.freeze({ kind: 'malformed' });
const REFUSED: RequestPath = Object.freeze({ kind: 'refused' });

/**
 * Judges `url` (a request's `req.url`: origin-form, query included) for a server of the files
 * under `root` at the URL path `prefix` (`''` for the mount point itself, else `/a/b`).
 */
export function resolveRequestPath(url: string, prefix: string, root: string): RequestPath {
  // Only origin-form targets (`/path?query`); absolute-form and `*` are not file requests.
  if (url.charCodeAt(0) !== 0x2f /* / */) return ELSEWHERE;
  const queryAt = url.indexOf('?');
  const rawPath = queryAt === -1 ? url : url.slice(0, queryAt);
  if (prefix !== '' && !(rawPath.startsWith(prefix) && rawPath.charCodeAt(prefix.length) === 0x2f)) return ELSEWHERE;
  const rawRelative = rawPath.slice(prefix.length + 1);

  let relative = rawRelative;
  if (relative.includes('%')) {
    try {
      relative = decodeURIComponent(relative);
    } catch {
      // URIError: a stray `%`, or bytes that are not UTF-8 (overlong forms like %c0%ae included).
      return MALFORMED;
    }
  }
  if (relative.includes('\0')) return MALFORMED;
  // A backslash is a separator on Windows; a file name holding one is never one of ours.
  if (relative === '' || relative.includes('\\')) return REFUSED;

  const segments = relative.split('/');
  for (const segment of segments) {
    // '' is `//` or a trailing slash (a folder); '.'-names cover `.`, `..` and hidden files.
    if (segment === '' || segment.charCodeAt(0) === 0x2e /* . */) return REFUSED;
    // `C:` would make a drive-relative path on Windows.
    if (path.sep === '\\' && segment.includes(':')) return REFUSED;
  }
  // Already normal: no segment is empty, `.`, `..` or holds a separator, so no `path.join` needed.
  return { kind: 'file', file: (root.endsWith(path.sep) ? root : root + path.sep) + segments.join(path.sep) };
}

/**
 * `thumbnailRoute()`: thumbnails made on demand, for a fixed list of widths.
 *
 * `GET /users/7/picture?width=200` finds (or makes, once) the 200-wide thumbnail of user 7's
 * picture and answers with its bytes (or redirects to its URL), so pages can ask for the size their
 * layout needs without the upload having foreseen it. The list of widths is what keeps this safe:
 * without it, anyone could make the server resize (and store) a picture in a million sizes.
 */
import type { NextFunction, Request, Response } from 'express';
import type { ImageEntity, ImageSet, StoreOption } from '../entity/index.js';
import { concreteStore, imageOfSize } from '../entity/worker-api.js';
import { ImageNotFoundError, InvalidArgumentError } from '../errors.js';
import * as check from '../util/check.js';
import { checkBackground, type ThumbnailBackground } from '../imaging/background.js';
import { type ThumbnailFormat, thumbnailMimetype } from '../imaging/thumbnail.js';
import type { ContentCacheOptions, ContentCacheStats } from './static/content-cache.js';
import type { MissingFile } from './static/local-file-server.js';
import { FileAnswers, missingFile, redirectTo } from './image-answers.js';
import { isMalformedValueError, loadOwnerRows } from './owner-key.js';
import { RecentRows } from './recent-rows.js';
import { validateCache } from './static/static-options.js';
import { checked } from '../stores/checked-calls.js';

export interface ThumbnailRouteOptions extends StoreOption {
  /** The widths a client may ask for (`?width=N`); any other is a 400. */
  widths: readonly number[];
  /**
   * The image set the request is about, or `undefined` (a 404). The route loads an unloaded set
   * itself, in one query: `(req) => imageSet(User.fromJson({ id: Number(req.params.id) }), 'picture')`
   * costs at most one indexed lookup per request (none within `rowsMaxAgeMs` of the last), where
   * fetching the owner first costs two every time.
   */
  load: (req: Request) => ImageSet | undefined | Promise<ImageSet | undefined>;
  /** The format of thumbnails made here. Default: the original's. */
  format?: ThumbnailFormat;
  /** What transparent pixels become in a format without alpha (JPEG): `'#rrggbb'`, `'#rgb'` or `{ r, g, b }`. Default white. */
  background?: ThumbnailBackground;
  /**
   * `'file'` answers with the image's bytes, as `staticServer()` would (ETag, Last-Modified, 304,
   * ranges, HEAD): one round trip. `'redirect'` redirects to the image's URL (`locate()`): two.
   * Default `'file'` for the filesystem stores, whose files are on this machine; `'redirect'` for
   * the others (S3), whose files this server cannot read cheaply.
   */
  respondWith?: 'file' | 'redirect';
  /** The redirect's status. Default 302 (Found); 303 and 307 are accepted too. */
  status?: 302 | 303 | 307;
  /**
   * `Cache-Control: max-age` of the answers, in seconds. Default 0: a file answer is
   * `public, max-age=0` (browsers revalidate, with a 304), a redirect is `no-cache`. A larger value
   * lets browsers and CDNs keep the answer that long, so a replaced picture may show late (a file),
   * or its redirect lead to the old, deleted file's URL (a redirect): see docs/serving.md.
   */
  maxAge?: number;
  /**
   * How long, in milliseconds, the image rows read for one owner serve its next requests without
   * a query: a warm hit then costs none, a new width one statement fewer. Each file answer still
   * checks its file (a rewritten one is sent new, a deleted one sends the route back to the rows at
   * once), and a thumbnail to make is checked in its own transaction, so this bounds only how long
   * a file that outlived its row (a failed delete) could be sent. Default 1000; 0 reads the rows on
   * every request. Not used for redirects, nor when `load` returns a loaded set.
   */
  rowsMaxAgeMs?: number;
  /** The content cache of file answers (see `staticServer()`'s `cache`). Default `{ maxBytes: 32 MiB, maxFileBytes: 1 MiB }`. */
  cache?: ContentCacheOptions | false;
}

/** The handler `thumbnailRoute()` returns. */
export interface ThumbnailRouteHandler {
  (req: Request, res: Response, next: NextFunction): Promise<void>;
  /** The content cache's figures (entries, bytes, hits, misses) of file answers, or null with `cache: false`. */
  cacheStats(): ContentCacheStats | null;
}

const STATUSES = [302, 303, 307];
const MODES = ['file', 'redirect'];

/**
 * A route handler answering `GET …?width=N` with the thumbnail of that width of the set `load`
 * returns, made on the first request. Without `width`, it answers with the original; for a width
 * at least the original's, with the original too (a thumbnail never enlarges).
 *
 * A file answer (the default with a filesystem store) is what `staticServer()` would send for the
 * image's file: strong `ETag`, `Last-Modified`, `Cache-Control: public, max-age=<maxAge>`, 304 to
 * a matching `If-None-Match`, ranges, HEAD, small files from memory. A replaced picture changes
 * the file, so its validators, and browsers revalidating get the new one. A redirect carries
 * `Cache-Control: no-cache` (or `max-age`), as its target changes when the picture is replaced.
 *
 * Concurrent requests for a missing width share one thumbnail in this process (and a row made
 * meanwhile by another process is used, not an error): fifty at once make one file.
 * Errors go to `next(err)`: a width not in the list is an `InvalidArgumentError` (400), no owner,
 * no original or no file an `ImageNotFoundError` (404), as is a malformed owner id on every
 * database (`NaN`, or a value the database refuses, such as `'abc'` for a PostgreSQL integer); a
 * stored original that does not decode `ERR_ORIGINAL_UNREADABLE` (422). A request made while the
 * picture is replaced answers the new one.
 *
 * @throws InvalidArgumentError at once, for a bad option
 * @example
 * app.get('/users/:id/picture', thumbnailRoute({
 *   widths: [50, 100, 200, 400, 800],
 *   // The route loads the set's images itself: one query, none for an owner read in the last second.
 *   load: (req) => imageSet(User.fromJson({ id: Number(req.params.id) }), 'picture'),
 * }));
 */
export function thumbnailRoute(options: ThumbnailRouteOptions): ThumbnailRouteHandler {
  check.object(options, 'options', 'an object with widths and load');
  const {
    widths,
    load,
    format,
    background,
    respondWith,
    status = 302,
    maxAge = 0,
    rowsMaxAgeMs = 1000,
    store,
  } = options;
  if (!Array.isArray(widths) || widths.length === 0 || !widths.every((w) => Number.isSafeInteger(w) && w >= 1)) {
    throw new InvalidArgumentError('options.widths', 'a non-empty array of integers >= 1', widths);
  }
  check.func(load, 'options.load', 'a function (req) => the image set');
  if (respondWith !== undefined) check.oneOf(respondWith, MODES, 'options.respondWith');
  check.oneOf(status, STATUSES, 'options.status');
  check.integerAtLeast(maxAge, 0, 'options.maxAge', 'seconds');
  check.integerAtLeast(rowsMaxAgeMs, 0, 'options.rowsMaxAgeMs', 'milliseconds');
  // Checks the format now: the error should come at startup, not on the first request.
  if (format !== undefined) thumbnailMimetype('image/png', format);
  checkBackground(background, 'options.background');
  const cache = validateCache(options.cache ?? {});
  const files = new FileAnswers(`public, max-age=${maxAge}`, cache);
  const redirectCacheControl = maxAge === 0 ? 'no-cache' : `public, max-age=${maxAge}`;
  const allowed = [...new Set(widths)].sort((a, b) => a - b);
  const expected = `one of ${allowed.join(', ')}`;

  const recent = rowsMaxAgeMs > 0 ? new RecentRows(rowsMaxAgeMs) : undefined;

  /** The image to answer with: the original, or the thumbnail of `width` (made if need be). */
  async function imageOf(set: ImageSet, width: number | undefined): Promise<ImageEntity> {
    if (!set.isLoaded) await loadOwnerRows(set, () => set.load());
    const original = set.requireOriginal();
    if (width === undefined || width >= original.width) return original;
    // Any image of that width answers, as in generateThumbnail (size-match.ts).
    return (
      imageOfSize(set.images, { width }) ?? (await set.findOrCreateThumbnail({ width }, { format, background, store }))
    );
  }

  /** Answers `req`; `reread` skips the rows read lately (a file they name has gone). */
  async function answer(req: Request, res: Response, next: NextFunction, reread: boolean): Promise<void> {
    try {
      // `?width[]=200` or `?width[0]=200` is a width too, malformed (the default query parser
      // keeps the brackets in the key; the extended one makes an array, refused below).
      const bracketed = Object.keys(req.query ?? {}).find((key) => key.startsWith('width['));
      if (bracketed !== undefined)
        throw new InvalidArgumentError('width', expected, req.query[bracketed], { data: { allowed } });
      const raw = req.query.width;
      // Digits only: `?width=1e2` or `?width=0100` would otherwise name an allowed width twice.
      const width = typeof raw === 'string' && /^[1-9][0-9]{0,8}$/.test(raw) ? Number(raw) : undefined;
      if (raw !== undefined && (width === undefined || !allowed.includes(width))) {
        throw new InvalidArgumentError('width', expected, raw, { data: { allowed } });
      }
      // A route's own query for the owner may meet the database's refusal of a malformed id too.
      const set = await Promise.resolve(load(req)).catch((error: unknown) => {
        throw isMalformedValueError(error)
          ? new ImageNotFoundError(`Nothing at ${req.originalUrl ?? req.url} has an image`, { cause: error })
          : error;
      });
      if (set === undefined || set === null)
        throw new ImageNotFoundError(`Nothing at ${req.originalUrl ?? req.url} has an image`);
      const target = concreteStore(store);
      const server = respondWith === 'redirect' ? undefined : files.serverFor(target);
      if (server === undefined) {
        const image = await imageOf(set, width);
        const options = { status, cacheControl: redirectCacheControl, route: 'thumbnailRoute' };
        return redirectTo(res, target, target.locate(image), respondWith, options);
      }
      // Rows read lately are used for file answers only (each is checked against its file), and
      // only for a set not loaded already (a loaded one has its rows: nothing to save).
      const key = recent !== undefined && !set.isLoaded ? RecentRows.keyOf(set) : undefined;
      const recentReadAt = key !== undefined && !reread ? recent!.load(key, set) : undefined;
      const readAt = recentReadAt ?? performance.now();
      const image = await imageOf(set, width);
      // Remembered with the time the rows were read, a thumbnail made since included.
      if (key !== undefined) recent!.remember(key, set, readAt);
      const missing: MissingFile =
        recentReadAt === undefined
          ? missingFile
          : () => {
              // A file of rows read lately is gone: read the rows again, once.
              recent!.forget(key!);
              void answer(req, res, next, true);
            };
      server.serve(req, res, next, checked(target).localPath(image)!, missing);
    } catch (error) {
      next(error);
    }
  }

  const handler = function thumbnailRouteHandler(req: Request, res: Response, next: NextFunction): Promise<void> {
    return answer(req, res, next, false);
  };
  return Object.assign(handler, { cacheStats: () => cache?.stats() ?? null });
}

/**
 * `thumbnailRoute()`: thumbnails made on demand, for a fixed list of widths.
 *
 * `GET /users/7/picture?width=200` finds (or makes, once) the 200-wide thumbnail of user 7's
 * picture and redirects to its URL, so pages can ask for the size their layout needs without the
 * upload having foreseen it. The list of widths is what keeps this safe: without it, anyone could
 * make the server resize (and store) a picture in a million sizes.
 */
import type { NextFunction, Request, Response } from 'express';
import type { ImageSet } from '../entity/image-set.js';
import type { StoreOption } from '../entity/image.js';
import { imageOfSize } from '../entity/size-match.js';
import { ImageNotFoundError, InvalidArgumentError } from '../errors.js';
import { checkBackground, type ThumbnailBackground } from '../imaging/background.js';
import { type ThumbnailFormat, thumbnailMimetype } from '../imaging/thumbnail.js';

export interface ThumbnailRouteOptions extends StoreOption {
  /** The widths a client may ask for (`?width=N`); any other is a 400. */
  widths: readonly number[];
  /**
   * The image set the request is about, or `undefined` (a 404): e.g.
   * `async (req) => { const user = await User.query().findById(req.params.id); return user && imageSet(user, 'picture'); }`.
   * Fetch the owner `withGraphFetched` the relation to save a query.
   */
  load: (req: Request) => ImageSet | undefined | Promise<ImageSet | undefined>;
  /** The format of thumbnails made here. Default: the original's. */
  format?: ThumbnailFormat;
  /** What transparent pixels become in a format without alpha (JPEG): `'#rrggbb'`, `'#rgb'` or `{ r, g, b }`. Default white. */
  background?: ThumbnailBackground;
  /** The redirect's status. Default 302 (Found); 303 and 307 are accepted too. */
  status?: 302 | 303 | 307;
}

const STATUSES = [302, 303, 307];

/**
 * A route handler answering `GET …?width=N` with a redirect to the thumbnail of that width of
 * the set `load` returns, made on the first request. Without `width`, it redirects to the
 * original; for a width at least the original's, to the original too (a thumbnail never enlarges).
 *
 * Concurrent requests for a missing width share one thumbnail in this process (and a row made
 * meanwhile by another process is used, not an error): fifty at once make one file.
 * Redirects carry `Cache-Control: no-cache`, as the target changes when the picture is replaced.
 * Errors go to `next(err)`: a width not in the list is an `InvalidArgumentError` (400), no owner
 * or no original an `ImageNotFoundError` (404).
 *
 * @throws InvalidArgumentError at once, for a bad option
 * @example
 * app.get('/users/:id/picture', thumbnailRoute({
 *   widths: [50, 100, 200, 400, 800],
 *   load: async (req) => {
 *     const user = await User.query().findById(req.params.id).withGraphFetched('picture');
 *     return user && imageSet(user, 'picture');
 *   },
 * }));
 */
export function thumbnailRoute(options: ThumbnailRouteOptions) {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options', 'an object with widths and load', options);
  const { widths, load, format, background, status = 302, store } = options;
  if (!Array.isArray(widths) || widths.length === 0 || !widths.every((w) => Number.isSafeInteger(w) && w >= 1)) {
    throw new InvalidArgumentError('options.widths', 'a non-empty array of integers >= 1', widths);
  }
  if (typeof load !== 'function') throw new InvalidArgumentError('options.load', 'a function (req) => the image set', load);
  if (!STATUSES.includes(status)) throw new InvalidArgumentError('options.status', STATUSES.join(', ').replace(/, (?=\d+$)/, ' or '), status);
  // Checks the format now: the error should come at startup, not on the first request.
  if (format !== undefined) thumbnailMimetype('image/png', format);
  checkBackground(background, 'options.background');
  const allowed = [...new Set(widths)].sort((a, b) => a - b);
  const expected = `one of ${allowed.join(', ')}`;

  return async function thumbnailRouteHandler(req: Request, res: Response, next: NextFunction): Promise<void> {
    try {
      const raw = req.query.width;
      // Digits only: `?width=1e2` or `?width=0100` would otherwise name an allowed width twice.
      const width = typeof raw === 'string' && /^[1-9][0-9]{0,8}$/.test(raw) ? Number(raw) : undefined;
      if (raw !== undefined && (width === undefined || !allowed.includes(width))) {
        throw new InvalidArgumentError('width', expected, raw, { data: { allowed } });
      }
      const set = await load(req);
      if (set === undefined || set === null) throw new ImageNotFoundError(`Nothing at ${req.originalUrl ?? req.url} has an image`);
      if (!set.isLoaded) await set.load();
      const original = set.requireOriginal();
      let image = original;
      if (width !== undefined && width < original.width) {
        // Any image of that width answers, as in generateThumbnail (size-match.ts).
        image = imageOfSize(set.images, { width }) ?? (await set.findOrCreateThumbnail({ width }, { format, background, store }));
      }
      res.set('Cache-Control', 'no-cache');
      res.redirect(status, image.locate({ store }));
    } catch (error) {
      next(error);
    }
  };
}

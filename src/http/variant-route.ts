/**
 * `variantRoute()`: the outputs of named variants, `make: 'demand'` ones made on first request.
 *
 * `GET /users/7/picture/hero/640w.webp` answers with the 640-wide WebP output of user 7's `hero`
 * variant. Its URLs name a declared variant and one of its outputs, never a transformation: the
 * declaration is the whole list of what can be made, so a client cannot make the server render
 * (and store) anything else. Any other name, descriptor or format is a 404, whose body names no
 * path.
 */
import type { NextFunction, Request, Response } from 'express';
import type { ImageSet, StoreOption, VariantOutput } from '../entity/index.js';
import { concreteStore, variantDeclarations } from '../entity/worker-api.js';
import { ImageNotFoundError } from '../errors.js';
import { resolveOutputs } from '../imaging/variant-recipe.js';
import { checked } from '../stores/checked-calls.js';
import * as check from '../util/check.js';
import { FileAnswers, missingFile, redirectTo } from './image-answers.js';
import { isMalformedValueError, loadOwnerRows } from './owner-key.js';
import { RecentRows } from './recent-rows.js';
import type { ContentCacheOptions, ContentCacheStats } from './static/content-cache.js';
import { validateCache } from './static/static-options.js';

export interface VariantRouteOptions extends StoreOption {
  /**
   * The image set the request is about, or `undefined` (a 404), as for `thumbnailRoute()`:
   * `(req) => imageSet(User.fromJson({ id: Number(req.params.ownerId) }), 'picture')`. The route
   * loads an unloaded set itself (its images, variants and meta).
   */
  load: (req: Request) => ImageSet | undefined | Promise<ImageSet | undefined>;
  /** `'file'` (the bytes, as `staticServer()` sends them) or `'redirect'` (to the output's URL); as for `thumbnailRoute()`. */
  respondWith?: 'file' | 'redirect';
  /** The redirect's status. Default 302. */
  status?: 302 | 303 | 307;
  /** `Cache-Control: max-age` of the answers, in seconds. Default 0 (revalidate); see `thumbnailRoute()`. */
  maxAge?: number;
  /** The content cache of file answers (see `staticServer()`'s `cache`). */
  cache?: ContentCacheOptions | false;
}

/** The handler `variantRoute()` returns. */
export interface VariantRouteHandler {
  (req: Request, res: Response, next: NextFunction): Promise<void>;
  /** The content cache's figures of file answers, or null with `cache: false`. */
  cacheStats(): ContentCacheStats | null;
}

const STATUSES = [302, 303, 307];
const MODES = ['file', 'redirect'];
/** `1x`, `2x`, `640w`: what a descriptor in a URL may look like before it is looked up. */
const DESCRIPTOR = /^[1-9][0-9]{0,5}[xw]$/;
const NOT_DECLARED = 'No such variant output: the relation declares no variant, descriptor and format of that name';

/**
 * A route handler for paths with the params `name`, `descriptor` and `format` (mount it at e.g.
 * `/users/:ownerId/picture/:name/:descriptor.:format`), answering with that output of the set
 * `load` returns:
 *
 * - an output made of the current original (or by an older recipe: served until remade) is
 *   answered at once;
 * - a `make: 'demand'` output not made yet is made, once however many requests ask at the same
 *   time (and a row made meanwhile by another process is used);
 * - an undeclared name, descriptor or format, or an `upload`/`queue` output not made yet, is a 404
 *   (`ImageNotFoundError` to `next(err)`), whose message names no path.
 *
 * Answers are those of `thumbnailRoute()`: the file (ETag, 304, ranges, HEAD) or a redirect.
 * The HTML helpers emit this route's URLs for demand outputs not made yet when given `demandUrl`.
 *
 * @throws InvalidArgumentError at once, for a bad option
 * @example
 * app.get('/users/:ownerId/picture/:name/:descriptor.:format', variantRoute({
 *   load: (req) => imageSet(User.fromJson({ id: Number(req.params.ownerId) }), 'picture'),
 * }));
 */
export function variantRoute(options: VariantRouteOptions): VariantRouteHandler {
  check.object(options, 'options', 'an object with load');
  const { load, respondWith, status = 302, maxAge = 0, store } = options;
  check.func(load, 'options.load', 'a function (req) => the image set');
  if (respondWith !== undefined) check.oneOf(respondWith, MODES, 'options.respondWith');
  check.oneOf(status, STATUSES, 'options.status');
  check.integerAtLeast(maxAge, 0, 'options.maxAge', 'seconds');
  const cache = validateCache(options.cache ?? {});
  const files = new FileAnswers(`public, max-age=${maxAge}`, cache);
  const redirectCacheControl = maxAge === 0 ? 'no-cache' : `public, max-age=${maxAge}`;
  /** Outputs being made in this process, so concurrent first requests make one. */
  const making = new Map<string, Promise<VariantOutput>>();

  /** The output the request names, made if it is a demand output not made yet. */
  async function outputOf(req: Request, set: ImageSet): Promise<VariantOutput> {
    const { name, descriptor, format } = req.params as Record<string, string | undefined>;
    if (typeof descriptor !== 'string' || !DESCRIPTOR.test(descriptor)) throw new ImageNotFoundError(NOT_DECLARED);
    if (!set.isLoaded) await loadOwnerRows(set, () => set.load());
    const declaration = typeof name === 'string' ? variantDeclarations(set).get(name) : undefined;
    if (declaration === undefined) throw new ImageNotFoundError(NOT_DECLARED);
    const original = set.original;
    if (original === undefined) throw new ImageNotFoundError('This owner has no image, so no variant of it');
    const output = resolveOutputs(declaration, original.mimetype).find(
      (o) => o.descriptor === descriptor && o.format === format,
    );
    if (output === undefined) throw new ImageNotFoundError(NOT_DECLARED);
    const state = set.variant(declaration.name);
    const same = (o: VariantOutput) => o.descriptor === output.descriptor && o.format === output.format;
    const found = state.outputs.find(same) ?? state.stale.find(same);
    if (found !== undefined) return found;
    if (declaration.make !== 'demand') {
      throw new ImageNotFoundError(`This ${declaration.make} output is not made yet`, {
        data: { make: declaration.make },
      });
    }
    const key = `${RecentRows.keyOf(set)}\0${JSON.stringify(set.subset)}\0${output.variant}\0${output.descriptor}\0${output.format}`;
    let pending = making.get(key);
    if (pending === undefined) {
      pending = set.findOrCreateVariant(
        declaration.name,
        { descriptor: output.descriptor, format: output.format },
        { store },
      );
      making.set(key, pending);
      const forget = () => making.delete(key);
      pending.then(forget, forget);
    }
    return pending;
  }

  const handler = async function variantRouteHandler(req: Request, res: Response, next: NextFunction): Promise<void> {
    try {
      // A route's own query for the owner may meet the database's refusal of a malformed id too.
      const set = await Promise.resolve(load(req)).catch((error: unknown) => {
        throw isMalformedValueError(error) ? new ImageNotFoundError('No such owner', { cause: error }) : error;
      });
      if (set === undefined || set === null) throw new ImageNotFoundError('No such owner');
      const output = await outputOf(req, set);
      const target = concreteStore(store);
      const server = respondWith === 'redirect' ? undefined : files.serverFor(target);
      if (server === undefined) {
        const redirect = { status, cacheControl: redirectCacheControl, route: 'variantRoute' };
        return redirectTo(res, target, output.locate({ store: target }), respondWith, redirect);
      }
      server.serve(req, res, next, checked(target).localPath(output.key)!, missingFile);
    } catch (error) {
      next(error);
    }
  };
  return Object.assign(handler, { cacheStats: () => cache?.stats() ?? null });
}

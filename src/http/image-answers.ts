/**
 * How the on-demand routes (`thumbnailRoute()`, `variantRoute()`) answer with an image once they
 * have it: its bytes, as `staticServer()` would send its file (filesystem stores), or a redirect
 * to its URL (stores whose files are elsewhere, such as S3).
 */
import type { Response } from 'express';
import { ImageAttachError, ImageNotFoundError } from '../errors.js';
import { FileSystemStoreBase } from '../stores/fs.js';
import type { Store } from '../stores/store.js';
import { LocalFileServer, type MissingFile } from './static/local-file-server.js';
import type { validateCache } from './static/static-options.js';

/** How a route redirects: its status, `Cache-Control`, and its name for the setup error. */
export interface RedirectOptions {
  status: 302 | 303 | 307;
  cacheControl: string;
  route: string;
}

/**
 * Redirects to `url` (an image's, as `target` locates it), or refuses when the route was told to
 * answer with files.
 * @throws ImageAttachError (500) for `respondWith: 'file'` with a store whose files are not here
 */
export function redirectTo(
  res: Response,
  target: Store,
  url: string,
  respondWith: 'file' | 'redirect' | undefined,
  options: RedirectOptions,
): void {
  if (respondWith === 'file') {
    // The app's setup, not the request, is wrong: a 500 that says what to change.
    throw new ImageAttachError(
      'ERR_INVALID_ARGUMENT',
      `${options.route}({ respondWith: 'file' }) needs a filesystem store, and this ${target.constructor.name} keeps its files elsewhere: use respondWith: 'redirect'`,
      { statusCode: 500 },
    );
  }
  res.set('Cache-Control', options.cacheControl);
  res.redirect(options.status, url);
}

/** The file servers of a route, one per filesystem store it has served from, all on one content cache. */
export class FileAnswers {
  private readonly servers = new WeakMap<Store, LocalFileServer | null>();

  constructor(
    private readonly cacheControl: string,
    private readonly cache: ReturnType<typeof validateCache>,
  ) {}

  /** The server of `store`'s files, or undefined when its files are not on this machine. */
  serverFor(store: Store): LocalFileServer | undefined {
    let server = this.servers.get(store);
    if (server === undefined) {
      server =
        store instanceof FileSystemStoreBase
          ? new LocalFileServer(store.root, 64 * 1024, this.cacheControl, this.cache)
          : null;
      this.servers.set(store, server);
    }
    return server ?? undefined;
  }
}

/** A row whose file is not there (removed behind the database's back): a 404, not a 500. */
export const missingFile: MissingFile = (req, _res, next) =>
  next(
    new ImageNotFoundError(`The image file for ${req.url ?? ''} is missing from the store`, {
      data: { path: req.url },
    }),
  );

/**
 * `serveStore(store)`: an `HttpExposedFileSystemStore`'s folder served under its prefix by
 * `staticServer()`, and each request's origin bound for the URLs the store computes meanwhile.
 * The store only knows its folder, prefix and URLs; serving them is this layer's job, so that
 * importing the core loads none of the static server's packages.
 */
import { requestOrigin, withRequestOrigin } from '../context.js';
import { HttpExposedFileSystemStore } from '../stores/http-exposed-fs.js';
import { signatureRefusal } from './signed-request.js';
import * as check from '../util/check.js';
import {
  staticServer,
  type StaticServerIntrospection,
  type StaticServerMiddleware,
  type StaticServerOptions,
} from './static/static-server.js';

/** Options of `serveStore()`: those of `staticServer()` but the folder, prefix and signing, which the store gives. */
export type ServeStoreOptions = Omit<StaticServerOptions, 'root' | 'prefix' | 'signedUrls'>;

/**
 * Express/Connect middleware for an `HttpExposedFileSystemStore`: serves its files under
 * `/<prefix>/` with {@link staticServer} (ranges, conditional GET, containment), and binds each
 * request's origin so that, with `allowedHosts` or `trustHostHeader`, `locate()` in any later
 * handler of that request gives `http(s)://<host>/<prefix>/…` for the host that request came to.
 * With Express, `trust proxy` decides whether `X-Forwarded-Proto`/`-Host` count: set it only
 * behind a proxy that sets them (a client can send them too). Mount it at the app's root, before
 * the routes that render image URLs. It binds the origin only: bind the store itself with
 * `storeContext(store)`. Like `staticServer()`'s, the returned function has `cacheStats()`.
 * For a store made with `signedUrls`, a request under the prefix without a valid signature gets
 * `next(error)`: 403 `ERR_URL_SIGNATURE_INVALID`, or 410 `ERR_URL_EXPIRED`.
 * @param options passed on to `staticServer()` (`blockSize`, `maxAge`, `immutable`, `fallthrough`, `cache`)
 * @throws InvalidArgumentError for a store that is not an `HttpExposedFileSystemStore`, or a bad option
 * @example
 * app.use(serveStore(store, { maxAge: 31536000, immutable: true }));
 * app.use(storeContext(store));
 */
export function serveStore(
  store: HttpExposedFileSystemStore,
  options: ServeStoreOptions = {},
): StaticServerMiddleware & StaticServerIntrospection {
  check.instanceOf(
    store,
    HttpExposedFileSystemStore,
    'store',
    'an HttpExposedFileSystemStore (other stores serve their own URLs)',
  );
  const serve = staticServer({ ...options, root: store.root, prefix: store.prefix });
  const signer = store.urlSigner;
  const prefix = `/${store.prefix}/`;
  const middleware: StaticServerMiddleware = function serveStoreMiddleware(req, res, next) {
    if (signer !== undefined) {
      const refusal = signatureRefusal(req, prefix, signer);
      if (refusal !== undefined) return next(refusal);
    }
    const origin = requestOrigin(req);
    // Everything after this middleware, `next()` included, runs inside the binding.
    if (origin === undefined) serve(req, res, next);
    else withRequestOrigin(origin, () => serve(req, res, next));
  };
  return Object.assign(middleware, { cacheStats: serve.cacheStats });
}

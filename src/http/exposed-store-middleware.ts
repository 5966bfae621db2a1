/**
 * The middleware of `HttpExposedFileSystemStore.middleware()`: its folder served under its prefix by
 * `staticServer()`, and each request's origin bound for the URLs the store computes meanwhile.
 */
import { requestOrigin, withRequestOrigin } from '../context.js';
import { staticServer, type StaticServerIntrospection, type StaticServerMiddleware, type StaticServerOptions } from './static/static-server.js';

/** Options of `HttpExposedFileSystemStore.middleware()`: those of `staticServer()` but the folder and prefix. */
export type HttpExposedFileSystemStoreMiddlewareOptions = Omit<StaticServerOptions, 'root' | 'prefix'>;

/** Serves `root` under `/<prefix>/`, binding the request's origin for everything after it. */
export function exposedStoreMiddleware(
  root: string,
  prefix: string,
  options: HttpExposedFileSystemStoreMiddlewareOptions,
): StaticServerMiddleware & StaticServerIntrospection {
  const serve = staticServer({ ...options, root, prefix });
  const middleware: StaticServerMiddleware = function httpExposedFileSystemStoreMiddleware(req, res, next) {
    const origin = requestOrigin(req);
    // Everything after this middleware, `next()` included, runs inside the binding.
    if (origin === undefined) serve(req, res, next);
    else withRequestOrigin(origin, () => serve(req, res, next));
  };
  return Object.assign(middleware, { cacheStats: serve.cacheStats });
}

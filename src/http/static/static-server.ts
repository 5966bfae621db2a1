/**
 * `staticServer()`: an Express/Connect middleware that serves the files under a folder, the way a
 * production server should: path containment (`request-path.ts`, `file-opener.ts`), conditional
 * GET and byte ranges in pillarjs/send's order (`conditional.ts`, `file-response.ts`), streaming
 * with cleanup. Once a URL names a file, `local-file-server.ts` answers with it.
 *
 * The hot path is one `stat` (synchronous on a local disk: `local-filesystems.ts`) and one
 * `res.end(buffer)` for a small file kept in memory (`content-cache.ts`), else one `open`, one `fstat` and the reads: containment verdicts and header
 * values are remembered per file identity (see `file-opener.ts`), so a repeat request recomputes nothing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { type ImageAttachError, ImageNotFoundError, InvalidArgumentError } from '../../errors.js';
import { alternateExtensions, extensionFor, mimetypeForExtension } from '../../stores/keys.js';
import type { ContentCacheOptions, ContentCacheStats } from './content-cache.js';
import type { NextFunction } from './file-response.js';
import { LocalFileServer, type MissingFile } from './local-file-server.js';
import { resolveRequestPath } from './request-path.js';
import { validateOptions } from './static-options.js';
import { type SignedUrlOptions, UrlSigner } from '../../stores/url-signer.js';
import { signatureRefusal } from '../signed-request.js';

export interface StaticServerOptions {
  /** The folder whose files are served. It may not exist yet (requests then fall through). */
  root: string;
  /**
   * The URL path the files are served under: `/static` serves `<root>/a/b.jpe` at `/static/a/b.jpe`.
   * Default `/` (the mount point itself). Requests outside it go to `next()` untouched.
   */
  prefix?: string;
  /** Bytes read from disk at a time (the read stream's `highWaterMark`). Default 65536 (64 KiB). */
  blockSize?: number;
  /** `Cache-Control: max-age`, in seconds. Default 0 (clients revalidate, cheaply, with a 304). */
  maxAge?: number;
  /**
   * Adds `immutable` to `Cache-Control`: browsers then skip revalidation entirely. Right for the
   * stores' URLs, which change (`?_ts=`) whenever the file does. Default false.
   */
  immutable?: boolean;
  /**
   * What to do with a request this server cannot answer with a file (missing, refused, malformed,
   * or a method other than GET/HEAD): true (the default) passes it to `next()`, so another route
   * may answer; false answers it: 405 with `Allow` for other methods, and `next(error)` with a
   * 404 or 400 {@link ImageAttachError} for the rest.
   */
  fallthrough?: boolean;
  /**
   * Keeps the bytes of small files in memory (LRU by bytes), so a repeat request is one `stat`
   * and one write. Every request still checks the file's identity (device, inode, size, mtime,
   * ctime) against the kept bytes', so a rewritten or replaced file is read again, never served
   * stale; a file written less than 2 s ago is not kept yet (its timestamps may not have ticked).
   * Default `{ maxBytes: 32 MiB, maxFileBytes: 1 MiB }`; `false` reads every request from disk.
   */
  cache?: ContentCacheOptions | false;
  /**
   * Private files: serve a request only with a valid `?exp=…&sig=…`, as a `FileSystemStore` made
   * with the same `signedUrls` writes them (403 `ERR_URL_SIGNATURE_INVALID`, 410 `ERR_URL_EXPIRED`
   * as `next(error)` otherwise). See docs/serving.md#private-images-signed-urls.
   */
  signedUrls?: SignedUrlOptions;
}

/** The `(req, res, next)` function `staticServer()` returns; Express, Connect and plain `http` take it. */
export type StaticServerMiddleware = (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void;

/** What a `staticServer()` middleware tells about itself. */
export interface StaticServerIntrospection {
  /** The content cache's figures (entries, bytes, hits, misses), or null with `cache: false`. */
  cacheStats(): ContentCacheStats | null;
}

/**
 * Serves the files under `options.root`, following pillarjs/send's order of decisions: 412, 304,
 * If-Range, 416 (its `Content-Range` giving the size), a single-range 206 (`bytes=a-b`,
 * `bytes=a-`, `bytes=-n`), the whole file for malformed or multi-range requests, HEAD without a body.
 *
 * Every answer carries `Content-Type` (from the extension; `.jpe` is JPEG), `Content-Length`,
 * `Accept-Ranges`, a strong `ETag`, `Last-Modified`, `Cache-Control` and
 * `X-Content-Type-Options: nosniff`; SVG (and other scriptable documents) also a
 * Content-Security-Policy that forbids script. A missing `….tiff` is answered with `….tif` when
 * that exists (the name SQLAlchemy-ImageAttach gave TIFFs up to Python 3.6). A path is served only when it names a regular
 * file whose real path (symlinks resolved) is inside the root; `..`, NUL, backslashes and
 * dot-files never are. A 4xx falls through to `next()` (unless `fallthrough: false`); a 5xx goes
 * to `next(error)`. A client that goes away mid-body has its file closed at once.
 *
 * @throws InvalidArgumentError for a bad option, when called (not per request)
 * @example
 * app.use(staticServer({ root: '/var/www/images', prefix: '/images', maxAge: 31536000, immutable: true }))
 */
export function staticServer(options: StaticServerOptions): StaticServerMiddleware & StaticServerIntrospection {
  const { root, prefix, blockSize, cacheControl, fallthrough, cache } = validateOptions(options);
  const files = new LocalFileServer(root, blockSize, cacheControl, cache);
  const signer = options.signedUrls === undefined ? undefined : new UrlSigner(options.signedUrls);
  const missing: MissingFile = (req, _res, next) => refuse(next, () => noFile(req.url ?? ''));

  /** A request we will not answer with a file: next(), or next(error) without fallthrough. */
  function refuse(next: NextFunction, error: () => ImageAttachError): void {
    if (fallthrough) next();
    else next(error());
  }

  const middleware: StaticServerMiddleware = function staticServerMiddleware(req, res, next) {
    const url = req.url ?? '';
    const target = resolveRequestPath(url, prefix, root);
    if (target.kind === 'elsewhere') return next();
    if (signer !== undefined) {
      const refusal = signatureRefusal(req, `${prefix}/`, signer);
      if (refusal !== undefined) return next(refusal);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      if (fallthrough) return next();
      res.statusCode = 405;
      res.setHeader('Allow', 'GET, HEAD');
      res.setHeader('Content-Length', '0');
      res.end();
      return;
    }
    if (target.kind === 'malformed') return refuse(next, () => badPath(url));
    if (target.kind === 'refused') return refuse(next, () => noFile(url));
    const others = alternates(target.file);
    files.serve(req, res, next, target.file, others.length === 0 ? missing : tryInTurn(others));
  };

  /** Serves the first of `others` that exists, else answers as for a missing file. */
  function tryInTurn(others: readonly string[]): MissingFile {
    const [first, ...rest] = others;
    return (req, res, next) => files.serve(req, res, next, first!, rest.length === 0 ? missing : tryInTurn(rest));
  }
  return Object.assign(middleware, { cacheStats: () => cache?.stats() ?? null });
}

/**
 * The same file under the other extensions of its type, tried in turn when it is missing: stores
 * name a TIFF `.tiff`, and SQLAlchemy-ImageAttach on Python 3.6 and older wrote `.tif`, so a
 * store URL must also reach a file written then. Costs nothing until a `.tiff` is missing.
 */
function alternates(file: string): string[] {
  const ext = path.extname(file);
  const mimetype = mimetypeForExtension(ext);
  if (mimetype === undefined || extensionFor(mimetype) !== ext) return [];
  return alternateExtensions(mimetype).map((other) => file.slice(0, -ext.length) + other);
}

function noFile(url: string): ImageAttachError {
  return new ImageNotFoundError(`No file to serve at ${pathOf(url)}`, { data: { path: pathOf(url) } });
}

function badPath(url: string): ImageAttachError {
  return new InvalidArgumentError(
    'the request path',
    'a percent-encoded UTF-8 URL path without NUL bytes',
    pathOf(url),
  );
}

function pathOf(url: string): string {
  const queryAt = url.indexOf('?');
  return queryAt === -1 ? url : url.slice(0, queryAt);
}

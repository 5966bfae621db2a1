/**
 * `staticServer()`: an Express/Connect middleware that serves the files under a folder, the way a
 * production server should: path containment (`request-path.ts`, `file-opener.ts`), conditional
 * GET and byte ranges in pillarjs/send's order (`conditional.ts`), streaming with cleanup.
 *
 * The hot path is one `open`, one `fstat` and the reads: containment verdicts and header values
 * are remembered per file identity (see `file-opener.ts`), so a repeat request recomputes nothing.
 */
import fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import etag from 'etag';
import mime from 'mime-types';
import { ImageAttachError, ImageNotFoundError, InvalidArgumentError, StoreError } from '../errors.js';
import { decideRange, notModified, preconditionFailed, type Validators } from './conditional.js';
import { closeDescriptor, FileOpener } from './file-opener.js';
import { resolveRequestPath } from './request-path.js';

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
}

/** The `(req, res, next)` function `staticServer()` returns; Express, Connect and plain `http` take it. */
export type StaticServerMiddleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/**
 * Document types a browser would run script in. They get a Content-Security-Policy that forbids
 * script, so an uploaded SVG (or anything else) served from the app's origin cannot attack it.
 */
const SCRIPTABLE_TYPES = new Set(['image/svg+xml', 'text/html', 'application/xhtml+xml', 'text/xml', 'application/xml']);
const NO_SCRIPT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

type HeaderList = ReadonlyArray<readonly [string, string]>;

/** Per-file facts, computed once per file identity and kept by the {@link FileOpener}. */
interface FileFacts extends Validators {
  /** Headers of a 200 or 206: type, validators, caching, ranges, nosniff (and CSP for documents). */
  readonly headers: HeaderList;
  /** Headers of a 304: validators and Cache-Control. */
  readonly notModifiedHeaders: HeaderList;
  /** Headers of a 412 or 416: the validators. */
  readonly validatorHeaders: HeaderList;
}

/**
 * Serves the files under `options.root`, following pillarjs/send's order of decisions: 412, 304,
 * If-Range, 416 (its `Content-Range` giving the size), a single-range 206 (`bytes=a-b`,
 * `bytes=a-`, `bytes=-n`), the whole file for malformed or multi-range requests, HEAD without a body.
 *
 * Every answer carries `Content-Type` (from the extension; `.jpe` is JPEG), `Content-Length`,
 * `Accept-Ranges`, a strong `ETag`, `Last-Modified`, `Cache-Control` and
 * `X-Content-Type-Options: nosniff`; SVG (and other scriptable documents) also a
 * Content-Security-Policy that forbids script. A path is served only when it names a regular
 * file whose real path (symlinks resolved) is inside the root; `..`, NUL, backslashes and
 * dot-files never are. A 4xx falls through to `next()` (unless `fallthrough: false`); a 5xx goes
 * to `next(error)`. A client that goes away mid-body has its file closed at once.
 *
 * @throws InvalidArgumentError for a bad option, when called (not per request)
 * @example
 * app.use(staticServer({ root: '/var/www/images', prefix: '/images', maxAge: 31536000, immutable: true }))
 */
export function staticServer(options: StaticServerOptions): StaticServerMiddleware {
  const { root, prefix, blockSize, cacheControl, fallthrough } = validateOptions(options);
  const opener = new FileOpener<FileFacts>(root, (file, stats) => describeFile(file, stats, cacheControl));

  /** A request we will not answer with a file: next(), or next(error) without fallthrough. */
  function refuse(next: (error?: unknown) => void, error: () => ImageAttachError): void {
    if (fallthrough) next();
    else next(error());
  }

  return function staticServerMiddleware(req, res, next) {
    const url = req.url ?? '';
    const target = resolveRequestPath(url, prefix, root);
    if (target.kind === 'elsewhere') return next();
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

    const file = target.file;
    opener
      .open(file)
      .then(
        (opened) => {
          if (opened === null) refuse(next, () => noFile(url));
          else respond(req, res, next, file, opened.fd, opened.size, opened.facts, blockSize);
        },
        (error: Error) =>
          next(new StoreError('ERR_STORE_UNAVAILABLE', `Opening ${file} failed: ${error.message}`, { cause: error, data: { path: file } })),
      )
      // Whatever a handler above (or a `next` it called) throws belongs to the app, not to an
      // unhandled rejection.
      .catch(next);
  };
}

/** Writes the answer for an open, verified file; `fd` is ours to close (or to hand to the stream). */
function respond(
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
  file: string,
  fd: number,
  size: number,
  facts: FileFacts,
  blockSize: number,
): void {
  if (res.headersSent) {
    closeDescriptor(fd);
    next(new StoreError('ERR_STORE_UNAVAILABLE', `Cannot serve ${file}: the response headers were already sent`));
    return;
  }
  const headers = req.headers;
  if (preconditionFailed(headers, facts)) return endWithoutBody(res, fd, 412, facts.validatorHeaders);
  // A 304 carries the validators and caching headers, and no entity headers (RFC 9110 §15.4.5).
  if (notModified(headers, facts)) return endWithoutBody(res, fd, 304, facts.notModifiedHeaders);
  const range = decideRange(headers, size, facts);
  if (range.kind === 'unsatisfiable') {
    return endWithoutBody(res, fd, 416, [...facts.validatorHeaders, ['Accept-Ranges', 'bytes'], ['Content-Range', `bytes */${size}`]]);
  }

  const partial = range.kind === 'partial';
  const start = partial ? range.start : 0;
  const end = partial ? range.end : size - 1;
  const length = end - start + 1;
  /** Status and headers are set only once there are bytes to send, so a failed read can still be a clean 5xx. */
  const writeHead = () => {
    res.statusCode = partial ? 206 : 200;
    for (const [name, value] of facts.headers) res.setHeader(name, value);
    if (partial) res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
    res.setHeader('Content-Length', String(length));
  };

  if (req.method === 'HEAD' || length === 0) {
    closeDescriptor(fd);
    writeHead();
    res.end();
    return;
  }
  if (length <= blockSize) {
    // One block: one read and one write, no stream to set up (thumbnails, most ranges).
    const buffer = Buffer.allocUnsafe(length);
    fs.read(fd, buffer, 0, length, start, (error, bytesRead) => {
      closeDescriptor(fd);
      if (error !== null || bytesRead !== length) {
        next(readError(file, error ?? new Error(`the file shrank while being read (${bytesRead} of ${length} bytes)`)));
        return;
      }
      writeHead();
      res.end(buffer);
    });
    return;
  }
  writeHead();
  // The stream owns the descriptor from here (autoClose): it closes it on end, error or destroy.
  const stream = fs.createReadStream(file, { fd, start, end, highWaterMark: blockSize, autoClose: true });
  // pipeline destroys the file stream if the client goes away, and the response if a read fails.
  pipeline(stream, res).catch((error: NodeJS.ErrnoException) => {
    // The client left before the end: both streams are destroyed already, nothing is wrong here.
    if (error.code === 'ERR_STREAM_PREMATURE_CLOSE') return;
    next(readError(file, error));
  });
}

function readError(file: string, cause: Error): StoreError {
  return new StoreError('ERR_STORE_UNAVAILABLE', `Reading ${file} failed: ${cause.message}`, { cause, data: { path: file } });
}

function endWithoutBody(res: ServerResponse, fd: number, status: number, headers: HeaderList): void {
  closeDescriptor(fd);
  res.statusCode = status;
  for (const [name, value] of headers) res.setHeader(name, value);
  if (status !== 304) res.setHeader('Content-Length', '0');
  res.end();
}

function describeFile(file: string, stats: fs.Stats, cacheControl: string): FileFacts {
  const contentType = mime.contentType(path.extname(file)) || 'application/octet-stream';
  // Strong: the tag changes with size or mtime, and stores replace files by rename (new mtime).
  const tag = etag(stats, { weak: false });
  const lastModified = stats.mtime.toUTCString();
  const validatorHeaders: HeaderList = [
    ['ETag', tag],
    ['Last-Modified', lastModified],
  ];
  const headers: Array<readonly [string, string]> = [
    ['Accept-Ranges', 'bytes'],
    ['Cache-Control', cacheControl],
    ['Content-Type', contentType],
    ...validatorHeaders,
    ['X-Content-Type-Options', 'nosniff'],
  ];
  if (SCRIPTABLE_TYPES.has(contentType.split(';')[0]!)) headers.push(['Content-Security-Policy', NO_SCRIPT_POLICY]);
  return {
    etag: tag,
    lastModified,
    lastModifiedTime: Date.parse(lastModified),
    headers,
    notModifiedHeaders: [['Cache-Control', cacheControl], ...validatorHeaders],
    validatorHeaders,
  };
}

function noFile(url: string): ImageAttachError {
  return new ImageNotFoundError(`No file to serve at ${pathOf(url)}`, { data: { path: pathOf(url) } });
}

function badPath(url: string): ImageAttachError {
  return new InvalidArgumentError('the request path', 'a percent-encoded UTF-8 URL path without NUL bytes', pathOf(url));
}

function pathOf(url: string): string {
  const queryAt = url.indexOf('?');
  return queryAt === -1 ? url : url.slice(0, queryAt);
}

interface ValidOptions {
  root: string;
  prefix: string;
  blockSize: number;
  cacheControl: string;
  fallthrough: boolean;
}

const MAX_BLOCK_SIZE = 1024 * 1024 * 1024;

function validateOptions(options: StaticServerOptions): ValidOptions {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError('options', 'an object with a root folder', options);
  }
  const { root, prefix = '/', blockSize = 64 * 1024, maxAge = 0, immutable = false, fallthrough = true } = options;
  if (typeof root !== 'string' || root === '' || root.includes('\0')) {
    throw new InvalidArgumentError('options.root', 'a folder path (a non-empty string)', root);
  }
  if (typeof prefix !== 'string' || !(/^\/*$/.test(prefix) || isUrlPath(prefix))) {
    throw new InvalidArgumentError('options.prefix', 'a URL path like "/" or "/static/images"', prefix);
  }
  if (!Number.isSafeInteger(blockSize) || blockSize < 1 || blockSize > MAX_BLOCK_SIZE) {
    throw new InvalidArgumentError('options.blockSize', `an integer between 1 and ${MAX_BLOCK_SIZE} (bytes)`, blockSize);
  }
  if (!Number.isSafeInteger(maxAge) || maxAge < 0) {
    throw new InvalidArgumentError('options.maxAge', 'an integer >= 0 (seconds)', maxAge);
  }
  if (typeof immutable !== 'boolean') throw new InvalidArgumentError('options.immutable', 'a boolean', immutable);
  if (typeof fallthrough !== 'boolean') throw new InvalidArgumentError('options.fallthrough', 'a boolean', fallthrough);
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  return {
    root: path.resolve(root),
    prefix: trimmed === '' ? '' : `/${trimmed}`,
    blockSize,
    cacheControl: `public, max-age=${maxAge}${immutable ? ', immutable' : ''}`,
    fallthrough,
  };
}

/** `static/images`, `/a/b/`: unreserved characters only, and no `.` or `..` segment. */
function isUrlPath(prefix: string): boolean {
  return /^\/?[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*\/?$/.test(prefix) && !/(^|\/)\.\.?(\/|$)/.test(prefix);
}

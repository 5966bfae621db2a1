/**
 * `staticServer()`: an Express/Connect middleware that serves the files under a folder, the way a
 * production server should: path containment (`request-path.ts`, `file-opener.ts`), conditional
 * GET and byte ranges in pillarjs/send's order (`conditional.ts`), streaming with cleanup.
 *
 * The hot path is one `stat` and one `res.end(buffer)` for a small file kept in memory
 * (`content-cache.ts`), else one `open`, one `fstat` and the reads: containment verdicts and header
 * values are remembered per file identity (see `file-opener.ts`), so a repeat request recomputes nothing.
 */
import fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import etag from 'etag';
import mime from 'mime-types';
import { ImageAttachError, ImageNotFoundError, InvalidArgumentError, StoreError } from '../errors.js';
import { decideRange, notModified, preconditionFailed, type Validators } from './conditional.js';
import type { ContentCache, ContentCacheOptions, ContentCacheStats } from './content-cache.js';
import { closeDescriptor, FileOpener, type OpenedFile, sameIdentity } from './file-opener.js';
import { resolveRequestPath } from './request-path.js';
import { validateOptions } from './static-options.js';

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
}

/** The `(req, res, next)` function `staticServer()` returns; Express, Connect and plain `http` take it. */
export type StaticServerMiddleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/** What a `staticServer()` middleware tells about itself. */
export interface StaticServerIntrospection {
  /** The content cache's figures (entries, bytes, hits, misses), or null with `cache: false`. */
  cacheStats(): ContentCacheStats | null;
}

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
export function staticServer(options: StaticServerOptions): StaticServerMiddleware & StaticServerIntrospection {
  const { root, prefix, blockSize, cacheControl, fallthrough, cache } = validateOptions(options);
  const opener = new FileOpener<FileFacts>(root, (file, stats) => describeFile(file, stats, cacheControl));

  /** A request we will not answer with a file: next(), or next(error) without fallthrough. */
  function refuse(next: (error?: unknown) => void, error: () => ImageAttachError): void {
    if (fallthrough) next();
    else next(error());
  }

  const middleware: StaticServerMiddleware = function staticServerMiddleware(req, res, next) {
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
    const fromDisk = () =>
      opener
        .open(file)
        .then(
          (opened) => {
            if (opened === null) refuse(next, () => noFile(url));
            else respond(req, res, next, file, opened, blockSize, cache);
          },
          (error: Error) =>
            next(new StoreError('ERR_STORE_UNAVAILABLE', `Opening ${file} failed: ${error.message}`, { cause: error, data: { path: file } })),
        )
        // Whatever a handler above (or a `next` it called) throws belongs to the app, not to an
        // unhandled rejection.
        .catch(next);

    const known = cache === null ? undefined : opener.peek(file);
    if (known === undefined) return void fromDisk();
    // A file verified before, whose bytes may be in memory. Why a `stat` of the path is as strong
    // as the `open` + `fstat` of the disk path: both follow the path as it is now, symlinks
    // included, to one inode, and both trust that inode only if its identity (device, inode,
    // size, mtime, ctime) is the one verified inside the root: the disk path then reads that
    // inode, this one sends the bytes read from it under that same identity. A path swapped for
    // a symlink (or a folder for a symlinked folder) leads to another inode, or to the same one
    // through a new link, which moves its ctime; either way the identities differ and the
    // request goes through the full check (`realpath` inside the root, `O_NOFOLLOW`) on disk.
    fs.stat(file, (error, stats) => {
      const body = error === null && sameIdentity(known, stats) ? cache!.get(known.real, stats) : undefined;
      if (body === undefined) return void fromDisk();
      try {
        respondFromMemory(req, res, next, file, known.facts, body);
      } catch (thrown) {
        next(thrown);
      }
    });
  };
  return Object.assign(middleware, { cacheStats: () => cache?.stats() ?? null });
}

/** A body to send: its first and last byte, and whether it answers a Range (206) or not (200). */
interface Span {
  readonly partial: boolean;
  readonly start: number;
  readonly end: number;
}

/**
 * The decisions before any body byte, in send's order: 412, 304, 416. Answers those itself (and
 * returns null); otherwise returns the span to send.
 */
function decide(req: IncomingMessage, res: ServerResponse, size: number, facts: FileFacts): Span | null {
  const headers = req.headers;
  if (preconditionFailed(headers, facts)) return endWithoutBody(res, 412, facts.validatorHeaders);
  // A 304 carries the validators and caching headers, and no entity headers (RFC 9110 §15.4.5).
  if (notModified(headers, facts)) return endWithoutBody(res, 304, facts.notModifiedHeaders);
  const range = decideRange(headers, size, facts);
  if (range.kind === 'unsatisfiable') {
    return endWithoutBody(res, 416, [...facts.validatorHeaders, ['Accept-Ranges', 'bytes'], ['Content-Range', `bytes */${size}`]]);
  }
  return range.kind === 'partial' ? { partial: true, start: range.start, end: range.end } : { partial: false, start: 0, end: size - 1 };
}

/** Status and headers of a 200 or 206; set only once there are bytes to send, so a failed read can still be a clean 5xx. */
function writeHead(res: ServerResponse, facts: FileFacts, span: Span, size: number): void {
  res.statusCode = span.partial ? 206 : 200;
  for (const [name, value] of facts.headers) res.setHeader(name, value);
  if (span.partial) res.setHeader('Content-Range', `bytes ${span.start}-${span.end}/${size}`);
  res.setHeader('Content-Length', String(span.end - span.start + 1));
}

function headersAlreadySent(file: string): StoreError {
  return new StoreError('ERR_STORE_UNAVAILABLE', `Cannot serve ${file}: the response headers were already sent`);
}

/** Writes the answer from bytes kept in memory (`body` is the whole, current file). */
function respondFromMemory(
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
  file: string,
  facts: FileFacts,
  body: Buffer,
): void {
  if (res.headersSent) return next(headersAlreadySent(file));
  const span = decide(req, res, body.length, facts);
  if (span === null) return;
  writeHead(res, facts, span, body.length);
  if (req.method === 'HEAD' || span.end < span.start) res.end();
  else res.end(span.partial ? body.subarray(span.start, span.end + 1) : body);
}

/** Writes the answer for an open, verified file; `opened.fd` is ours to close (or to hand to the stream). */
function respond(
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
  file: string,
  opened: OpenedFile<FileFacts>,
  blockSize: number,
  cache: ContentCache | null,
): void {
  const { fd, size, facts } = opened;
  if (res.headersSent) {
    closeDescriptor(fd);
    return next(headersAlreadySent(file));
  }
  const span = decide(req, res, size, facts);
  const length = span === null ? 0 : span.end - span.start + 1;
  if (span === null || req.method === 'HEAD' || length === 0) {
    closeDescriptor(fd);
    if (span !== null) {
      writeHead(res, facts, span, size);
      res.end();
    }
    return;
  }
  if (cache !== null && cache.fits(size)) {
    // Small enough to keep: read it whole (whatever the range), keep it, send the span.
    readWhole(fd, size, (error, body) => {
      let after: fs.Stats | undefined;
      try {
        // The file's identity after the read: if a write came in between, the bytes are not kept.
        if (error === null) after = fs.fstatSync(fd);
      } catch (statError) {
        error = statError as Error;
      }
      closeDescriptor(fd);
      if (error !== null) return next(readError(file, error));
      cache.set(opened.real, opened.stats, after!, body);
      writeHead(res, facts, span, size);
      res.end(span.partial ? body.subarray(span.start, span.end + 1) : body);
    });
    return;
  }
  if (length <= blockSize) {
    // One block: one read and one write, no stream to set up (most ranges).
    readWhole(fd, length, (error, buffer) => {
      closeDescriptor(fd);
      if (error !== null) return next(readError(file, error));
      writeHead(res, facts, span, size);
      res.end(buffer);
    }, span.start);
    return;
  }
  writeHead(res, facts, span, size);
  // The stream owns the descriptor from here (autoClose): it closes it on end, error or destroy.
  const stream = fs.createReadStream(file, { fd, start: span.start, end: span.end, highWaterMark: blockSize, autoClose: true });
  // A plain pipe, with its two cleanups written out: `stream/promises` `pipeline` costs a promise,
  // an AbortSignal and a DOMException per request (seen in a --cpu-prof of bench/static.ts).
  stream.on('error', (error) => {
    // The headers are out: all that is left is to cut the response short, so the client sees a
    // truncated body rather than a complete-looking one, and to report the failure.
    res.destroy(error);
    next(readError(file, error));
  });
  // The client went away (or the response ended): close the file now, not at garbage collection.
  res.once('close', () => stream.destroy());
  stream.pipe(res);
}

/** Reads `length` bytes at `position` (looping over short reads); a file that shrank is an error. */
function readWhole(fd: number, length: number, done: (error: Error | null, buffer: Buffer) => void, position = 0): void {
  const buffer = Buffer.allocUnsafe(length);
  let filled = 0;
  const step = (error: Error | null, bytesRead: number): void => {
    if (error !== null) return done(error, buffer);
    filled += bytesRead;
    if (filled === length) return done(null, buffer);
    if (bytesRead === 0) return done(new Error(`the file shrank while being read (${filled} of ${length} bytes)`), buffer);
    fs.read(fd, buffer, filled, length - filled, position + filled, step);
  };
  fs.read(fd, buffer, 0, length, position, step);
}

function readError(file: string, cause: Error): StoreError {
  return new StoreError('ERR_STORE_UNAVAILABLE', `Reading ${file} failed: ${cause.message}`, { cause, data: { path: file } });
}

function endWithoutBody(res: ServerResponse, status: number, headers: HeaderList): null {
  res.statusCode = status;
  for (const [name, value] of headers) res.setHeader(name, value);
  if (status !== 304) res.setHeader('Content-Length', '0');
  res.end();
  return null;
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

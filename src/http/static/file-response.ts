/**
 * Answering a request with one verified file: the decisions before any byte (412, 304, If-Range,
 * 416), then the headers and the body, from the content cache's bytes or from an open descriptor
 * (one read for a small span, a stream for the rest). `static-server.ts` finds the file.
 */
import fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import mime from 'mime-types';
import { StoreError } from '../../errors.js';
import { decideRange, notModified, preconditionFailed, type Validators } from './conditional.js';
import type { ContentCache } from './content-cache.js';
import { closeDescriptor, type OpenedFile } from './file-opener.js';

/** What a middleware calls to pass the request on (with an error: to the app's error handler). */
export type NextFunction = (error?: unknown) => void;

/**
 * Document types a browser would run script in. They get a Content-Security-Policy that forbids
 * script, so an uploaded SVG (or anything else) served from the app's origin cannot attack it.
 */
const SCRIPTABLE_TYPES = new Set([
  'image/svg+xml',
  'text/html',
  'application/xhtml+xml',
  'text/xml',
  'application/xml',
]);
const NO_SCRIPT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

export type HeaderList = ReadonlyArray<readonly [string, string]>;

/** Per-file facts, computed once per file identity and kept by the FileOpener (`file-opener.ts`). */
export interface FileFacts extends Validators {
  /** Headers of a 200 or 206: type, validators, caching, ranges, nosniff (and CSP for documents). */
  readonly headers: HeaderList;
  /** Headers of a 304: validators and Cache-Control. */
  readonly notModifiedHeaders: HeaderList;
  /** Headers of a 412 or 416: the validators. */
  readonly validatorHeaders: HeaderList;
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
    return endWithoutBody(res, 416, [
      ...facts.validatorHeaders,
      ['Accept-Ranges', 'bytes'],
      ['Content-Range', `bytes */${size}`],
    ]);
  }
  return range.kind === 'partial'
    ? { partial: true, start: range.start, end: range.end }
    : { partial: false, start: 0, end: size - 1 };
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
export function respondFromMemory(
  req: IncomingMessage,
  res: ServerResponse,
  next: NextFunction,
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
export function respond(
  req: IncomingMessage,
  res: ServerResponse,
  next: NextFunction,
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
    readWhole(
      fd,
      length,
      (error, buffer) => {
        closeDescriptor(fd);
        if (error !== null) return next(readError(file, error));
        writeHead(res, facts, span, size);
        res.end(buffer);
      },
      span.start,
    );
    return;
  }
  writeHead(res, facts, span, size);
  // The stream owns the descriptor from here (autoClose): it closes it on end, error or destroy.
  const stream = fs.createReadStream(file, {
    fd,
    start: span.start,
    end: span.end,
    highWaterMark: blockSize,
    autoClose: true,
  });
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
function readWhole(
  fd: number,
  length: number,
  done: (error: Error | null, buffer: Buffer) => void,
  position = 0,
): void {
  const buffer = Buffer.allocUnsafe(length);
  let filled = 0;
  const step = (error: Error | null, bytesRead: number): void => {
    if (error !== null) return done(error, buffer);
    filled += bytesRead;
    if (filled === length) return done(null, buffer);
    if (bytesRead === 0)
      return done(new Error(`the file shrank while being read (${filled} of ${length} bytes)`), buffer);
    fs.read(fd, buffer, filled, length - filled, position + filled, step);
  };
  fs.read(fd, buffer, 0, length, position, step);
}

function readError(file: string, cause: Error): StoreError {
  return new StoreError('ERR_STORE_UNAVAILABLE', `Reading ${file} failed: ${cause.message}`, {
    cause,
    data: { path: file },
  });
}

function endWithoutBody(res: ServerResponse, status: number, headers: HeaderList): null {
  res.statusCode = status;
  for (const [name, value] of headers) res.setHeader(name, value);
  if (status !== 304) res.setHeader('Content-Length', '0');
  res.end();
  return null;
}

/**
 * A strong entity tag: `"<size>-<mtime ms>-<inode>-<ctime µs>"` (hex). Size and mtime alone stay
 * the same when a file is replaced by same-size bytes with its mtime kept (`cp -p`, `rsync -t`, a
 * restore), which would answer 304 or a 206 of the new bytes to a client holding the old ones;
 * the inode changes with a replacement by rename, and ctime with any write, rename or `utimes`.
 * The cost: a tag also changes when only the metadata does (`chmod`), and differs between servers
 * holding copies of one file: a full answer where a 304 would have done.
 */
export function strongTag(stats: fs.Stats): string {
  const hex = (value: number) => Math.floor(value).toString(16);
  return `"${hex(stats.size)}-${hex(stats.mtimeMs)}-${hex(stats.ino)}-${hex(stats.ctimeMs * 1000)}"`;
}

export function describeFile(file: string, stats: fs.Stats, cacheControl: string): FileFacts {
  const contentType = mime.contentType(path.extname(file)) || 'application/octet-stream';
  const tag = strongTag(stats);
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

/**
 * `imageErrors()`: an Express error handler that answers the library's client errors (a refused
 * upload, a missing image) with their status and a plain message, and passes everything else on.
 *
 * Express's own final handler is no fit for uploads: it reads a refused body to its end before
 * answering (seconds for a large file on a slow link) and, outside production, prints the stack
 * with absolute paths. This one answers at once, closes a connection whose body was not read to
 * the end, and says only what the client needs.
 */
import { STATUS_CODES } from 'node:http';
import type { ErrorRequestHandler, NextFunction, Request, Response } from 'express';
import { ImageAttachError, type ImageAttachErrorCode } from '../errors.js';
import * as check from '../util/check.js';

export interface ImageErrorsOptions {
  /**
   * Called with each error the handler answers, before the answer is sent: to log or count
   * refusals. Default: none (a refused upload is the client's mistake, not the server's).
   */
  onError?: (error: ImageAttachError, req: Request) => void;
}

/**
 * Codes whose messages speak of the request's own input (the upload, its size, its type) and
 * name no file or store key: their message is the answer. Any other client error is answered
 * with its status's reason phrase only (a 404's message names the store's key).
 */
const TOLD_CODES = new Set<ImageAttachErrorCode>([
  'ERR_INVALID_ARGUMENT',
  'ERR_IMAGE_EMPTY',
  'ERR_IMAGE_TRUNCATED',
  'ERR_IMAGE_UNSUPPORTED_TYPE',
  'ERR_IMAGE_TOO_LARGE',
  'ERR_IMAGE_TOO_MANY_PIXELS',
  'ERR_IMAGE_TOO_MANY_FRAMES',
  'ERR_IMAGE_TOO_MANY_SEGMENTS',
  'ERR_IMAGE_MALFORMED',
  'ERR_IMAGE_UNREADABLE',
  'ERR_UNKNOWN_MIMETYPE',
  'ERR_UPLOAD_NOT_MULTIPART',
  'ERR_UPLOAD_NO_FILE',
  'ERR_UPLOAD_UNEXPECTED_FILE',
  'ERR_UPLOAD_MALFORMED',
  'ERR_UPLOAD_ABORTED',
  'ERR_UPLOAD_LIMIT',
  'ERR_UPLOAD_TIMEOUT',
  'ERR_UPLOAD_TOKEN_INVALID',
  'ERR_UPLOAD_EXPIRED',
  'ERR_UPLOAD_ALREADY_RECEIVED',
  'ERR_UPLOAD_LENGTH_REQUIRED',
  'ERR_UPLOAD_MISMATCH',
]);

/**
 * How long a connection whose body was not read stays open after the answer: closing a socket
 * with unread bytes makes the kernel send a reset, and a client still sending would lose the
 * answer it was about to read. Reading nothing more meanwhile, as nginx's lingering close does.
 */
const LINGER_MS = 1000;

/**
 * An Express error handler (`app.use(imageErrors())`, after the routes) for the library's errors.
 *
 * - An {@link ImageAttachError} with a 4xx `statusCode` is answered with that status and
 *   `{ "error": { "code", "message" } }` when the client prefers JSON (`Accept`), else the
 *   message as `text/plain`. The message is the error's own for upload and image refusals, the
 *   status's reason phrase for the rest (`Not Found`): never a stack, a path or a store key.
 * - When the request's body was not read to its end (an upload refused early for its size, a
 *   stalled client), the answer carries `Connection: close`, nothing more of the body is read,
 *   and the socket is destroyed shortly after the answer is out.
 * - Every other error (5xx library errors included: they are the server's to log) goes on with
 *   `next(err)`, as does any error once the response has begun.
 *
 * Works on Express 4 and 5 (and Connect, given `req.accepts`: without it the answer is text).
 *
 * @param options.onError called with each error answered (for logs); default none
 * @throws InvalidArgumentError at once, for a bad option
 * @example
 * app.post('/users/:id/picture', imageUpload({ field: 'picture' }), attachPicture);
 * app.use(imageErrors());
 */
export function imageErrors(options: ImageErrorsOptions = {}): ErrorRequestHandler {
  check.object(options, 'options');
  const { onError } = options;
  if (onError !== undefined) check.func(onError, 'options.onError');

  return function imageErrorsHandler(error: unknown, req: Request, res: Response, next: NextFunction): void {
    if (!(error instanceof ImageAttachError) || error.statusCode < 400 || error.statusCode > 499 || res.headersSent) {
      return next(error);
    }
    onError?.(error, req);
    const message = TOLD_CODES.has(error.code) ? error.message : (STATUS_CODES[error.statusCode] ?? 'Error');
    const json = typeof req.accepts === 'function' && req.accepts(['text', 'json']) === 'json';
    const body = json ? JSON.stringify({ error: { code: error.code, message } }) : `${message}\n`;
    if (!req.complete) closeAfterAnswer(req, res);
    res.statusCode = error.statusCode;
    res.setHeader('Content-Type', json ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}

/** Reads no more of the body, and closes the connection once the answer is out (after a linger). */
function closeAfterAnswer(req: Request, res: Response): void {
  req.unpipe();
  req.pause();
  res.setHeader('Connection', 'close');
  res.once('finish', () => {
    const socket = req.socket;
    if (socket.destroyed) return;
    // Node destroys a `Connection: close` socket as soon as its FIN is out: wait instead.
    socket.removeListener('finish', socket.destroy);
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  });
}

/**
 * `directUploadEndpoint(store)`: where browsers PUT direct uploads for a filesystem store, at
 * the URLs its `directUploads.presign()` signs (`<endpoint>/<id>?size&type&expires&signature`).
 *
 * Every refusal comes before a byte of the body is read: a forged or tampered URL (403), an
 * expired one (410), a chunked body or none (411), a `Content-Length` over the signed size (413,
 * through the upload guard, which also times out a stalled or crawling body with 408), one under
 * it or another `Content-Type` (400), and a second upload of one id (409). The body is written to
 * `<root>/.uploads/<id>.part`, then linked as `<id>`: a folder that `serveStore()` never serves.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { PassThrough } from 'node:stream';
import { type ImageAttachError, InvalidArgumentError, UploadError } from '../errors.js';
import { FileSystemStoreBase } from '../stores/fs.js';
import type { FileSystemDirectUploads, UploadUrlQuery } from '../stores/fs-direct-uploads.js';
import * as check from '../util/check.js';
import { UploadGuard } from './upload-guard.js';

export interface DirectUploadEndpointOptions {
  /** Milliseconds without a byte before the upload fails with 408. Default 20000. */
  idleTimeout?: number;
  /** After `idleTimeout`, the least average bytes per second before the upload fails with 408. Default 1024. */
  minBytesPerSecond?: number;
}

/**
 * Express/Connect middleware answering `PUT <endpoint>/<id>` for `store` (a filesystem store
 * made with `directUploads`); other requests pass to `next()`. Refusals go to `next(err)`:
 * mount `imageErrors()` to answer them. A stored upload is answered `204`.
 * @throws InvalidArgumentError for a store without filesystem `directUploads`, or a bad option
 * @example
 * const store = new HttpExposedFileSystemStore({ path, directUploads: { secrets, endpoint: '/uploads/direct' } });
 * app.use(directUploadEndpoint(store));
 */
export function directUploadEndpoint(
  store: FileSystemStoreBase,
  options: DirectUploadEndpointOptions = {},
): RequestHandler {
  check.instanceOf(store, FileSystemStoreBase, 'store', 'a filesystem store (S3 stores take uploads themselves)');
  const uploads = store.directUploads;
  if (uploads === undefined) {
    throw new InvalidArgumentError('store', 'a filesystem store made with the directUploads option', store);
  }
  const { idleTimeout = 20_000, minBytesPerSecond = 1024 } = options;
  check.positiveInteger(idleTimeout, 'options.idleTimeout', 'milliseconds');
  check.numberAtLeast(minBytesPerSecond, 0, 'options.minBytesPerSecond');
  // The endpoint's path, whether it was given as a path or an absolute URL.
  const base = new URL(uploads.endpoint, 'http://localhost').pathname;
  const pattern = new RegExp(`^${escapeRegExp(base)}/([0-9a-f]{32})$`);

  return function directUploadMiddleware(req: Request, res: Response, next: NextFunction): void {
    const pathname = (req.originalUrl ?? req.url ?? '').split('?')[0]!;
    const match = pattern.exec(pathname);
    if (match === null) return next();
    if (req.method !== 'PUT') {
      res.setHeader('Allow', 'PUT');
      return next(
        new UploadError('ERR_UPLOAD_MALFORMED', `Expected a PUT of the file but received a ${req.method}`, {
          statusCode: 405,
        }),
      );
    }
    const refusal = checkRequest(uploads, match[1]!, req);
    if (refusal instanceof Error) return next(refusal);
    receive(uploads, match[1]!, refusal.size, req, res, next, { idleTimeout, minBytesPerSecond });
  };
}

/** The signed size of the upload, or why the request is refused (nothing read yet). */
function checkRequest(uploads: FileSystemDirectUploads, id: string, req: Request): { size: number } | ImageAttachError {
  const query = new URL(req.originalUrl ?? req.url ?? '', 'http://localhost').searchParams;
  const signed: UploadUrlQuery = {
    size: Number(query.get('size')),
    type: query.get('type') ?? '',
    expires: Number(query.get('expires')),
    signature: query.get('signature') ?? '',
  };
  if (!Number.isSafeInteger(signed.size) || !Number.isSafeInteger(signed.expires)) return forged();
  const verdict = uploads.checkUploadUrl(id, signed);
  if (verdict === 'forged') return forged();
  if (verdict === 'expired') {
    return new UploadError(
      'ERR_UPLOAD_EXPIRED',
      `The upload URL expired at ${new Date(signed.expires * 1000).toISOString()}`,
      {
        statusCode: 410,
        data: { id },
      },
    );
  }
  const declared = req.headers['content-length'];
  if (req.headers['transfer-encoding'] !== undefined || declared === undefined) {
    return new UploadError('ERR_UPLOAD_LENGTH_REQUIRED', 'Expected the upload with a Content-Length (not chunked)', {
      statusCode: 411,
      data: { id },
    });
  }
  const length = Number(declared);
  // Over the signed size is the upload guard's 413, answered before reading as any oversized body.
  if (length < signed.size) return mismatch(id, 'Content-Length', signed.size, length);
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== signed.type) return mismatch(id, 'Content-Type', signed.type, type);
  return { size: signed.size };
}

function receive(
  uploads: FileSystemDirectUploads,
  id: string,
  size: number,
  req: Request,
  res: Response,
  next: NextFunction,
  timing: { idleTimeout: number; minBytesPerSecond: number },
): void {
  const guard = new UploadGuard(
    req,
    res,
    { maxBodyBytes: size, maxFileBytes: size, maxFiles: 1, formAllowance: 0, ...timing },
    (error) => next(error),
  );
  if (!guard.start()) return;
  const body = new PassThrough();
  // A client gone before the end: the write fails (and its .part is removed) instead of waiting.
  req.once('close', () => {
    if (!req.complete)
      body.destroy(
        new UploadError('ERR_UPLOAD_ABORTED', 'The client closed the upload before its end', { statusCode: 400 }),
      );
  });
  guard.feed(req, body);
  uploads.receive(id, body, size).then(
    () => {
      guard.stop();
      if (guard.hasFailed) return;
      res.setHeader('Cache-Control', 'no-store');
      res.status(204).end();
    },
    (error: unknown) => {
      guard.stop();
      // The guard has answered already (its error ended the write).
      if (guard.hasFailed) return;
      next(error);
    },
  );
}

function forged(): UploadError {
  return new UploadError('ERR_UPLOAD_TOKEN_INVALID', 'The upload URL is not one this app signed (or was altered)', {
    statusCode: 403,
  });
}

function mismatch(id: string, header: string, expected: number | string, received: number | string): UploadError {
  return new UploadError(
    'ERR_UPLOAD_MISMATCH',
    `Expected ${header} ${JSON.stringify(expected)} as the upload URL signs it but received ${JSON.stringify(received)}`,
    { statusCode: 400, data: { id, header, expected, received } },
  );
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * `presignRoute()`: the Express handler of a direct upload's first step. The app mounts it behind
 * its own auth and says, per request, which image set the upload is for and who asks; the body
 * is a small JSON object `{ size, type }` (the browser's `file.size` and `file.type`); the answer
 * is `presignUpload()`'s, as JSON.
 */
import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { type ImageSet, presignUpload } from '../entity/index.js';
import { InvalidArgumentError, UploadError } from '../errors.js';
import type { Store } from '../stores/store.js';
import * as check from '../util/check.js';

export interface PresignRouteOptions {
  /** The image set the upload is for, from the request (after your auth ran): `imageSet(req.user, 'picture')`. */
  imageSet: (req: Request) => ImageSet | Promise<ImageSet>;
  /** Who may claim the upload, from the request: your user's id as text. Default: none (any holder of the token). */
  principal?: (req: Request) => string | null | undefined;
  /** What the upload is for (the claim names the same). Default `<owner table>.<relation>`. */
  purpose?: string;
  /** Seconds until the upload and its claim expire. Default 600. */
  expiresIn?: number;
  /** The store the bytes go to. Default: the current store (`storeContext()`). */
  store?: Store;
}

/** The most bytes of a presign request's body: `{ size, type }` takes a few dozen. */
const MAX_BODY_BYTES = 4096;

/**
 * An Express handler: `POST` `{ size, type }` → `200` `{ id, token, expiresAt, upload }`. A
 * declared size or type the relation refuses goes to `next(err)` (413, 415), as does a body that
 * is no such JSON object (400); mount `imageErrors()` after it to answer them as JSON.
 * @throws InvalidArgumentError for bad options
 * @example
 * app.post('/uploads/presign', requireLogin, express.json(), presignRoute({
 *   imageSet: (req) => imageSet(req.user, 'picture'),
 *   principal: (req) => String(req.user.id),
 * }));
 */
export function presignRoute(options: PresignRouteOptions): RequestHandler {
  check.object(options, 'options', 'an options object ({ imageSet })');
  check.func(options.imageSet, 'options.imageSet', 'a function (req) => imageSet(owner, relation)');
  if (options.principal !== undefined) check.func(options.principal, 'options.principal', 'a function (req) => string');
  const { purpose, expiresIn, store } = options;
  return async function presignUploadRoute(req: Request, res: Response, next: NextFunction): Promise<void> {
    try {
      const body = await jsonBody(req);
      const set = await options.imageSet(req);
      const principal = options.principal?.(req) ?? null;
      const answer = await presignUpload(set, {
        size: body.size as number,
        type: body.type as string,
        principal,
        purpose,
        expiresIn,
        store,
      });
      res.setHeader('Cache-Control', 'no-store');
      res.status(200).json(answer);
    } catch (error) {
      next(error);
    }
  };
}

/** The request's JSON object: `req.body` when a body parser ran, else read here (4 KB at most). */
async function jsonBody(req: Request): Promise<Record<string, unknown>> {
  let body: unknown = req.body;
  if (body === undefined || (Buffer.isBuffer(body) && body.length === 0)) body = await readSmallBody(req);
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    try {
      body = JSON.parse(body.toString());
    } catch {
      // Not JSON: refused below, as any other body that is no object.
      body = undefined;
    }
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new InvalidArgumentError('body', 'a JSON object { size, type }', body);
  }
  return body as Record<string, unknown>;
}

async function readSmallBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > MAX_BODY_BYTES) {
      throw new UploadError('ERR_UPLOAD_LIMIT', `Expected a presign request of at most ${MAX_BODY_BYTES} bytes`, {
        statusCode: 413,
        data: { maxBytes: MAX_BODY_BYTES },
      });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * `imageUpload()`: middleware (Express, Connect or `http`) that receives images from a
 * `multipart/form-data` form, safely, and hands the route checked temp files to attach.
 *
 * Safely means: bytes stream to a temp file under a byte cap (never into memory); the type is read
 * from the bytes, not from the client's filename or header; the pixel limit is checked from the
 * header before anything is decoded; and the temp file is removed on every path (after the
 * response on success; at once on a rejection, an error, or a client that goes away).
 */
import { tmpdir } from 'node:os';
import type { IncomingMessage, ServerResponse } from 'node:http';
import multer, { MulterError } from 'multer';
import { InvalidArgumentError, InvalidImageError, UploadError } from '../errors.js';
import * as check from '../util/check.js';
import { type ImageLimits, resolveLimits, tooLarge } from '../imaging/probe.js';
import { removeIfPresent } from '../util/temp-files.js';
import { guardOf, UploadGuard, type UploadBodyLimits } from './upload-guard.js';
import { ImageStorage, type RejectedImage, type StoredPart } from './upload-storage.js';

export interface ImageUploadOptions extends Partial<ImageLimits> {
  /** The form field that carries the file (`<input type="file" name="picture">`). */
  field: string;
  /**
   * The most files the field may carry (`<input type="file" multiple>`). Given, the route gets
   * `req.files` (the accepted files, in the form's order) instead of `req.file`, and more files
   * than this is a 400 (`ERR_UPLOAD_UNEXPECTED_FILE`). Each file is checked like a single one,
   * under `maxBytes` each; the body may carry `maxCount` × `maxBytes` plus the form's allowance.
   * Omitted: one file, in `req.file`.
   */
  maxCount?: number;
  /**
   * With `maxCount`: whether one refused file refuses the whole request. Default `false`: a
   * refused file is set aside in `req.rejectedImages` (its error and name) and the route gets the
   * others; only when none is accepted does the first refusal go to `next(err)`. `true`: the
   * first refused file's error goes to `next(err)`, and every file of the request is removed.
   */
  allOrNothing?: boolean;
  /** Where temp files go while a request is handled. Default: the OS temp folder. */
  tempDir?: string;
  /**
   * Whether the middleware decodes the image (at a small size) to prove it whole before the route
   * runs. Default `true`. Set `false` only when the route attaches with thumbnails
   * (`fromFile(file.path, { probed: file.probed, thumbnails })`), which decodes the whole image
   * itself: the check then costs no decode of its own. The header checks (type, size, pixels)
   * still run here; a truncated file then fails the attach, with the same `ERR_IMAGE_TRUNCATED`.
   * (`req.file.probed.decoded` is `false`, so an attach without thumbnails still decodes it once.)
   */
  verifyDecode?: boolean;
  /**
   * Milliseconds the body may go without a byte before the upload fails with 408
   * (`ERR_UPLOAD_TIMEOUT`) and its temp file is removed. Default 20000. A client that stalls
   * otherwise holds a socket and a temp file for as long as it likes.
   */
  idleTimeout?: number;
  /**
   * The least average speed, in bytes per second, once `idleTimeout` has passed since the body
   * began; a slower upload fails with 408 (`ERR_UPLOAD_TIMEOUT`). Default 1024 (a phone on a
   * poor link sends far more); 0 turns it off. It stops a client trickling a byte at a time,
   * which no idle timeout sees.
   */
  minBytesPerSecond?: number;
}

/** The text fields a form may send alongside the files, and the most bytes each may have. */
const FORM_LIMITS = { fields: 100, fieldSize: 64 * 1024, fieldNameSize: 200 };
/**
 * The most bytes a body may carry beyond its files: the text fields, every part's headers and
 * the boundaries, together. A form of a few fields needs a few KB; a field is 64 KB at most.
 */
const FORM_ALLOWANCE = 1024 * 1024;

/**
 * Middleware for a route that receives an image in the multipart field `field` (or, with
 * `maxCount`, several). After it, `req.file` is an {@link UploadedImage}: a temp file whose type,
 * width and height were read from its bytes; attach it with `fromFile`. With `maxCount`,
 * `req.files` holds them (see {@link ImageUploadOptions.maxCount}, {@link ImageUploadOptions.allOrNothing}).
 * Rejections go to `next(err)` (so the app's error handler decides the page) with `statusCode`
 * and `code`: an {@link InvalidImageError} for the image, an {@link UploadError} for the request
 * (`ERR_UPLOAD_*`):
 *
 * | status | code | why |
 * |---|---|---|
 * | 400 | `ERR_UPLOAD_NO_FILE` | the field is missing or holds no file |
 * | 400 | `ERR_UPLOAD_UNEXPECTED_FILE` | a file in another field, or more files than `maxCount` (default one) |
 * | 400 | `ERR_UPLOAD_MALFORMED` | the multipart body is malformed or ends early, or a part's headers pass 16 KB |
 * | 400 | `ERR_UPLOAD_ABORTED` | the client went away mid-upload (no one reads this answer) |
 * | 400 | `ERR_IMAGE_EMPTY`, `ERR_IMAGE_TRUNCATED`, `ERR_IMAGE_UNREADABLE` | the bytes are no whole image |
 * | 408 | `ERR_UPLOAD_TIMEOUT` | the body stalled for `idleTimeout`, or came slower than `minBytesPerSecond` |
 * | 413 | `ERR_IMAGE_TOO_LARGE`, `ERR_IMAGE_TOO_MANY_PIXELS`, `ERR_IMAGE_TOO_MANY_FRAMES` | over `maxBytes` / `maxPixels` / `maxAnimationPixelsPerByte` |
 * | 413 | `ERR_UPLOAD_LIMIT` | too many form fields or parts, or a field too long |
 * | 415 | `ERR_IMAGE_UNSUPPORTED_TYPE` | not one of `types` |
 * | 415 | `ERR_UPLOAD_NOT_MULTIPART` | the request is not `multipart/form-data` |
 *
 * A body over the limit (`maxBytes` per file, plus 1 MB for the rest of the form: a declared
 * `Content-Length`, or a chunked body as it arrives), a stalled or too slow one, is refused as
 * soon as that is known: the middleware stops reading, and the response closes the connection,
 * so the rest is never read. (Express's built-in final handler reads the whole body before
 * answering an error: give the app an error handler of its own.)
 *
 * The temp files are removed once the response has been sent (if the client hangs up first, once
 * the route ends the response), so the route must be done with them by then: attach, then answer.
 * The middleware needs no Express: it runs on a bare `http` server or Connect (`req`, `res`, `next`).
 *
 * @param options.field the file's form field (required)
 * @param options.maxCount the most files (default: one, in `req.file`); options.allOrNothing, see {@link ImageUploadOptions}
 * @param options.maxBytes the most bytes per file (default 50 MiB); options.maxPixels, options.types as for attaching
 * @param options.tempDir the temp folder (default `os.tmpdir()`)
 * @param options.verifyDecode decode to prove the file whole here (default `true`; see {@link ImageUploadOptions.verifyDecode})
 * @param options.idleTimeout, options.minBytesPerSecond when a slow body fails with 408 (default 20000 ms, 1024 B/s)
 * @throws InvalidArgumentError at once, for a bad option
 * @example
 * app.post('/users/:id/picture', imageUpload({ field: 'picture', maxBytes: 10_000_000 }), async (req, res) => {
 *   const file = req.file!;
 *   await imageSet(user, 'picture').fromFile(file.path, { probed: file.probed });
 *   res.redirect(303, `/users/${user.id}`);
 * });
 */
export function imageUpload(options: ImageUploadOptions): UploadMiddleware {
  check.object(options, 'options', 'an object with a field');
  const { field, tempDir = tmpdir(), verifyDecode = true, maxCount, allOrNothing = false } = options;
  if (typeof field !== 'string' || field === '' || field.length > FORM_LIMITS.fieldNameSize) {
    throw new InvalidArgumentError('options.field', 'the name of a form field (a non-empty string)', field);
  }
  check.folderPath(tempDir, 'options.tempDir');
  check.boolean(verifyDecode, 'options.verifyDecode');
  if (maxCount !== undefined) check.integerIn(maxCount, 1, 1000, 'options.maxCount');
  check.boolean(allOrNothing, 'options.allOrNothing');
  const { idleTimeout = 20_000, minBytesPerSecond = 1024 } = options;
  check.positiveInteger(idleTimeout, 'options.idleTimeout', 'milliseconds');
  check.numberAtLeast(minBytesPerSecond, 0, 'options.minBytesPerSecond');
  const { maxBytes, maxPixels, types, maxAnimationPixelsPerByte } = options;
  const limits = resolveLimits({ maxBytes, maxPixels, types, maxAnimationPixelsPerByte });
  const several = maxCount !== undefined;
  const files = maxCount ?? 1;
  // A refused file is set aside rather than failing the request: only with several, unless asked.
  const setAside = several && !allOrNothing;
  const bodyLimits: UploadBodyLimits = {
    maxBodyBytes: files * limits.maxBytes + FORM_ALLOWANCE,
    maxFileBytes: limits.maxBytes,
    maxFiles: files,
    formAllowance: FORM_ALLOWANCE,
    idleTimeout,
    minBytesPerSecond,
  };
  const multerOptions = {
    storage: new ImageStorage({ dir: tempDir, limits, verifyDecode, setAside }),
    // busboy stops feeding a file at the cap too, so an oversized part is cut short twice over
    // (not when files are set aside: busboy's cap fails the whole request; the storage's drops the file).
    limits: {
      ...FORM_LIMITS,
      parts: FORM_LIMITS.fields + files,
      files,
      ...(setAside ? {} : { fileSize: limits.maxBytes }),
    },
    // Every chunk passes the request's guard on its way to busboy (see upload-guard.ts).
    streamHandler: (req: IncomingMessage, busboy: NodeJS.WritableStream) => guardOf(req)!.feed(req, busboy as never),
  } as multer.Options;
  const receive = several ? multer(multerOptions).array(field, files) : multer(multerOptions).single(field);

  return function imageUploadMiddleware(
    req: IncomingMessage,
    res: ServerResponse,
    next: (error?: unknown) => void,
  ): void {
    if (!/^multipart\/form-data\s*(;|$)/i.test(req.headers['content-type'] ?? '')) {
      return next(
        new UploadError(
          'ERR_UPLOAD_NOT_MULTIPART',
          `Expected a multipart/form-data request with a file in field "${field}"`,
          {
            statusCode: 415,
            data: { field, contentType: req.headers['content-type'] },
          },
        ),
      );
    }
    const guard = new UploadGuard(req, res, bodyLimits, (error) => next(error));
    if (!guard.start()) return;
    const received = req as IncomingMessage & {
      file?: StoredPart;
      files?: StoredPart[];
      rejectedImages?: RejectedImage[];
    };
    receive(req as never, res as never, (error?: unknown) => {
      guard.stop();
      const all = several ? (received.files ?? []) : received.file === undefined ? [] : [received.file];
      const paths = all.flatMap((file) => (file.path ? [file.path] : []));
      if (paths.length > 0) removeWhenDone(res, paths);
      // The guard has answered already (and multer ended once the connection closed).
      if (guard.hasFailed) return;
      if (error !== undefined && error !== null) return next(uploadError(error, field, files, limits));
      if (all.length === 0) {
        return next(
          new UploadError('ERR_UPLOAD_NO_FILE', `Expected an image file in field "${field}" but the form has none`, {
            statusCode: 400,
            data: { field },
          }),
        );
      }
      if (!several) return next();
      const rejected = rejectedOf(all);
      received.files = all.filter((file) => file.rejection === undefined);
      received.rejectedImages = rejected;
      if (received.files.length === 0) return next(rejected[0]!.error);
      next();
    });
  };
}

/** The middleware `imageUpload()` returns: plain Node `(req, res, next)`, for Express, Connect or `http`. */
export type UploadMiddleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/** The files the storage set aside, with their place in the form. */
function rejectedOf(files: readonly StoredPart[]): RejectedImage[] {
  return files.flatMap((file, index) =>
    file.rejection === undefined
      ? []
      : [{ index, originalname: file.originalname, clientMimetype: file.clientMimetype, error: file.rejection }],
  );
}

/**
 * Removes the temp file once the response is over: when its last byte is sent, or, when the
 * client goes away first, once the route has ended the response: the route may still be reading
 * the file then (attaching a complete upload whose client did not wait for the answer).
 */
function removeWhenDone(res: ServerResponse, files: readonly string[]): void {
  let removed = false;
  const remove = () => {
    if (removed) return;
    removed = true;
    for (const file of files) {
      removeIfPresent(file).catch((error: Error) => {
        // No caller is left to tell: warn, as an orphan temp file is a leak worth seeing.
        process.emitWarning(`objection-imageattach: could not remove the upload temp file ${file}: ${error.message}`);
      });
    }
  };
  const onClose = () => {
    if (res.writableEnded) return remove();
    // A closed response emits no 'finish': wrap this response's end() to learn when the route is done.
    const end = res.end;
    res.end = function endAndRemove(this: ServerResponse, ...args: unknown[]) {
      remove();
      return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
    } as ServerResponse['end'];
  };
  if (res.closed) onClose();
  else res.once('close', onClose);
}

/** multer's and busboy's errors, and the client's abort, as our typed errors. */
function uploadError(error: unknown, field: string, maxFiles: number, limits: ImageLimits): unknown {
  if (error instanceof MulterError) {
    const data = { field: error.field ?? field, multerCode: error.code };
    switch (error.code) {
      case 'LIMIT_FILE_SIZE':
        return tooLarge(undefined, limits.maxBytes);
      case 'LIMIT_UNEXPECTED_FILE':
      case 'LIMIT_FILE_COUNT':
        return new UploadError(
          'ERR_UPLOAD_UNEXPECTED_FILE',
          `Expected ${maxFiles === 1 ? 'one file' : `at most ${maxFiles} files`}, in field "${field}", but received ${error.field && error.field !== field ? `a file in field "${error.field}"` : `more than ${maxFiles === 1 ? 'one' : maxFiles}`}`,
          { statusCode: 400, cause: error, data },
        );
      case 'LIMIT_PART_COUNT':
      case 'LIMIT_FIELD_COUNT':
      case 'LIMIT_FIELD_KEY':
      case 'LIMIT_FIELD_VALUE':
        return new UploadError('ERR_UPLOAD_LIMIT', `The form is over a limit: ${error.message.toLowerCase()}`, {
          statusCode: 413,
          cause: error,
          data,
        });
      default:
        return new UploadError('ERR_UPLOAD_MALFORMED', `The form is malformed: ${error.message.toLowerCase()}`, {
          statusCode: 400,
          cause: error,
          data,
        });
    }
  }
  if (error instanceof InvalidImageError || error instanceof UploadError || error instanceof InvalidArgumentError)
    return error;
  const message = (error as Error)?.message ?? '';
  if (/^Request (aborted|closed)$/.test(message)) {
    return new UploadError('ERR_UPLOAD_ABORTED', 'The client closed the connection before the upload ended', {
      statusCode: 400,
      cause: error,
    });
  }
  // busboy's parse errors: "Unexpected end of form", "Malformed part header", "Multipart: Boundary not found"…
  if (/unexpected end|malformed|boundary/i.test(message)) {
    return new UploadError('ERR_UPLOAD_MALFORMED', `The form is malformed: ${message}`, {
      statusCode: 400,
      cause: error,
      data: { field },
    });
  }
  // Anything else (a disk error writing the temp file…) is the server's problem: a 500 as it is.
  return error;
}

/**
 * A multer storage engine for images: each file part is streamed to a temp file under a byte cap,
 * then identified from its bytes and checked against the limits before the route ever sees it.
 *
 * The storage engine contract (multer's `StorageEngine`) is two methods:
 *
 * - `_handleFile(req, file, callback)`: consume `file.stream`, then call `callback(error)` or
 *   `callback(null, info)`; multer merges `info` into the `req.file` the route gets.
 * - `_removeFile(req, file, callback)`: undo a stored file (multer calls it when a later part of
 *   the same request fails, or the client goes away after the file was stored).
 *
 * This engine keeps one promise: a temp file exists only while multer, or the route, owns it. On
 * any failure inside `_handleFile` (byte cap, client abort, rejected bytes, disk error) it removes
 * its temp file itself before calling back, since multer only removes files that were handed to
 * it. Files handed over are removed by `_removeFile`, or by `imageUpload()` once the response ends.
 *
 * Memory stays flat whatever the upload's size: bytes go to disk as they come (multer's
 * memoryStorage would hold every upload whole in memory), and the probe reads the file's header,
 * then decodes a 32-pixel preview to prove the file whole (unless `verifyDecode` is off, for a
 * route whose attach renders thumbnails, which decodes the whole image anyway).
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { IncomingMessage } from 'node:http';
import type { StorageEngine } from 'multer';
import { InvalidImageError } from '../errors.js';
import { type ImageLimits, type ProbedImage, probeImage, tooLarge } from '../imaging/probe.js';
import { guardOf } from './upload-guard.js';
import { removeIfPresent, sweepOnce, tempFilePath } from '../util/temp-files.js';

declare global {
  namespace Express {
    namespace Multer {
      /**
       * What `imageUpload()` adds to multer's file (the way `@types/multer` types `req.file`), so
       * a route reads `req.file.probed` with no cast. Only files `imageUpload()` received have them.
       */
      interface File {
        /** The `Content-Type` the client sent for the part; never trusted, kept for logs. */
        clientMimetype: string;
        /** Read from the bytes. */
        width: number;
        height: number;
        /** The probe's result, to pass to `fromFile` so it does not read the file again. */
        probed: ProbedImage;
      }
    }
    interface Request {
      /** After `imageUpload({ maxCount })`: the files refused and set aside, with why (see `allOrNothing`). */
      rejectedImages?: RejectedImage[];
    }
  }
}

/** What `req.file` (or each of `req.files`) holds after `imageUpload()`: multer's file, with what its bytes are. */
export interface UploadedImage extends Express.Multer.File {
  /** The temp file: attach it with `imageSet(...).fromFile(file.path, { probed: file.probed })`. */
  path: string;
  /** The type read from the bytes (the client's claim is in `clientMimetype`). */
  mimetype: string;
  /** The `Content-Type` the client sent for the part; never trusted, kept for logs. */
  clientMimetype: string;
  width: number;
  height: number;
  /** The probe's result, to pass to `fromFile` so it does not read the file again. */
  probed: ProbedImage;
}

/** A file of a several-file upload that was refused and set aside (`req.rejectedImages`). */
export interface RejectedImage {
  /** Its place among the field's files, from 0. */
  index: number;
  /** The name the client gave it (for the message to the person; never a path). */
  originalname: string;
  clientMimetype: string;
  /** Why: `ERR_IMAGE_TOO_LARGE`, `ERR_IMAGE_UNSUPPORTED_TYPE`… with its `statusCode` and `data`. */
  error: InvalidImageError;
}

/** A file as the storage hands it to multer: a set-aside one carries its refusal and no path. */
export type StoredPart = UploadedImage & { rejection?: InvalidImageError };

export interface ImageStorageOptions {
  /** The folder temp files go in (made if missing). */
  dir: string;
  limits: ImageLimits;
  /** Decode a small preview to prove the file whole (default `true`); see `imageUpload()`'s `verifyDecode`. */
  verifyDecode?: boolean;
  /**
   * Whether a refused file is handed to multer as set aside (its `rejection`, no temp file, the
   * rest of its part read and dropped) rather than failing the request. Default `false`.
   */
  setAside?: boolean;
}

/** multer's `StorageEngine` for images; see the file's comment. Used by `imageUpload()`. */
export class ImageStorage implements StorageEngine {
  private ready: Promise<unknown> | undefined;

  constructor(private readonly options: ImageStorageOptions) {}

  _handleFile(
    req: IncomingMessage,
    file: Express.Multer.File,
    callback: (error?: unknown, info?: Partial<StoredPart>) => void,
  ): void {
    this.store(req, file).then(
      (info) => callback(null, info),
      (error: unknown) => callback(error),
    );
  }

  _removeFile(_req: IncomingMessage, file: Express.Multer.File, callback: (error: Error | null) => void): void {
    const target = file.path;
    // Forget the path first: whatever happens next, no one should use the file any more.
    delete (file as Partial<Express.Multer.File>).path;
    if (!target) return callback(null);
    removeIfPresent(target).then(
      () => callback(null),
      (error: Error) => callback(error),
    );
  }

  /** Streams the part to a new temp file under the byte cap, then probes it. */
  private async store(req: IncomingMessage, file: Express.Multer.File): Promise<Partial<StoredPart>> {
    const { dir, limits, setAside = false } = this.options;
    this.ready ??= mkdir(dir, { recursive: true });
    try {
      await this.ready;
    } catch (error) {
      // Let the next upload try again (the folder may be creatable by then).
      this.ready = undefined;
      file.stream.resume();
      throw error;
    }
    // The pid in the name lets a later process sweep the file if this one is killed mid-upload.
    sweepOnce(dir);
    const target = tempFilePath(dir, 'upload');
    const filename = path.basename(target);
    let size = 0;
    const cap = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        if (size <= limits.maxBytes) return done(null, chunk);
        // Set aside: the rest of the part is read (the body's own cap bounds it) and dropped.
        if (setAside) return done();
        // Stop at the first byte over the limit: the rest of the part is never written, and the
        // guard answers now rather than after multer has drained the body.
        const error = tooLarge(undefined, limits.maxBytes);
        guardOf(req)?.fail(error);
        done(error);
      },
    });
    try {
      // 'wx': a fresh file, never one that already exists under that name.
      await pipeline(file.stream, cap, createWriteStream(target, { flags: 'wx' }));
      if (size > limits.maxBytes) throw tooLarge(size, limits.maxBytes);
      const probed = await probeImage(target, size, limits, { decode: this.options.verifyDecode !== false });
      return {
        destination: dir,
        filename,
        path: target,
        size,
        mimetype: probed.mimetype,
        clientMimetype: file.mimetype,
        width: probed.width,
        height: probed.height,
        probed,
      };
    } catch (error) {
      await removeIfPresent(target);
      if (setAside && error instanceof InvalidImageError) {
        return { size, clientMimetype: file.mimetype, rejection: error };
      }
      throw error;
    }
  }
}

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
import type { Request } from 'express';
import type { StorageEngine } from 'multer';
import { type ImageLimits, type ProbedImage, probeImage, tooLarge } from '../imaging/probe.js';
import { guardOf } from './upload-guard.js';
import { removeIfPresent, sweepOnce, tempFilePath } from '../util/temp-files.js';

/** What `req.file` holds after `imageUpload()`: multer's file, with what its bytes are. */
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

export interface ImageStorageOptions {
  /** The folder temp files go in (made if missing). */
  dir: string;
  limits: ImageLimits;
  /** Decode a small preview to prove the file whole (default `true`); see `imageUpload()`'s `verifyDecode`. */
  verifyDecode?: boolean;
}


/** multer's `StorageEngine` for images; see the file's comment. Used by `imageUpload()`. */
export class ImageStorage implements StorageEngine {
  private ready: Promise<unknown> | undefined;

  constructor(private readonly options: ImageStorageOptions) {}

  _handleFile(req: Request, file: Express.Multer.File, callback: (error?: unknown, info?: Partial<UploadedImage>) => void): void {
    this.store(req, file).then(
      (info) => callback(null, info),
      (error: unknown) => callback(error),
    );
  }

  _removeFile(_req: Request, file: Express.Multer.File, callback: (error: Error | null) => void): void {
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
  private async store(req: Request, file: Express.Multer.File): Promise<Partial<UploadedImage>> {
    const { dir, limits } = this.options;
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
      throw error;
    }
  }
}

/**
 * The options of an image set's writing methods.
 */
import type { Knex } from 'knex';
import type { ImageLimits, ProbedImage } from '../imaging/probe.js';
import type { ThumbnailBackground } from '../imaging/background.js';
import type { ThumbnailSpec } from '../imaging/thumbnail-batch.js';
import type { ThumbnailFormat } from '../imaging/thumbnail.js';
import type { StoreOption } from './image.js';

export type { ThumbnailSpec };

export interface WriteOptions extends StoreOption {
  /** The transaction to work in; without one, the set runs its own and waits for its files. */
  trx?: Knex.Transaction;
}

export interface AttachOptions extends WriteOptions, Partial<ImageLimits> {
  /** Where streamed input is spooled while it is checked. Default: the OS temp folder. */
  tempDir?: string;
  /**
   * What an earlier probe of these very bytes found (`req.file.probed` from `imageUpload()`):
   * attach then skips reading the file's header again, and only checks that result against this
   * set's limits. Its `size` must be the file's. A probe that did not decode (`decoded: false`)
   * is completed here: the image is decoded once (by the thumbnails' render, if any) to prove it whole.
   */
  probed?: ProbedImage;
  /**
   * Thumbnails to make with the original, in the same transaction: each exactly one of
   * `{ width }`, `{ height }` or `{ ratio }`, with an optional `format`. They are all rendered from
   * one decode of the input before the transaction starts (that render also proves the file whole,
   * so no separate check decode is made), then the original and every thumbnail are stored
   * together: all of them, or, should anything fail, none. A size equal to the original's is
   * skipped (the original is that image); two of one size are an argument error. Default: none.
   * @example
   * await imageSet(user, 'picture').fromFile(path, { thumbnails: [{ width: 100 }, { width: 800, format: 'webp' }] });
   */
  thumbnails?: readonly ThumbnailSpec[];
  /**
   * Keep the original's metadata (EXIF with its GPS position and camera, XMP, IPTC, comments).
   * Default `false`: JPEG, PNG and WebP originals are stored without it, losslessly (the image
   * data is copied, not re-encoded), keeping only the orientation, since originals are served
   * publicly and a phone's photo tells where it was taken. Other types are stored as they come.
   */
  keepMetadata?: boolean;
}

export interface ThumbnailOptions extends WriteOptions {
  /** The thumbnail's format. Default: the original's (PNG for SVG originals). */
  format?: ThumbnailFormat;
  /**
   * What transparent pixels become when the format has no alpha (JPEG): `'#rrggbb'`, `'#rgb'` or
   * `{ r, g, b }`. Default white. PNG, GIF, WebP and AVIF thumbnails keep their transparency.
   */
  background?: ThumbnailBackground;
  /** The most pixels the original may have to be decoded (default: the attach limit). */
  maxPixels?: number;
}

/** A size to look for: width, height, or both. */
export interface FindSize {
  width?: number;
  height?: number;
}

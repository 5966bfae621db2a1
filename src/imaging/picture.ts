/**
 * The picture an original shows, read from its file: the size its thumbnails are computed from.
 *
 * Rows record an image's size in one of two conventions. SQLAlchemy-ImageAttach records the stored
 * pixel size (ImageMagick's, before EXIF orientation: 640×405 for a photo shown 405×640); this
 * library records the displayed size, which `<img width height>` and its upright thumbnails need.
 * A thumbnail must keep the displayed aspect whichever the row used, so its size is computed from
 * the file's displayed size when the row holds the stored one.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import type { Metadata, Sharp } from 'sharp';
import { decodeFailure } from './probe.js';
import { sharp } from './sharp.js';

/** An original opened for resizing: the sharp input, and the size of the picture it shows. */
export interface OpenedPicture {
  image: Sharp;
  width: number;
  height: number;
  /** Releases the input when it is not used after all (a stream is destroyed). */
  dispose(): void;
}

/**
 * Opens `input` (a local path, or a stream) for a thumbnail in `mimetype`, and reads the size of
 * the picture it shows for a row that says `row` (see {@link pictureSize}). Reading the header
 * costs little for a file; a stream is held in memory by sharp, as its resize would hold it anyway.
 * @throws InvalidImageError when the file cannot be read as an image
 */
export async function openPicture(
  input: Readable | string,
  row: { width: number; height: number },
  mimetype: string,
  maxPixels: number,
  known?: { width: number; height: number },
): Promise<OpenedPicture> {
  const options = { limitInputPixels: maxPixels, animated: mimetype === 'image/gif' || mimetype === 'image/webp' };
  let image: Sharp;
  if (typeof input === 'string') image = sharp(input, options);
  else {
    image = sharp(options);
    // pipeline destroys both sides on failure; the error reaches the reader through `image`.
    pipeline(input, image, () => {});
  }
  const dispose = () => {
    if (!image.destroyed) image.destroy();
  };
  // A picture size read before from this very file (see make-thumbnail.ts) spares the header read.
  if (known !== undefined) return { image, width: known.width, height: known.height, dispose };
  try {
    return { image, ...pictureSize(row, await image.metadata()), dispose };
  } catch (error) {
    dispose();
    throw decodeFailure(error);
  }
}

/**
 * The displayed size when the row holds the file's stored size and EXIF orientation turns it
 * (SQLAlchemy-ImageAttach's rows); the row's own size otherwise.
 */
export function pictureSize(
  row: { width: number; height: number },
  metadata: Pick<Metadata, 'width' | 'height' | 'autoOrient'>,
): { width: number; height: number } {
  const shown = metadata.autoOrient;
  const stored = row.width === metadata.width && row.height === metadata.height;
  if (stored && shown !== undefined && (shown.width !== row.width || shown.height !== row.height))
    return { width: shown.width, height: shown.height };
  return { width: row.width, height: row.height };
}

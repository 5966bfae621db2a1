/**
 * Spooling an input stream to a temp file, so its type and size can be read before anything is
 * stored, with memory flat whatever the size (SQLAlchemy-ImageAttach read whole uploads into memory).
 */
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { removeIfPresent, sweepOnce, tempFilePath } from './temp-files.js';

export interface SpooledFile {
  path: string;
  size: number;
  /** Removes the temp file; safe to call twice. */
  dispose(): Promise<void>;
}

/**
 * Copies `input` to a new temp file, failing with `tooLarge()` as soon as it passes `maxBytes` (the
 * rest is never read). On any failure the temp file is already gone. The error comes from the
 * caller, who knows what the limit was for (imaging's `ERR_IMAGE_TOO_LARGE` for an image).
 */
export async function spoolToTempFile(
  input: Readable,
  maxBytes: number,
  dir = tmpdir(),
  tooLarge = () => new RangeError(`Expected at most ${maxBytes} bytes`),
): Promise<SpooledFile> {
  sweepOnce(dir);
  const file = tempFilePath(dir, 'spool');
  let size = 0;
  const cap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      callback(size > maxBytes ? tooLarge() : null, chunk);
    },
  });
  const dispose = () => removeIfPresent(file);
  try {
    await pipeline(input, cap, createWriteStream(file, { flags: 'wx' }));
  } catch (error) {
    await dispose();
    throw error;
  }
  return { path: file, size, dispose };
}

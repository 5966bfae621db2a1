/**
 * Spooling an input stream to a temp file, so its type and size can be read before anything is
 * stored, with memory flat whatever the size (the seed read whole uploads into memory).
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { tooLarge } from './probe.js';

export interface SpooledFile {
  path: string;
  size: number;
  /** Removes the temp file; safe to call twice. */
  dispose(): Promise<void>;
}

/**
 * Copies `input` to a new temp file, failing with `ERR_IMAGE_TOO_LARGE` as soon as it passes
 * `maxBytes` (the rest is never read). On any failure the temp file is already gone.
 */
export async function spoolToTempFile(input: Readable, maxBytes: number, dir = tmpdir()): Promise<SpooledFile> {
  const file = path.join(dir, `objection-imageattach-${randomBytes(8).toString('hex')}.spool`);
  let size = 0;
  const cap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      callback(size > maxBytes ? tooLarge(undefined, maxBytes) : null, chunk);
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

export async function removeIfPresent(file: string): Promise<void> {
  try {
    await unlink(file);
  } catch (error) {
    // Already removed (dispose called twice, or the write never created it).
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

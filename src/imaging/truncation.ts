/**
 * Telling a truncated file from a corrupt one where the decoder does not say: libpng reports any
 * failure as "libpng read error", and libwebp as "unable to parse image". Both formats carry
 * their own length: a PNG is a chain of length-prefixed chunks ending with IEND, a WebP a RIFF
 * container declaring its size. Walking that structure answers "do the bytes end early?" by
 * reading a few bytes per chunk, never the image data.
 */
import { open } from 'node:fs/promises';
import { decodeFailure } from './probe.js';
import type { InvalidImageError } from '../errors.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Chunks walked at most: a real PNG has a few dozen (IDAT chunks of 8 KiB up to megabytes). */
const MAX_CHUNKS = 1_000_000;

/** Reads `length` bytes at `position` (fewer at the end). */
type ReadAt = (position: number, length: number) => Promise<Buffer>;

/**
 * sharp's decoding error as our typed error, `ERR_IMAGE_TRUNCATED` when the bytes end before
 * their format says they do (see the file's comment), else as {@link decodeFailure} says.
 */
export async function decodeFailureOf(error: unknown, input: string | Buffer): Promise<InvalidImageError> {
  const typed = decodeFailure(error);
  if (typed.code !== 'ERR_IMAGE_UNREADABLE') return typed;
  let truncated = false;
  try {
    truncated = await endsEarly(input);
  } catch {
    // The file went away or cannot be read again: keep the decoder's verdict.
  }
  return truncated ? decodeFailure(new Error(`premature end of data (${(error as Error)?.message ?? error})`)) : typed;
}

/** True when a PNG or WebP ends before its structure says it does; false for anything else. */
export async function endsEarly(input: string | Buffer): Promise<boolean> {
  if (Buffer.isBuffer(input)) return structureEndsEarly(async (position, length) => input.subarray(position, position + length), input.length);
  const handle = await open(input, 'r');
  try {
    const size = (await handle.stat()).size;
    return await structureEndsEarly(async (position, length) => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, position);
      return buffer.subarray(0, bytesRead);
    }, size);
  } finally {
    await handle.close();
  }
}

async function structureEndsEarly(readAt: ReadAt, size: number): Promise<boolean> {
  const head = await readAt(0, 16);
  if (head.subarray(0, 8).equals(PNG_SIGNATURE)) return pngEndsEarly(readAt, size);
  if (head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'WEBP') return 8 + head.readUInt32LE(4) > size;
  return false;
}

/** Walks the chunks from the signature: truncated when a chunk runs past the end before IEND. */
async function pngEndsEarly(readAt: ReadAt, size: number): Promise<boolean> {
  let position = 8;
  for (let chunks = 0; chunks < MAX_CHUNKS; chunks++) {
    // Length (4), type (4), data (length), CRC (4).
    const header = await readAt(position, 8);
    if (header.length < 8) return true;
    const end = position + 12 + header.readUInt32BE(0);
    if (end > size) return true;
    if (header.toString('latin1', 4, 8) === 'IEND') return false;
    position = end;
  }
  return false;
}

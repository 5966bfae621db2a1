/**
 * Telling a truncated file from a corrupt one where the decoder does not say: libpng reports any
 * failure as "libpng read error", and libwebp as "unable to parse image". Both formats carry
 * their own length: a PNG is a chain of length-prefixed chunks ending with IEND, a WebP a RIFF
 * container declaring its size. Walking that structure answers "do the bytes end early?" by
 * reading chunk headers from 64 KiB blocks (block-reader.ts), never one read per chunk.
 */
import { open } from 'node:fs/promises';
import { BlockReader, bytesReadAt, fileReadAt, type ReadAt } from './block-reader.js';
import { decodeFailure } from './probe.js';
import type { InvalidImageError } from '../errors.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Chunks walked at most: a real PNG has a few dozen (IDAT chunks of 8 KiB up to megabytes). */
const MAX_CHUNKS = 1_000_000;

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
  if (Buffer.isBuffer(input)) return structureEndsEarly(bytesReadAt(input), input.length);
  const handle = await open(input, 'r');
  try {
    const size = (await handle.stat()).size;
    return await structureEndsEarly(fileReadAt(handle, size), size);
  } finally {
    await handle.close();
  }
}

async function structureEndsEarly(readAt: ReadAt, size: number): Promise<boolean> {
  const reader = new BlockReader(readAt, size);
  if (!(await reader.ensure(0, 12))) return false;
  if (reader.copy(0, 8).equals(PNG_SIGNATURE)) return pngEndsEarly(reader);
  if (reader.latin1(0, 4) === 'RIFF' && reader.latin1(8, 4) === 'WEBP') return 8 + reader.u32le(4) > size;
  return false;
}

/** Walks the chunks from the signature: truncated when a chunk runs past the end before IEND. */
async function pngEndsEarly(reader: BlockReader): Promise<boolean> {
  let position = 8;
  for (let chunks = 0; chunks < MAX_CHUNKS; chunks++) {
    // Length (4), type (4), data (length), CRC (4).
    if (!(await reader.ensure(position, 8))) return true;
    const end = position + 12 + reader.u32be(position);
    if (end > reader.size) return true;
    if (reader.latin1(position + 4, 4) === 'IEND') return false;
    position = end;
  }
  return false;
}

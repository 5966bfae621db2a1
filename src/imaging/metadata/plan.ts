/**
 * What the per-format metadata walkers share: the plan they build (kept byte ranges and inserted
 * bytes, in file order), the cap on segments, and the error for a structure that cannot be
 * followed. They read through a {@link BlockReader}: one read per 64 KiB, never one per segment.
 */
import { InvalidImageError } from '../../errors.js';

/** A byte range of the input to copy (`end` exclusive), or bytes to insert. */
export type Part = { start: number; end: number } | Buffer;

/**
 * The most marker segments (JPEG) or chunks (PNG, WebP) a file may have. Real files have a few
 * dozen to a few thousand (progressive scans, ICC or XMP split over segments, IDAT chunks, APNG
 * frames); a file of empty segments costs a walk per segment, so it has a bound.
 */
export const MAX_SEGMENTS = 100_000;

/** The output being planned: ranges of the input (adjacent ones joined) and inserted bytes. */
export class Plan {
  readonly parts: Part[] = [];
  size = 0;
  private segments = 0;

  constructor(private readonly format: string) {}

  keep(start: number, end: number): void {
    if (end <= start) return;
    const last = this.parts[this.parts.length - 1];
    if (last !== undefined && !Buffer.isBuffer(last) && last.end === start) last.end = end;
    else this.parts.push({ start, end });
    this.size += end - start;
  }

  insert(bytes: Buffer): void {
    this.parts.push(bytes);
    this.size += bytes.length;
  }

  /** Counts one more segment or chunk, refusing the file past {@link MAX_SEGMENTS}. */
  count(): void {
    if (++this.segments > MAX_SEGMENTS) {
      throw new InvalidImageError(
        'ERR_IMAGE_TOO_MANY_SEGMENTS',
        `Expected at most ${MAX_SEGMENTS} ${this.format === 'JPEG' ? 'marker segments' : 'chunks'} in a ${this.format} image but the image has more`,
        {
          statusCode: 413,
          data: { format: this.format, maxSegments: MAX_SEGMENTS },
        },
      );
    }
  }

  /** True when the plan copies bytes `from` to `end` of the input as they are, and nothing else. */
  isWhole(end: number, from = 0): boolean {
    if (this.parts.length === 0) return end === from;
    const only = this.parts[0]!;
    return this.parts.length === 1 && !Buffer.isBuffer(only) && only.start === from && only.end === end;
  }
}

/**
 * A structure the walk cannot follow safely (bytes where a marker must be, a chunk running past
 * the end): the file is never stored as it came, but re-encoded or refused (see metadata-strip.ts).
 */
export class MalformedStructure extends Error {
  constructor(
    readonly format: string,
    readonly reason: string,
    /** An animation the re-encoder would flatten (APNG): refused rather than re-encoded. */
    readonly animated = false,
  ) {
    super(`${format}: ${reason}`);
  }
}

/** A TIFF structure holding one tag, Orientation: all the EXIF a stripped image keeps. */
export function orientationTiff(orientation: number): Buffer {
  const tiff = Buffer.alloc(26);
  tiff.write('MM\0*', 0, 'latin1');
  tiff.writeUInt32BE(8, 4); // IFD0 right after the header
  tiff.writeUInt16BE(1, 8); // one entry
  tiff.writeUInt16BE(0x0112, 10); // Orientation
  tiff.writeUInt16BE(3, 12); // SHORT
  tiff.writeUInt32BE(1, 14); // one value
  tiff.writeUInt16BE(orientation, 18); // the value, left-justified in the 4-byte field
  tiff.writeUInt32BE(0, 22); // no next IFD
  return tiff;
}

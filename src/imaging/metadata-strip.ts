/**
 * Removing location and device metadata (EXIF, with its GPS position and camera serials; XMP;
 * IPTC; C2PA manifests; comments; embedded thumbnails) from an original before it is stored and
 * served, without re-encoding: the image data is copied byte for byte, and only what decoding and
 * display need is kept (an allow-list per format: metadata/jpeg.ts, png.ts, webp.ts). The
 * orientation is kept, as a minimal EXIF block holding that one tag, so the image still displays
 * (and its thumbnails render) the right way up; so are colour profiles (ICC).
 *
 * The input is a local file or bytes, so the cut is planned by reading only the structure
 * (segment and chunk headers, a block at a time; a JPEG's scans are searched for their end),
 * then the kept byte ranges are streamed: memory stays flat whatever the size. A structure the
 * walk cannot follow is never stored as it came: a PNG or WebP that decodes is re-encoded
 * losslessly (pixels, ICC and orientation kept), anything else is refused (`ERR_IMAGE_MALFORMED`).
 */
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { InvalidImageError } from '../errors.js';
import { BlockReader, bytesReadAt, fileReadAt, type ReadAt } from './block-reader.js';
import { planJpeg } from './metadata/jpeg.js';
import { MalformedStructure, type Part, Plan } from './metadata/plan.js';
import { planPng } from './metadata/png.js';
import { planWebp } from './metadata/webp.js';
import { sharp } from './sharp.js';

/** What to store instead of the input: its kept ranges and inserted bytes, in order. */
export interface StripPlan {
  parts: Part[];
  size: number;
}

/** The types whose metadata this module removes. */
export const STRIPPABLE_TYPES: readonly string[] = ['image/jpeg', 'image/png', 'image/webp'];

const FORMATS: Record<string, { name: string; walk: typeof planJpeg }> = {
  'image/jpeg': { name: 'JPEG', walk: planJpeg },
  'image/png': { name: 'PNG', walk: planPng },
  'image/webp': { name: 'WebP', walk: planWebp },
};

/**
 * The input without its metadata, as bytes (for bytes) or a stream (for a file), with its size;
 * `undefined` when there is nothing to remove (or the type is not one of {@link STRIPPABLE_TYPES}).
 * @param orientation the EXIF orientation (1 to 8) to keep; 1 or undefined keeps none
 * @throws InvalidImageError `ERR_IMAGE_TOO_MANY_SEGMENTS` (413) over `MAX_SEGMENTS` (metadata/plan.ts);
 *   `ERR_IMAGE_MALFORMED` (400) for a structure that cannot be followed and cannot be re-encoded
 */
export async function withoutMetadata(
  input: string | Buffer,
  mimetype: string,
  orientation: number | undefined,
): Promise<{ data: Buffer | Readable; size: number } | undefined> {
  if (!STRIPPABLE_TYPES.includes(mimetype)) return undefined;
  const source = await openSource(input);
  let plan: StripPlan | undefined;
  try {
    plan = await planStrip(source.readAt, source.size, mimetype, orientation);
  } catch (error) {
    if (!(error instanceof MalformedStructure)) throw error;
    const data = await reencoded(input, mimetype, orientation, error);
    return { data, size: data.length };
  } finally {
    await source.close();
  }
  if (plan === undefined) return undefined;
  if (Buffer.isBuffer(input)) return { data: concatParts(input, plan.parts), size: plan.size };
  return { data: Readable.from(streamParts(input, plan.parts)), size: plan.size };
}

/**
 * The plan for `mimetype`, or undefined when nothing would change.
 * @throws MalformedStructure when the structure cannot be followed; InvalidImageError over the segment cap
 */
export async function planStrip(
  readAt: ReadAt,
  size: number,
  mimetype: string,
  orientation: number | undefined,
): Promise<StripPlan | undefined> {
  const format = FORMATS[mimetype];
  if (format === undefined) return undefined;
  const keep = orientation !== undefined && orientation >= 2 && orientation <= 8 ? orientation : undefined;
  const plan = new Plan(format.name);
  await format.walk(new BlockReader(readAt, size), plan, keep);
  if (plan.isWhole(size)) return undefined;
  return { parts: plan.parts, size: plan.size };
}

/**
 * A PNG or WebP whose structure cannot be followed, re-encoded without loss (PNG; lossless WebP)
 * and then stripped like any file; a JPEG (which cannot be re-encoded without loss) or an
 * animated PNG (which sharp would flatten) is refused, and so is a file that does not decode.
 */
async function reencoded(
  input: string | Buffer,
  mimetype: string,
  orientation: number | undefined,
  malformed: MalformedStructure,
): Promise<Buffer> {
  const refuse = (cause?: unknown) =>
    new InvalidImageError(
      'ERR_IMAGE_MALFORMED',
      `Expected a well-formed ${malformed.format} image but ${malformed.reason}, so its metadata cannot be removed safely`,
      {
        statusCode: 400,
        data: { format: malformed.format, reason: malformed.reason },
        cause,
      },
    );
  if (mimetype === 'image/jpeg' || malformed.animated) throw refuse();
  let bytes: Buffer;
  try {
    const image = sharp(input, { animated: true, limitInputPixels: false }).keepIccProfile();
    bytes = await (mimetype === 'image/png' ? image.png() : image.webp({ lossless: true })).toBuffer();
  } catch (error) {
    throw refuse(error);
  }
  const plan = await planStrip(bytesReadAt(bytes), bytes.length, mimetype, orientation).catch((error: unknown) => {
    throw error instanceof MalformedStructure ? refuse(error) : error;
  });
  return plan === undefined ? bytes : concatParts(bytes, plan.parts);
}

function concatParts(input: Buffer, parts: Part[]): Buffer {
  return Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : input.subarray(p.start, p.end))));
}

async function openSource(input: string | Buffer): Promise<{ readAt: ReadAt; size: number; close(): Promise<void> }> {
  if (Buffer.isBuffer(input)) return { readAt: bytesReadAt(input), size: input.length, close: async () => {} };
  const handle = await open(input, 'r');
  try {
    const { size } = await handle.stat();
    return { readAt: fileReadAt(handle, size), size, close: () => handle.close() };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * The kept ranges of `file` and the inserted bytes, in pieces of about 64 KiB: one read per
 * 64 KiB of the file however many ranges it holds (ranges come in file order).
 */
async function* streamParts(file: string, parts: Part[]): AsyncGenerator<Buffer> {
  const BLOCK = 64 * 1024;
  const handle = await open(file, 'r');
  let block = Buffer.alloc(0);
  let blockStart = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = () => {
    const out = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
    pending = [];
    pendingBytes = 0;
    return out;
  };
  try {
    for (const part of parts) {
      const pieces: Buffer[] = [];
      if (Buffer.isBuffer(part)) pieces.push(part);
      for (let at = Buffer.isBuffer(part) ? 0 : part.start, end = Buffer.isBuffer(part) ? 0 : part.end; at < end;) {
        if (at < blockStart || at >= blockStart + block.length) {
          block = Buffer.alloc(BLOCK);
          const { bytesRead } = await handle.read(block, 0, BLOCK, at);
          if (bytesRead === 0) throw new Error(`${file} shrank while its metadata was being removed`);
          block = block.subarray(0, bytesRead);
          blockStart = at;
        }
        const piece = block.subarray(at - blockStart, Math.min(end, blockStart + block.length) - blockStart);
        pieces.push(piece);
        at += piece.length;
      }
      for (const piece of pieces) {
        pending.push(piece);
        pendingBytes += piece.length;
        if (pendingBytes >= BLOCK) yield flush();
      }
    }
    if (pendingBytes > 0) yield flush();
  } finally {
    await handle.close();
  }
}

/**
 * Removing location and device metadata (EXIF, with its GPS position and camera make and model;
 * XMP; IPTC; comments) from an original before it is stored and served, without re-encoding:
 * the image data is copied byte for byte, only metadata segments are left out. The orientation
 * is kept, as a minimal EXIF block holding that one tag, so the image still displays (and its
 * thumbnails render) the right way up.
 *
 * JPEG: APP1 (EXIF, XMP), APP12, APP13 (IPTC), COM and APP2 other than ICC profiles (MPF) go, and
 * so does anything after the end of the image (the secondary images of MPF, each with its own
 * EXIF). PNG: eXIf, tEXt, zTXt, iTXt and tIME go. WebP: the EXIF and XMP chunks go. Colour
 * profiles (ICC) and everything the decoder needs stay. Other formats are stored as they come.
 *
 * The input is a local file or bytes, so the cut is planned by reading only the structure
 * (segment and chunk headers; a JPEG's scans are scanned for their end), then the kept byte
 * ranges are streamed: memory stays flat whatever the size. A structure the walk cannot follow
 * (bytes where a marker must be) is left alone: the file is stored as it came.
 */
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';

/** A byte range of the input to copy (`end` exclusive), or bytes to insert. */
type Part = { start: number; end: number } | Buffer;

/** What to store instead of the input: its kept ranges and inserted bytes, in order. */
export interface StripPlan {
  parts: Part[];
  size: number;
}

type ReadAt = (position: number, length: number) => Promise<Buffer>;

/** The types whose metadata this module removes. */
export const STRIPPABLE_TYPES: readonly string[] = ['image/jpeg', 'image/png', 'image/webp'];

/**
 * The input without its metadata, as bytes (for bytes) or a stream (for a file), with its size;
 * `undefined` when there is nothing to remove (or the type is not one of {@link STRIPPABLE_TYPES}).
 * @param orientation the EXIF orientation (1 to 8) to keep; 1 or undefined keeps none
 */
export async function withoutMetadata(input: string | Buffer, mimetype: string, orientation: number | undefined): Promise<{ data: Buffer | Readable; size: number } | undefined> {
  if (!STRIPPABLE_TYPES.includes(mimetype)) return undefined;
  const source = await openSource(input);
  let plan: StripPlan | undefined;
  try {
    plan = await planStrip(source.readAt, source.size, mimetype, orientation);
  } catch (error) {
    // A structure cut short where a length should be (the decoder tolerated it): like any
    // structure the walk does not follow, the file is stored as it came.
    if (!(error instanceof RangeError)) throw error;
  } finally {
    await source.close();
  }
  if (plan === undefined) return undefined;
  if (Buffer.isBuffer(input)) return { data: Buffer.concat(plan.parts.map((p) => (Buffer.isBuffer(p) ? p : input.subarray(p.start, p.end)))), size: plan.size };
  return { data: Readable.from(streamParts(input, plan.parts)), size: plan.size };
}

/** The plan for `mimetype`, or undefined when nothing would change. */
export async function planStrip(readAt: ReadAt, size: number, mimetype: string, orientation: number | undefined): Promise<StripPlan | undefined> {
  const keep = orientation !== undefined && orientation >= 2 && orientation <= 8 ? orientation : undefined;
  let parts = mimetype === 'image/jpeg' ? await planJpeg(readAt, size, keep) : mimetype === 'image/png' ? await planPng(readAt, size, keep) : await planWebp(readAt, size, keep);
  if (parts === undefined) return undefined;
  parts = mergeRanges(parts);
  const planned = parts.reduce((n, p) => n + (Buffer.isBuffer(p) ? p.length : p.end - p.start), 0);
  // Same bytes out as in (one range covering the input): nothing was removed.
  if (parts.length === 1 && !Buffer.isBuffer(parts[0]) && planned === size) return undefined;
  return { parts, size: planned };
}

/** A TIFF structure holding one tag, Orientation: all the EXIF a stripped image keeps. */
function orientationTiff(orientation: number): Buffer {
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

// JPEG ---------------------------------------------------------------------------------------

const SOS = 0xda;
const EOI = 0xd9;
/** Markers without a length (TEM, RST0-7, SOI, EOI). */
const STANDALONE = new Set([0x01, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, EOI]);

async function planJpeg(readAt: ReadAt, size: number, orientation: number | undefined): Promise<Part[] | undefined> {
  const soi = await readAt(0, 2);
  if (soi[0] !== 0xff || soi[1] !== 0xd8) return undefined;
  const parts: Part[] = [{ start: 0, end: 2 }];
  if (orientation !== undefined) {
    const tiff = orientationTiff(orientation);
    const app1 = Buffer.alloc(4 + 6);
    app1.writeUInt16BE(0xffe1, 0);
    app1.writeUInt16BE(2 + 6 + tiff.length, 2);
    app1.write('Exif\0\0', 4, 'latin1');
    parts.push(Buffer.concat([app1, tiff]));
  }
  let pos = 2;
  while (pos < size) {
    const head = await readAt(pos, 18);
    if (head[0] !== 0xff) return undefined; // not a marker where one must be: leave the file alone
    const marker = head[1]!;
    if (marker === 0xff) {
      pos++; // a fill byte
      continue;
    }
    if (STANDALONE.has(marker)) {
      parts.push({ start: pos, end: pos + 2 });
      pos += 2;
      if (marker === EOI) return parts;
      continue;
    }
    const end = pos + 2 + head.readUInt16BE(2);
    if (marker === SOS) {
      // The scans to the end of the image; whatever follows it (MPF's secondary images) goes.
      parts.push({ start: pos, end: await endOfImage(readAt, size, pos) });
      return parts;
    }
    if (!dropsJpegSegment(marker, head.subarray(4))) parts.push({ start: pos, end });
    pos = end;
  }
  return parts;
}

/** True for the segments that carry metadata: APP1 (EXIF, XMP), APP2 but ICC (MPF), APP12, APP13, COM. */
function dropsJpegSegment(marker: number, payload: Buffer): boolean {
  if (marker === 0xe1 || marker === 0xec || marker === 0xed || marker === 0xfe) return true;
  if (marker === 0xe2) return payload.toString('latin1', 0, 12) !== 'ICC_PROFILE\0';
  return false;
}

/** Where the image that has a scan at `pos` ends: just after its EOI (or at the end of the file). */
async function endOfImage(readAt: ReadAt, size: number, pos: number): Promise<number> {
  const BLOCK = 64 * 1024;
  // At `pos` is a marker segment (SOS, or DHT/DQT/… between progressive scans): skip it.
  let at = pos + 2 + (await readAt(pos + 2, 2)).readUInt16BE(0);
  while (at < size) {
    const block = await readAt(at, BLOCK);
    if (block.length < 2) return size;
    // Scan the whole block before reading the next: entropy-coded data holds an 0xFF every few
    // hundred bytes, and a read per 0xFF made a photo's attach four times slower.
    let next = block.length;
    for (let i = 0; i < block.length; ) {
      const ff = block.indexOf(0xff, i);
      if (ff === -1) break;
      if (ff === block.length - 1) {
        next = ff; // the marker's second byte is in the next block
        break;
      }
      const marker = block[ff + 1]!;
      if (marker === 0x00 || (marker >= 0xd0 && marker <= 0xd7)) i = ff + 2; // stuffed data or a restart marker: still in the scan
      else if (marker === 0xff) i = ff + 1; // fill
      else if (marker === EOI) return at + ff + 2;
      else {
        // Another segment between scans (DHT, SOS…): skip its length.
        const lengthAt = at + ff + 2;
        next = lengthAt + (await readAt(lengthAt, 2)).readUInt16BE(0) - at;
        break;
      }
    }
    at += next;
  }
  return size;
}

// PNG ----------------------------------------------------------------------------------------

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const PNG_METADATA_CHUNKS = new Set(['eXIf', 'tEXt', 'zTXt', 'iTXt', 'tIME']);

async function planPng(readAt: ReadAt, size: number, orientation: number | undefined): Promise<Part[] | undefined> {
  if (!(await readAt(0, 8)).equals(PNG_SIGNATURE)) return undefined;
  const parts: Part[] = [{ start: 0, end: 8 }];
  let pos = 8;
  while (pos + 8 <= size) {
    const head = await readAt(pos, 8);
    const type = head.toString('latin1', 4, 8);
    const end = pos + 12 + head.readUInt32BE(0);
    if (!PNG_METADATA_CHUNKS.has(type)) parts.push({ start: pos, end });
    if (type === 'IHDR' && orientation !== undefined) parts.push(pngChunk('eXIf', orientationTiff(orientation)));
    pos = end;
    if (type === 'IEND') break;
  }
  return parts;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const chunk = Buffer.alloc(12 + data.length);
  chunk.writeUInt32BE(data.length, 0);
  chunk.write(type, 4, 'latin1');
  data.copy(chunk, 8);
  chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + data.length)), 8 + data.length);
  return chunk;
}

// WebP ---------------------------------------------------------------------------------------

const VP8X_EXIF = 0x08;
const VP8X_XMP = 0x04;

async function planWebp(readAt: ReadAt, size: number, orientation: number | undefined): Promise<Part[] | undefined> {
  const header = await readAt(0, 30);
  if (header.toString('latin1', 0, 4) !== 'RIFF' || header.toString('latin1', 8, 12) !== 'WEBP') return undefined;
  // Only the extended format (VP8X) can carry metadata.
  if (header.toString('latin1', 12, 16) !== 'VP8X') return undefined;
  const vp8x = Buffer.from(header.subarray(12, 30));
  const end = Math.min(size, 8 + header.readUInt32LE(4));
  const body: Part[] = [];
  let dropped = false;
  let pos = 30;
  while (pos + 8 <= end) {
    const head = await readAt(pos, 8);
    const type = head.toString('latin1', 0, 4);
    const length = head.readUInt32LE(4);
    const chunkEnd = pos + 8 + length + (length % 2);
    if (type !== 'EXIF' && type !== 'XMP ') body.push({ start: pos, end: Math.min(chunkEnd, end) });
    else dropped = true;
    pos = chunkEnd;
  }
  if (!dropped) return undefined;
  if (orientation !== undefined) {
    const tiff = orientationTiff(orientation);
    const exif = Buffer.alloc(8 + tiff.length);
    exif.write('EXIF', 0, 'latin1');
    exif.writeUInt32LE(tiff.length, 4);
    tiff.copy(exif, 8);
    body.push(exif); // 26 bytes: even, no padding
  }
  vp8x[8] = (vp8x[8]! & ~(VP8X_EXIF | VP8X_XMP)) | (orientation !== undefined ? VP8X_EXIF : 0);
  const bodySize = vp8x.length + body.reduce((n, p) => n + (Buffer.isBuffer(p) ? p.length : p.end - p.start), 0);
  const riff = Buffer.alloc(12);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(4 + bodySize, 4);
  riff.write('WEBP', 8, 'latin1');
  return [riff, vp8x, ...body];
}

// Reading and writing --------------------------------------------------------------------------

/** Joins adjacent ranges, so a file with nothing to remove is one range. */
function mergeRanges(parts: Part[]): Part[] {
  const merged: Part[] = [];
  for (const part of parts) {
    const last = merged[merged.length - 1];
    if (last !== undefined && !Buffer.isBuffer(last) && !Buffer.isBuffer(part) && last.end === part.start) last.end = part.end;
    else merged.push(Buffer.isBuffer(part) ? part : { ...part });
  }
  return merged;
}

async function openSource(input: string | Buffer): Promise<{ readAt: ReadAt; size: number; close(): Promise<void> }> {
  if (Buffer.isBuffer(input)) {
    return { readAt: async (position, length) => input.subarray(position, position + length), size: input.length, close: async () => {} };
  }
  const handle = await open(input, 'r');
  try {
    const { size } = await handle.stat();
    return {
      size,
      readAt: async (position, length) => {
        const buffer = Buffer.alloc(Math.max(0, Math.min(length, size - position)));
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        return buffer.subarray(0, bytesRead);
      },
      close: () => handle.close(),
    };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** The kept ranges of `file` and the inserted bytes, read 64 KiB at a time. */
async function* streamParts(file: string, parts: Part[]): AsyncGenerator<Buffer> {
  const handle = await open(file, 'r');
  try {
    for (const part of parts) {
      if (Buffer.isBuffer(part)) {
        yield part;
        continue;
      }
      for (let at = part.start; at < part.end; ) {
        const buffer = Buffer.alloc(Math.min(64 * 1024, part.end - at));
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, at);
        if (bytesRead === 0) throw new Error(`${file} shrank while its metadata was being removed`);
        at += bytesRead;
        yield buffer.subarray(0, bytesRead);
      }
    }
  } finally {
    await handle.close();
  }
}

/**
 * A JPEG's metadata removal, by allow-list: what decoding and display need stays, everything
 * else goes. Kept: SOI; the first APP0 JFIF (its thumbnail cut out); APP2 ICC_PROFILE; APP14 Adobe
 * (it says how the colours were transformed); the frame and tables (SOFn, DQT, DHT, DAC, DRI);
 * each scan with its entropy-coded data (restart markers included); EOI. The orientation comes
 * back as an APP1 Exif holding that one tag. Everything else goes: APP1 (Exif, XMP), APP3–APP15
 * (GoPro, IPTC, C2PA/JUMBF…), other APP0/APP2/APP14, COM, any APPn or COM between scans, and all
 * after EOI (MPF's secondary images).
 *
 * A file that ends inside its image data (no EOI, or a last marker cut short after a scan) is
 * completed with an EOI: the decoder reads the same pixels. Before the first scan nothing may be
 * out of place: such a file is malformed.
 */
import type { BlockReader } from '../block-reader.js';
import { MalformedStructure, type Plan, orientationTiff } from './plan.js';

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const APP0 = 0xe0;
const APP2 = 0xe2;
const APP14 = 0xee;
const EOI_BYTES = Buffer.from([0xff, EOI]);
/** DHT, DAC, DQT, DRI, DNL: tables and parameters a scan may need, before or between scans. */
const TABLES = new Set([0xc4, 0xcc, 0xdb, 0xdd, 0xdc]);

const isRestart = (marker: number) => marker >= 0xd0 && marker <= 0xd7;
/** SOF0–SOF15 but DHT (C4), JPG (C8) and DAC (CC). */
const isFrame = (marker: number) =>
  marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
/** Markers without a length: TEM, RST0–7, SOI, EOI. */
const isStandalone = (marker: number) => marker === 0x01 || (marker >= 0xd0 && marker <= EOI);

export async function planJpeg(reader: BlockReader, plan: Plan, orientation: number | undefined): Promise<void> {
  const malformed = (reason: string) => new MalformedStructure('JPEG', reason);
  if (!(await reader.ensure(0, 2)) || reader.u8(0) !== 0xff || reader.u8(1) !== SOI)
    throw malformed('it does not start with SOI');
  plan.keep(0, 2);
  // Exif goes after SOI and JFIF's APP0 (which must come first), before the first other segment.
  let exif = orientation === undefined ? undefined : exifSegment(orientation);
  const exifHere = () => {
    if (exif !== undefined) plan.insert(exif);
    exif = undefined;
  };
  let jfif = false;
  for (let pos = 2; ;) {
    if (!(await reader.ensure(pos, 2))) throw malformed('it ends before its first scan');
    if (reader.u8(pos) !== 0xff)
      throw malformed(`byte ${pos} is 0x${reader.u8(pos).toString(16)} where a marker must be`);
    const marker = reader.u8(pos + 1);
    if (marker === 0xff) {
      pos += fillBytes(reader.view(pos));
      continue;
    }
    plan.count();
    if (isStandalone(marker)) {
      if (marker === SOI || marker === EOI)
        throw malformed(`${marker === SOI ? 'SOI' : 'EOI'} at byte ${pos}, before the first scan`);
      pos += 2; // TEM, or RST outside a scan: nothing to decode
      continue;
    }
    if (!(await reader.ensure(pos, 4))) throw malformed(`the segment at byte ${pos} is cut short`);
    const length = reader.u16be(pos + 2);
    const end = pos + 2 + length;
    if (length < 2) throw malformed(`the segment at byte ${pos} declares a length under 2`);
    if (end > reader.size)
      throw malformed(`the segment at byte ${pos} declares ${length} bytes, past the end of the file`);
    if (marker === SOS) {
      exifHere();
      await planScans(reader, plan, pos);
      return;
    }
    if (marker === APP0) {
      if (!jfif && (await payloadStarts(reader, pos, length, 'JFIF\0'))) {
        jfif = true;
        await keepJfif(reader, plan, pos);
      }
    } else if (marker === APP2 && (await payloadStarts(reader, pos, length, 'ICC_PROFILE\0'))) {
      exifHere();
      plan.keep(pos, end);
    } else if (marker === APP14 && length >= 14 && (await payloadStarts(reader, pos, length, 'Adobe'))) {
      exifHere();
      // Its 12 bytes of payload; anything after them is not Adobe's.
      await reader.ensure(pos, 16);
      if (length === 14) plan.keep(pos, end);
      else plan.insert(Buffer.concat([Buffer.from([0xff, APP14, 0, 14]), reader.copy(pos + 4, 12)]));
    } else if (isFrame(marker) || TABLES.has(marker)) {
      exifHere();
      plan.keep(pos, end);
    }
    pos = end;
  }
}

/**
 * From the first SOS at `pos` to EOI: the scans with their data, the tables between them, and no
 * APPn or COM. A file ending before EOI is completed with one.
 */
async function planScans(reader: BlockReader, plan: Plan, pos: number): Promise<void> {
  for (;;) {
    // `pos` is at a marker segment whose header is readable and whose length is in the file.
    const marker = reader.u8(pos + 1);
    const end = pos + 2 + reader.u16be(pos + 2);
    if (marker === SOS || TABLES.has(marker)) plan.keep(pos, end);
    pos = end;
    if (marker === SOS) {
      pos = await endOfScan(reader, pos);
      plan.keep(end, pos);
    }
    // The next marker (after fill bytes), or the end of the file.
    for (;;) {
      if (!(await reader.ensure(pos, 2))) return plan.insert(EOI_BYTES);
      if (reader.u8(pos) !== 0xff)
        throw new MalformedStructure('JPEG', `byte ${pos} is 0x${reader.u8(pos).toString(16)} where a marker must be`);
      const next = reader.u8(pos + 1);
      if (next === 0xff) {
        pos += fillBytes(reader.view(pos));
        continue;
      }
      plan.count();
      if (next === EOI) return plan.keep(pos, pos + 2);
      // Another image (MPF's, with its own EXIF) where EOI should be: this one ends here.
      if (next === SOI) return plan.insert(EOI_BYTES);
      if (!isStandalone(next)) break;
      pos += 2; // TEM, or RST outside a scan: nothing to decode
    }
    // A segment cut short by the end of the file: the image ends where its data does.
    if (!(await reader.ensure(pos, 4)) || pos + 2 + reader.u16be(pos + 2) > reader.size) return plan.insert(EOI_BYTES);
    if (reader.u16be(pos + 2) < 2)
      throw new MalformedStructure('JPEG', `the segment at byte ${pos} declares a length under 2`);
  }
}

/**
 * Where the entropy-coded data starting at `pos` ends: at the 0xFF of the first marker that is
 * neither stuffing (FF 00) nor a restart (FF D0–D7), or at the end of the file.
 */
async function endOfScan(reader: BlockReader, pos: number): Promise<number> {
  for (let at = pos; ;) {
    if (!(await reader.ensure(at, 2))) return Math.min(at, reader.size);
    const block = reader.view(at);
    let i = 0;
    for (;;) {
      const ff = block.indexOf(0xff, i);
      if (ff === -1) {
        i = block.length;
        break;
      }
      if (ff === block.length - 1) {
        i = ff; // the marker's second byte is in the next block
        break;
      }
      const marker = block[ff + 1]!;
      if (marker !== 0x00 && !isRestart(marker)) return at + ff;
      i = ff + 2;
    }
    at += i;
  }
}

/**
 * How many bytes of a run of fill bytes lead `view` (which starts with two 0xFF): they go, up to
 * the 0xFF that starts the marker (or to the end of the block, which is read again from there).
 */
function fillBytes(view: Buffer): number {
  let n = 1;
  while (n + 1 < view.length && view[n + 1] === 0xff) n++;
  return n;
}

/** True when the payload of the segment at `pos` starts with `signature`. */
async function payloadStarts(reader: BlockReader, pos: number, length: number, signature: string): Promise<boolean> {
  if (length - 2 < signature.length) return false;
  await reader.ensure(pos, 4 + signature.length);
  return reader.latin1(pos + 4, signature.length) === signature;
}

/** Keeps the APP0 JFIF segment at `pos` without its thumbnail (an RGB thumbnail is another picture). */
async function keepJfif(reader: BlockReader, plan: Plan, pos: number): Promise<void> {
  // "JFIF\0", version (2), units (1), densities (2 × 2), thumbnail width and height (1 + 1), RGB.
  const length = reader.u16be(pos + 2);
  if (length < 16) return; // too short to be JFIF: decoders do without it
  await reader.ensure(pos, 18);
  if (length === 16 && reader.u8(pos + 16) === 0 && reader.u8(pos + 17) === 0) return plan.keep(pos, pos + 18);
  const segment = reader.copy(pos, 18);
  segment.writeUInt16BE(16, 2);
  segment[16] = segment[17] = 0;
  plan.insert(segment);
}

function exifSegment(orientation: number): Buffer {
  const tiff = orientationTiff(orientation);
  const head = Buffer.alloc(10);
  head.writeUInt16BE(0xffe1, 0);
  head.writeUInt16BE(2 + 6 + tiff.length, 2);
  head.write('Exif\0\0', 4, 'latin1');
  return Buffer.concat([head, tiff]);
}

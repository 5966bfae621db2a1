/**
 * A WebP's metadata removal, by allow-list. The simple format (a VP8 or VP8L chunk, no VP8X) can
 * carry no metadata, so only that chunk stays (decoders skip chunks after it, exiftool reads
 * them). The extended format keeps VP8X (its flags set to what is kept), ICCP, ANIM, ANMF (with
 * only its frame's ALPH and VP8/VP8L), ALPH, VP8 and VP8L; every other chunk goes (EXIF, XMP ,
 * C2PA, `exif`, `xmp `…), and so does anything after the RIFF's declared end. The orientation
 * comes back as an EXIF chunk holding that one tag.
 */
import type { BlockReader } from '../block-reader.js';
import { MalformedStructure, Plan, orientationTiff } from './plan.js';

const IMAGE = new Set(['VP8 ', 'VP8L']);
const FRAME = new Set(['ALPH', 'VP8 ', 'VP8L']);
const EXTENDED = new Set(['ICCP', 'ANIM', 'ALPH', 'VP8 ', 'VP8L']);
const FLAG_ICC = 0x20;
const FLAG_ALPHA = 0x10;
const FLAG_EXIF = 0x08;
const FLAG_ANIMATION = 0x02;

export async function planWebp(reader: BlockReader, plan: Plan, orientation: number | undefined): Promise<void> {
  const malformed = (reason: string) => new MalformedStructure('WebP', reason);
  if (!(await reader.ensure(0, 20)) || reader.latin1(0, 4) !== 'RIFF' || reader.latin1(8, 4) !== 'WEBP')
    throw malformed('it does not start with a RIFF WEBP header');
  const riffEnd = 8 + reader.u32le(4);
  if (riffEnd > reader.size)
    throw malformed(`its RIFF header declares ${riffEnd} bytes but the file has ${reader.size}`);
  const walk = new ChunkWalk(reader, plan, riffEnd);
  const first = await walk.chunkAt(12);
  const header = Buffer.alloc(12);
  header.write('RIFF\0\0\0\0WEBP', 0, 'latin1');
  if (IMAGE.has(first.type)) {
    if (first.end === reader.size) return plan.keep(0, first.end); // nothing but the image
    header.writeUInt32LE(first.end - 8, 4);
    plan.insert(header);
    return plan.keep(12, first.end);
  }
  if (first.type !== 'VP8X' || first.length < 10)
    throw malformed(`its first chunk is ${JSON.stringify(first.type)}, not VP8, VP8L or VP8X`);
  const vp8x = reader.copy(12, 18);
  const body = new Plan('WebP');
  let flags = vp8x[8]! & (FLAG_ALPHA | FLAG_ANIMATION);
  for (let pos = first.end; pos < riffEnd;) {
    const chunk = await walk.chunkAt(pos);
    if (chunk.type === 'ANMF') await keepFrame(walk, body, chunk);
    else if (EXTENDED.has(chunk.type)) body.keep(pos, chunk.end);
    if (chunk.type === 'ICCP') flags |= FLAG_ICC;
    pos = chunk.end;
  }
  if (orientation !== undefined) flags |= FLAG_EXIF;
  const unchanged =
    first.length === 10 &&
    vp8x.readUInt32BE(8) === flags << 24 &&
    riffEnd === reader.size &&
    body.isWhole(riffEnd, first.end);
  if (unchanged) return plan.keep(0, riffEnd);
  vp8x.writeUInt32LE(10, 4);
  vp8x.writeUInt32BE(flags << 24, 8); // the flags, then 24 reserved bits
  const exif = orientation === undefined ? Buffer.alloc(0) : exifChunk(orientation);
  header.writeUInt32LE(4 + vp8x.length + body.size + exif.length, 4);
  plan.insert(header);
  plan.insert(vp8x);
  for (const part of body.parts) {
    if (Buffer.isBuffer(part)) plan.insert(part);
    else plan.keep(part.start, part.end);
  }
  if (exif.length > 0) plan.insert(exif);
}

interface Chunk {
  type: string;
  start: number;
  length: number;
  /** Past the chunk's padding byte. */
  end: number;
}

/** Reads chunk headers within `[…, limit)`, counting them. */
class ChunkWalk {
  constructor(
    private readonly reader: BlockReader,
    private readonly plan: Plan,
    private readonly limit: number,
  ) {}

  async chunkAt(start: number, limit = this.limit): Promise<Chunk> {
    this.plan.count();
    if (start + 8 > limit || !(await this.reader.ensure(start, 8)))
      throw new MalformedStructure('WebP', `the chunk at byte ${start} is cut short`);
    const type = this.reader.latin1(start, 4);
    const length = this.reader.u32le(start + 4);
    if (start + 8 + length > limit)
      throw new MalformedStructure(
        'WebP',
        `its ${JSON.stringify(type)} chunk at byte ${start} declares ${length} bytes, past the end of its container`,
      );
    if (type === 'VP8X' && length >= 10) await this.reader.ensure(start, 18);
    // The last chunk may lack its padding byte.
    return { type, start, length, end: Math.min(start + 8 + length + (length % 2), limit) };
  }
}

/** An ANMF chunk with only its frame header and image chunks (a frame may hold unknown chunks). */
async function keepFrame(walk: ChunkWalk, body: Plan, anmf: Chunk): Promise<void> {
  if (anmf.length < 16) throw new MalformedStructure('WebP', `the ANMF chunk at byte ${anmf.start} is too short`);
  const frameStart = anmf.start + 8 + 16;
  const frameEnd = anmf.start + 8 + anmf.length;
  const kept = new Plan('WebP');
  for (let pos = frameStart; pos < frameEnd;) {
    const chunk = await walk.chunkAt(pos, frameEnd);
    if (FRAME.has(chunk.type)) kept.keep(pos, chunk.end);
    pos = chunk.end;
  }
  if (kept.isWhole(frameEnd, frameStart)) return body.keep(anmf.start, anmf.end);
  const head = Buffer.alloc(8);
  head.write('ANMF', 0, 'latin1');
  head.writeUInt32LE(16 + kept.size, 4);
  body.insert(head);
  body.keep(anmf.start + 8, frameStart);
  for (const part of kept.parts) if (!Buffer.isBuffer(part)) body.keep(part.start, part.end);
}

function exifChunk(orientation: number): Buffer {
  const tiff = orientationTiff(orientation);
  const chunk = Buffer.alloc(8 + tiff.length); // 26 bytes: even, no padding
  chunk.write('EXIF', 0, 'latin1');
  chunk.writeUInt32LE(tiff.length, 4);
  tiff.copy(chunk, 8);
  return chunk;
}

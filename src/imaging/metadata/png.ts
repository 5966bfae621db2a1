/**
 * A PNG's metadata removal, by allow-list: the critical chunks and those that change how the
 * pixels render stay (colour: PLTE, tRNS, gAMA, cHRM, sRGB, iCCP, cICP, mDCV, cLLI, sBIT, bKGD;
 * pHYs; APNG's acTL, fcTL, fdAT); every other ancillary chunk goes (eXIf, tEXt, zTXt, iTXt, tIME,
 * tXMP, zxIf, caBX, and those nobody has named yet), and so does anything after IEND. The
 * orientation comes back as an eXIf holding that one tag.
 *
 * IEND is written as it should be (no data), whatever length it declares, and a file whose last
 * chunk ends exactly at the end of the file is given the IEND it lacks. A chunk that runs past the
 * end of the file, or an unknown critical chunk, is malformed.
 */
import { crc32 } from 'node:zlib';
import type { BlockReader } from '../block-reader.js';
import { MalformedStructure, type Plan, orientationTiff } from './plan.js';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const CRITICAL = new Set(['IHDR', 'PLTE', 'IDAT', 'IEND']);
const RENDERING = new Set([
  'tRNS',
  'gAMA',
  'cHRM',
  'sRGB',
  'iCCP',
  'cICP',
  'mDCV',
  'mDCv',
  'cLLI',
  'cLLi',
  'sBIT',
  'bKGD',
  'pHYs',
  'acTL',
  'fcTL',
  'fdAT',
]);
const IEND = chunk('IEND', Buffer.alloc(0));

export async function planPng(reader: BlockReader, plan: Plan, orientation: number | undefined): Promise<void> {
  let animated = false;
  const malformed = (reason: string) => new MalformedStructure('PNG', reason, animated);
  if (!(await reader.ensure(0, 8)) || !reader.copy(0, 8).equals(SIGNATURE))
    throw malformed('it does not start with the PNG signature');
  plan.keep(0, 8);
  for (let pos = 8; ;) {
    if (pos === reader.size && pos > 8) return plan.insert(IEND);
    if (!(await reader.ensure(pos, 8))) throw malformed(`the chunk at byte ${pos} is cut short`);
    plan.count();
    const length = reader.u32be(pos);
    const type = reader.latin1(pos + 4, 4);
    if (!/^[A-Za-z]{4}$/.test(type))
      throw malformed(`the chunk at byte ${pos} has no chunk type (${JSON.stringify(type)})`);
    if (pos === 8 && type !== 'IHDR') throw malformed(`its first chunk is ${type}, not IHDR`);
    if (type === 'IEND') {
      if (length === 0 && pos + 12 <= reader.size) plan.keep(pos, pos + 12);
      else plan.insert(IEND);
      return;
    }
    const end = pos + 12 + length;
    if (end > reader.size)
      throw malformed(`its ${type} chunk at byte ${pos} declares ${length} bytes, past the end of the file`);
    if (type === 'acTL') animated = true;
    if (CRITICAL.has(type) || RENDERING.has(type)) plan.keep(pos, end);
    else if (type.charCodeAt(0) < 0x61) throw malformed(`its ${type} chunk is critical but unknown`);
    if (type === 'IHDR' && orientation !== undefined) plan.insert(chunk('eXIf', orientationTiff(orientation)));
    pos = end;
  }
}

function chunk(type: string, data: Buffer): Buffer {
  const bytes = Buffer.alloc(12 + data.length);
  bytes.writeUInt32BE(data.length, 0);
  bytes.write(type, 4, 'latin1');
  data.copy(bytes, 8);
  bytes.writeUInt32BE(crc32(bytes.subarray(4, 8 + data.length)), 8 + data.length);
  return bytes;
}

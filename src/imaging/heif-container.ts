/**
 * Reading a HEIF file's container (ISO/IEC 23008-12, on the ISO base media file format) without
 * decoding it: what its brands say it is, which item is the primary image and how it is coded
 * (HEVC, or AV1 for AVIF), its size (`ispe`) and the rotation and mirroring (`irot`, `imir`) a
 * reader applies, its ICC profile (`colr`), and whether every byte of its image data is present.
 * That is enough to apply the byte and pixel limits before anything decodes it.
 *
 * Only boxes are read: the top-level box headers, then the `meta` box (at most MAX_META_BYTES)
 * whole, parsed by a cursor that refuses to read past the end of the box it is in.
 */
import type { ReadAt } from './block-reader.js';

/** Major brands of HEVC-coded HEIF images and sequences (image/heic). */
const HEIC_BRANDS = new Set(['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'hevm', 'hevs']);
/** Brands of any HEIF file, whose coding the primary item tells (image/heif when HEVC). */
const HEIF_BRANDS = new Set(['mif1', 'msf1', 'mif2', 'miaf']);
const AVIF_BRANDS = new Set(['avif', 'avis']);

/** A `meta` box larger than this is refused: an iPhone's is a few KiB, a 48 MP grid's under 64 KiB. */
const MAX_META_BYTES = 4 * 1024 * 1024;
/** Top-level boxes walked at most (a HEIF file has a handful: ftyp, meta, mdat…). */
const MAX_TOP_LEVEL_BOXES = 1000;
/**
 * Item extents read at most: an extent's fields can be 0 bytes wide, so the box's size alone does
 * not bound them (a 48 MP iPhone grid has about 200 items of one extent each).
 */
const MAX_EXTENTS = 100_000;
/** Derivation levels followed from the primary item (iden → grid → tiles is two). */
const MAX_DERIVATION_DEPTH = 4;

/** What the first bytes say: a HEIC for sure, a HEIF whose coding the container tells, or neither. */
export type HeifBrand = 'heic' | 'heif' | undefined;

/** Reads the `ftyp` box at the start of `head` (its first 64 bytes or more). */
export function heifBrandOf(head: Buffer): HeifBrand {
  if (head.length < 16 || head.toString('latin1', 4, 8) !== 'ftyp') return undefined;
  const size = Math.min(head.readUInt32BE(0), head.length);
  const major = head.toString('latin1', 8, 12);
  const compatible: string[] = [];
  for (let at = 16; at + 4 <= size; at += 4) compatible.push(head.toString('latin1', at, at + 4));
  if (HEIC_BRANDS.has(major)) return 'heic';
  if (AVIF_BRANDS.has(major)) return undefined;
  if (HEIF_BRANDS.has(major)) {
    // A mif1 file says what it holds in its compatible brands, or only in its items.
    if (compatible.some((brand) => AVIF_BRANDS.has(brand))) return undefined;
    return 'heif';
  }
  return undefined;
}

/** A HEIF file's primary image, as its container describes it. */
export interface HeifContainer {
  /** `image/heic` (a HEIC brand) or `image/heif` (a generic HEIF brand). */
  mimetype: 'image/heic' | 'image/heif';
  /** How the primary image is coded: `hevc`, `av1`, or the item type of anything else. */
  coding: string;
  /** The primary image's size as displayed (`ispe`, width and height swapped by a quarter turn). */
  width: number;
  height: number;
  /** Counter-clockwise quarter turns (`irot`) and mirroring (`imir`) a reader applies. */
  rotation: 0 | 90 | 180 | 270;
  mirror: 'vertical-axis' | 'horizontal-axis' | undefined;
  /** The ICC profile (`colr` of type `prof` or `rICC`), if any. */
  icc: Buffer | undefined;
  /** Images a reader lists (bursts and Live Photo stills have several); attach takes the primary. */
  topLevelImages: number;
  /** The primary's place among them, in item order (as libheif lists them). */
  primaryIndex: number;
  /** Whether the file ends before a box, or the primary image's data, does. */
  truncated: boolean;
}

/** The container cannot be followed; `reason` says where. */
export class MalformedHeif extends Error {
  /** @param truncated true when the reason is that the file ends early */
  constructor(
    readonly reason: string,
    readonly truncated = false,
  ) {
    super(`malformed HEIF: ${reason}`);
  }
}

interface Box {
  type: string;
  start: number;
  /** Where its content begins (after the header) and where it ends. */
  body: number;
  end: number;
}

/**
 * Reads the container of a HEIF file of `size` bytes.
 * @throws MalformedHeif when it cannot be followed (no meta box, a box running past its parent…)
 */
export async function readHeifContainer(readAt: ReadAt, size: number): Promise<HeifContainer> {
  const head = await readAt(0, 64);
  const brand = heifBrandOf(head);
  if (brand === undefined) throw new MalformedHeif('the file does not start with a HEIF ftyp box');
  let meta: Buffer | undefined;
  let truncated = false;
  let position = 0;
  for (let boxes = 0; position < size; boxes++) {
    if (boxes === MAX_TOP_LEVEL_BOXES) throw new MalformedHeif(`more than ${MAX_TOP_LEVEL_BOXES} top-level boxes`);
    const header = await readAt(position, 16);
    if (header.length < 8 || (header.readUInt32BE(0) === 1 && header.length < 16)) {
      truncated = true;
      break;
    }
    // A size of 0 means "to the end of the file".
    const box = boxAt(header, 0, header.length);
    const end = header.readUInt32BE(0) === 0 ? size : position + (box.end - box.start);
    if (end > size) truncated = true;
    if (box.type === 'meta' && meta === undefined) {
      if (end - position > MAX_META_BYTES)
        throw new MalformedHeif(`a meta box of ${end - position} bytes (at most ${MAX_META_BYTES})`);
      meta = await readAt(position, Math.min(end, size) - position);
    }
    position = end;
  }
  if (meta === undefined)
    throw new MalformedHeif(truncated ? 'the file ends before its meta box' : 'no meta box', truncated);
  const items = parseMeta(meta, truncated);
  return describePrimary(items, brand, size, truncated);
}

/** The box header at `at` in `bytes`, whose parent ends at `limit` (where a box of size 0 ends). */
function boxAt(bytes: Buffer, at: number, limit: number): Box {
  if (at + 8 > limit) throw new MalformedHeif(`a box header cut short at ${at}`);
  let size = bytes.readUInt32BE(at);
  const type = bytes.toString('latin1', at + 4, at + 8);
  let body = at + 8;
  if (size === 1) {
    if (at + 16 > bytes.length) throw new MalformedHeif(`a large box header cut short at ${at}`);
    const large = bytes.readBigUInt64BE(at + 8);
    if (large > BigInt(Number.MAX_SAFE_INTEGER)) throw new MalformedHeif(`a box of ${large} bytes`);
    size = Number(large);
    body = at + 16;
  } else if (size === 0) {
    return { type, start: at, body, end: limit };
  }
  if (size < body - at) throw new MalformedHeif(`a ${type} box of ${size} bytes`);
  return { type, start: at, body, end: at + size };
}

/** The boxes inside `bytes` from `start` to `end`, each checked to end within it. */
function* children(bytes: Buffer, start: number, end: number): Generator<Box> {
  for (let at = start; at < end;) {
    const box = boxAt(bytes, at, end);
    if (box.end > end) throw new MalformedHeif(`a ${box.type} box runs past its parent`);
    yield box;
    at = box.end;
  }
}

/** A reader of big-endian fields within one box, refusing to read past its end. */
class Cursor {
  constructor(
    private readonly bytes: Buffer,
    public at: number,
    private readonly end: number,
    private readonly what: string,
  ) {}

  private need(n: number): number {
    if (this.at + n > this.end) throw new MalformedHeif(`the ${this.what} box is cut short`);
    const at = this.at;
    this.at += n;
    return at;
  }

  u8(): number {
    return this.bytes[this.need(1)]!;
  }

  u16(): number {
    return this.bytes.readUInt16BE(this.need(2));
  }

  u32(): number {
    return this.bytes.readUInt32BE(this.need(4));
  }

  /** An unsigned field of 0, 4 or 8 bytes (iloc's sizes). */
  uint(bytes: number): number {
    if (bytes === 0) return 0;
    if (bytes === 4) return this.u32();
    if (bytes === 8) {
      const value = this.bytes.readBigUInt64BE(this.need(8));
      if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new MalformedHeif(`an offset of ${value} in ${this.what}`);
      return Number(value);
    }
    throw new MalformedHeif(`a field of ${bytes} bytes in ${this.what}`);
  }

  fourcc(): string {
    const at = this.need(4);
    return this.bytes.toString('latin1', at, at + 4);
  }

  /** A FullBox's version (its flags are returned by `flags()` read right after). */
  fullBox(): { version: number; flags: number } {
    const word = this.u32();
    return { version: word >>> 24, flags: word & 0xffffff };
  }

  slice(length: number): Buffer {
    const at = this.need(length);
    return this.bytes.subarray(at, at + length);
  }
}

interface Items {
  primary: number | undefined;
  types: Map<number, string>;
  hidden: Set<number>;
  /** References by type: from item → to items. */
  references: Map<string, Map<number, number[]>>;
  /** Properties of each item, in association order. */
  properties: Map<number, Property[]>;
  /** Byte extents in the file of each item (construction method 0 only). */
  extents: Map<number, Array<{ offset: number; length: number }>>;
}

type Property = { type: string; bytes: Buffer; body: number; end: number };

/** The items of a `meta` box; a box cut short by the end of the file (`truncated`) is read as far as it goes. */
function parseMeta(meta: Buffer, truncated: boolean): Items {
  const items: Items = {
    primary: undefined,
    types: new Map(),
    hidden: new Set(),
    references: new Map(),
    properties: new Map(),
    extents: new Map(),
  };
  const root = boxAt(meta, 0, meta.length);
  if (root.end > meta.length) throw new MalformedHeif('the file ends inside its meta box', truncated);
  // meta is a FullBox: its children start after version and flags.
  for (const box of children(meta, root.body + 4, root.end)) {
    const cursor = new Cursor(meta, box.body, box.end, box.type);
    if (box.type === 'pitm') {
      const { version } = cursor.fullBox();
      items.primary = version === 0 ? cursor.u16() : cursor.u32();
    } else if (box.type === 'iinf') {
      const { version } = cursor.fullBox();
      if (version === 0) cursor.u16();
      else cursor.u32();
      for (const infe of children(meta, cursor.at, box.end)) {
        if (infe.type !== 'infe') continue;
        const entry = new Cursor(meta, infe.body, infe.end, 'infe');
        const { version: v, flags } = entry.fullBox();
        if (v < 2) continue;
        const id = v === 2 ? entry.u16() : entry.u32();
        entry.u16(); // item_protection_index
        items.types.set(id, entry.fourcc());
        if (flags & 1) items.hidden.add(id);
      }
    } else if (box.type === 'iref') {
      const { version } = cursor.fullBox();
      for (const ref of children(meta, cursor.at, box.end)) {
        const entry = new Cursor(meta, ref.body, ref.end, ref.type);
        const from = version === 0 ? entry.u16() : entry.u32();
        const count = entry.u16();
        const to: number[] = [];
        for (let i = 0; i < count; i++) to.push(version === 0 ? entry.u16() : entry.u32());
        const byType = items.references.get(ref.type) ?? new Map<number, number[]>();
        items.references.set(ref.type, byType);
        const list = byType.get(from);
        if (list === undefined) byType.set(from, to);
        else for (const id of to) list.push(id);
      }
    } else if (box.type === 'iprp') {
      parseProperties(meta, box, items);
    } else if (box.type === 'iloc') {
      parseLocations(cursor, items);
    }
  }
  return items;
}

function parseProperties(meta: Buffer, iprp: Box, items: Items): void {
  const list: Property[] = [];
  const associations: Array<[number, number[]]> = [];
  for (const box of children(meta, iprp.body, iprp.end)) {
    if (box.type === 'ipco') {
      for (const property of children(meta, box.body, box.end))
        list.push({ type: property.type, bytes: meta, body: property.body, end: property.end });
    } else if (box.type === 'ipma') {
      const cursor = new Cursor(meta, box.body, box.end, 'ipma');
      const { version, flags } = cursor.fullBox();
      const count = cursor.u32();
      for (let i = 0; i < count; i++) {
        const id = version === 0 ? cursor.u16() : cursor.u32();
        const n = cursor.u8();
        const indexes: number[] = [];
        // The essential bit is the top one; 1-based indexes into ipco, 0 meaning none.
        for (let j = 0; j < n; j++) indexes.push(flags & 1 ? cursor.u16() & 0x7fff : cursor.u8() & 0x7f);
        associations.push([id, indexes]);
      }
    }
  }
  for (const [id, indexes] of associations)
    items.properties.set(
      id,
      indexes.filter((index) => index >= 1 && index <= list.length).map((index) => list[index - 1]!),
    );
}

function parseLocations(cursor: Cursor, items: Items): void {
  const { version } = cursor.fullBox();
  const sizes = cursor.u16();
  const offsetSize = sizes >> 12;
  const lengthSize = (sizes >> 8) & 0xf;
  const baseOffsetSize = (sizes >> 4) & 0xf;
  const indexSize = version >= 1 ? sizes & 0xf : 0;
  const count = version < 2 ? cursor.u16() : cursor.u32();
  let total = 0;
  for (let i = 0; i < count; i++) {
    const id = version < 2 ? cursor.u16() : cursor.u32();
    const method = version >= 1 ? cursor.u16() & 0xf : 0;
    cursor.u16(); // data_reference_index
    const base = cursor.uint(baseOffsetSize);
    const extentCount = cursor.u16();
    total += extentCount;
    if (total > MAX_EXTENTS) throw new MalformedHeif(`over ${MAX_EXTENTS} item extents`);
    const extents: Array<{ offset: number; length: number }> = [];
    for (let j = 0; j < extentCount; j++) {
      cursor.uint(indexSize);
      const offset = cursor.uint(offsetSize);
      const length = cursor.uint(lengthSize);
      extents.push({ offset: base + offset, length });
    }
    // Data in the file itself (method 0); idat (1) lives inside meta, which was read whole.
    if (method === 0) items.extents.set(id, extents);
  }
}

function describePrimary(items: Items, brand: 'heic' | 'heif', size: number, truncated: boolean): HeifContainer {
  const primary = items.primary ?? [...items.types.keys()][0];
  if (primary === undefined || !items.types.has(primary)) throw new MalformedHeif('no primary image item');
  // The items whose data make the primary image: itself, and what it derives from (grid tiles…).
  const parts = new Set<number>();
  const visit = (id: number, depth: number) => {
    if (depth > MAX_DERIVATION_DEPTH || parts.has(id)) return;
    parts.add(id);
    for (const source of items.references.get('dimg')?.get(id) ?? []) visit(source, depth + 1);
  };
  visit(primary, 0);
  const types = [...parts].map((id) => items.types.get(id));
  const coding = types.includes('hvc1') ? 'hevc' : types.includes('av01') ? 'av1' : (types[0] ?? 'unknown');
  for (const id of parts)
    for (const extent of items.extents.get(id) ?? []) if (extent.offset + extent.length > size) truncated = true;

  let ispe: { width: number; height: number } | undefined;
  let rotation: HeifContainer['rotation'] = 0;
  let mirror: HeifContainer['mirror'];
  let icc: Buffer | undefined;
  for (const property of items.properties.get(primary) ?? []) {
    const cursor = new Cursor(property.bytes, property.body, property.end, property.type);
    if (property.type === 'ispe') {
      cursor.fullBox();
      ispe = { width: cursor.u32(), height: cursor.u32() };
    } else if (property.type === 'irot') {
      rotation = ((cursor.u8() & 3) * 90) as HeifContainer['rotation'];
    } else if (property.type === 'imir') {
      mirror = cursor.u8() & 1 ? 'horizontal-axis' : 'vertical-axis';
    } else if (property.type === 'colr' && icc === undefined) {
      const kind = cursor.fourcc();
      if (kind === 'prof' || kind === 'rICC') icc = Buffer.from(cursor.slice(property.end - cursor.at));
    }
  }
  if (ispe === undefined || ispe.width === 0 || ispe.height === 0)
    throw new MalformedHeif('the primary image declares no size (ispe)');
  const turned = rotation === 90 || rotation === 270;
  const derived = new Set([...(items.references.get('dimg')?.values() ?? [])].flat());
  const auxiliary = new Set(['thmb', 'auxl'].flatMap((type) => [...(items.references.get(type)?.keys() ?? [])]));
  const IMAGE_TYPES = new Set(['hvc1', 'av01', 'grid', 'iden', 'iovl', 'jpeg', 'unci']);
  const topLevel = [...items.types]
    .filter(([id, type]) => IMAGE_TYPES.has(type) && !derived.has(id) && !auxiliary.has(id) && !items.hidden.has(id))
    .map(([id]) => id)
    .sort((a, b) => a - b);
  return {
    mimetype: brand === 'heic' ? 'image/heic' : 'image/heif',
    coding,
    width: turned ? ispe.height : ispe.width,
    height: turned ? ispe.width : ispe.height,
    rotation,
    mirror,
    icc,
    topLevelImages: topLevel.length,
    primaryIndex: Math.max(0, topLevel.indexOf(primary)),
    truncated,
  };
}

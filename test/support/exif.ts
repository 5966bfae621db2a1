/**
 * Photos as a phone makes them (camera make and model, a GPS position, an orientation), readers
 * of what tags an image still carries (ours, and exiftool), and the byte surgery that adds the
 * segments and chunks other cameras and tools write, for the metadata tests.
 */
import { spawnSync } from 'node:child_process';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';

export const PHONE_EXIF = {
  IFD0: { Make: 'Apple', Model: 'iPhone 15' },
  IFD3: {
    GPSLatitudeRef: 'N',
    GPSLatitude: '48/1 51/1 2400/100',
    GPSLongitudeRef: 'E',
    GPSLongitude: '2/1 21/1 300/100',
  },
};

/** A 40×30 image of noise in `format`, with the phone's EXIF and `orientation`. */
export async function phonePhoto(format: 'jpeg' | 'png' | 'webp', orientation = 6): Promise<Buffer> {
  const pixels = Buffer.alloc(40 * 30 * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7919) % 251;
  const image = sharp(pixels, { raw: { width: 40, height: 30, channels: 3 } });
  return image[format]()
    .withMetadata({ orientation })
    .withExifMerge(PHONE_EXIF)
    .withXmp(
      '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Model="iPhone 15"/></rdf:RDF></x:xmpmeta>',
    )
    .toBuffer();
}

/** The tags of IFD0 of an EXIF block (with or without its `Exif\0\0` prefix), by number. */
export function ifd0Tags(exif: Buffer | undefined): number[] {
  if (exif === undefined) return [];
  const tiff = exif.toString('latin1', 0, 6) === 'Exif\0\0' ? exif.subarray(6) : exif;
  const big = tiff.toString('latin1', 0, 2) === 'MM';
  const u16 = (at: number) => (big ? tiff.readUInt16BE(at) : tiff.readUInt16LE(at));
  const u32 = (at: number) => (big ? tiff.readUInt32BE(at) : tiff.readUInt32LE(at));
  const ifd = u32(4);
  return Array.from({ length: u16(ifd) }, (_, i) => u16(ifd + 2 + i * 12));
}

export const TAG = { Make: 0x010f, Model: 0x0110, Orientation: 0x0112, GPSInfo: 0x8825 };

// exiftool ---------------------------------------------------------------------------------------

/**
 * exiftool run with `args` on `bytes` (as its standard input): what it prints. exiftool is the
 * reader people use to find what a photo tells; it comes from Debian's libimage-exiftool-perl
 * (.ci/run installs it). Without it the tests that need it fail, saying so: they are not skipped.
 */
function exiftool(bytes: Buffer, args: string[]): Buffer {
  const run = spawnSync('exiftool', [...args, '-'], { input: bytes, maxBuffer: 64 * 1024 * 1024 });
  if (run.error !== undefined)
    throw new Error(`exiftool could not run (apt-get install libimage-exiftool-perl): ${run.error.message}`);
  if (run.status !== 0) throw new Error(`exiftool ${args.join(' ')} failed: ${run.stderr.toString()}`);
  return run.stdout;
}

/** Every tag exiftool reads in `bytes`, as `{ 'Group:Tag': value }` (`-j -a -G1 -n`: all, by group, as numbers). */
export function exifTags(bytes: Buffer): Record<string, unknown> {
  return (JSON.parse(exiftool(bytes, ['-j', '-a', '-G1', '-n']).toString()) as Array<Record<string, unknown>>)[0]!;
}

/** `bytes` with `assignments` (`-GPSLatitude=48.8584`…) written by exiftool. */
export function exiftoolWrite(bytes: Buffer, assignments: string[]): Buffer {
  return exiftool(bytes, ['-q', '-q', ...assignments, '-o', '-']);
}

/** A GPS position and serial numbers, in EXIF and XMP, as exiftool writes them. */
export const LOCATION_AND_SERIAL = [
  '-GPSLatitude=48.8584',
  '-GPSLatitudeRef=N',
  '-GPSLongitude=2.2945',
  '-GPSLongitudeRef=E',
  '-SerialNumber=SN-SECRET-1',
  '-LensSerialNumber=LENS-SECRET-2',
  '-XMP-exif:GPSLatitude=48.8584 N',
];

/**
 * The tags of `tags` that tell where, on what or by whom a picture was made, or carry another
 * picture: what a stripped image must not have. The colour profile's own header (its maker and
 * model are the profile's) is not counted.
 */
export function revealingTags(tags: Record<string, unknown>): string[] {
  return Object.keys(tags).filter((key) => {
    const [group = '', name = ''] = key.split(':');
    if (/^(ICC|System|File|ExifTool)/.test(group)) return false;
    if (/^(XMP|IPTC|JUMBF|C2PA|MPF|MPImage|GoPro|Photoshop|APP\d)/i.test(group)) return true;
    return /GPS|Serial|Make|Model|Comment|City|Thumbnail|Preview|MPImage|JFXX|Text|Author|Artist|Copyright|Software|Time|Date/i.test(
      name,
    );
  });
}

// Byte surgery -----------------------------------------------------------------------------------

export function jpegSegment(marker: number, payload: Buffer | string): Buffer {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'latin1');
  const head = Buffer.from([0xff, marker, 0, 0]);
  head.writeUInt16BE(2 + data.length, 2);
  return Buffer.concat([head, data]);
}

/** `jpeg` with `segments` right after SOI, `beforeEoi` just before its last EOI, and `trailer` after. */
export function jpegWith(jpeg: Buffer, parts: { afterSoi?: Buffer[]; beforeEoi?: Buffer[]; trailer?: Buffer }): Buffer {
  const eoi = jpeg.lastIndexOf(Buffer.from([0xff, 0xd9]));
  return Buffer.concat([
    jpeg.subarray(0, 2),
    ...(parts.afterSoi ?? []),
    jpeg.subarray(2, eoi),
    ...(parts.beforeEoi ?? []),
    jpeg.subarray(eoi),
    parts.trailer ?? Buffer.alloc(0),
  ]);
}

export function pngChunk(type: string, data: Buffer | string): Buffer {
  const body = Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1');
  const chunk = Buffer.alloc(12 + body.length);
  chunk.writeUInt32BE(body.length, 0);
  chunk.write(type, 4, 'latin1');
  body.copy(chunk, 8);
  chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + body.length)), 8 + body.length);
  return chunk;
}

/** `png` with `chunks` after IHDR (`afterIhdr`) or just before IEND (`beforeIend`). */
export function pngWith(png: Buffer, parts: { afterIhdr?: Buffer[]; beforeIend?: Buffer[] }): Buffer {
  const ihdrEnd = 8 + 12 + png.readUInt32BE(8);
  const iend = png.length - 12;
  return Buffer.concat([
    png.subarray(0, ihdrEnd),
    ...(parts.afterIhdr ?? []),
    png.subarray(ihdrEnd, iend),
    ...(parts.beforeIend ?? []),
    png.subarray(iend),
  ]);
}

export function webpChunk(type: string, data: Buffer | string): Buffer {
  const body = Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1');
  const head = Buffer.alloc(8);
  head.write(type, 0, 'latin1');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body, Buffer.alloc(body.length % 2)]);
}

/** The chunks of a WebP, by type, and the WebP with `chunks` appended (its RIFF size fixed). */
export function webpChunks(webp: Buffer): Map<string, Buffer> {
  const chunks = new Map<string, Buffer>();
  for (let at = 12; at + 8 <= webp.length;) {
    const length = webp.readUInt32LE(at + 4);
    chunks.set(webp.toString('latin1', at, at + 4), webp.subarray(at, at + 8 + length + (length % 2)));
    at += 8 + length + (length % 2);
  }
  return chunks;
}

export function webpWith(webp: Buffer, chunks: Buffer[]): Buffer {
  const out = Buffer.concat([webp, ...chunks]);
  out.writeUInt32LE(out.length - 8, 4);
  return out;
}

/** An XMP packet with a GPS position and a camera serial. */
export const XMP_WITH_GPS =
  '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:aux="http://ns.adobe.com/exif/1.0/aux/" exif:GPSLatitude="48,51.50N" exif:GPSLongitude="2,17.67E" aux:SerialNumber="SN-SECRET-XMP"/></rdf:RDF></x:xmpmeta>';

// Photos with everything -----------------------------------------------------------------------
// Each is made once per process (exiftool takes a while); callers must not change the bytes.

const made = new Map<string, Promise<Buffer>>();
function once(key: string, make: () => Promise<Buffer>): Promise<Buffer> {
  if (!made.has(key)) made.set(key, make());
  return made.get(key)!;
}

/** A tiny JPEG carrying its own GPS position: the thumbnails and secondary images cameras embed. */
async function jpegWithGps(): Promise<Buffer> {
  return exiftoolWrite(
    await sharp({ create: { width: 8, height: 8, channels: 3, background: '#c00' } })
      .jpeg()
      .toBuffer(),
    LOCATION_AND_SERIAL,
  );
}

/**
 * A JPEG with every kind of metadata seen in the wild: EXIF (GPS, serials), XMP, IPTC, COM, a
 * JFIF thumbnail and a JFXX one (with its own GPS), GoPro's APP6, a C2PA manifest (APP11 JUMBF),
 * APP1 and COM after the scan, and an MPF secondary image after EOI; plus an ICC profile and
 * orientation 6, which must stay.
 */
export function revealingJpeg(options: { progressive?: boolean } = {}): Promise<Buffer> {
  return once(`jpeg ${options.progressive === true}`, () => makeRevealingJpeg(options));
}

async function makeRevealingJpeg(options: { progressive?: boolean }): Promise<Buffer> {
  const photo = exiftoolWrite(
    await sharp(await phonePhoto('jpeg', 6))
      .jpeg({ progressive: options.progressive })
      .keepMetadata()
      .toBuffer(),
    [...LOCATION_AND_SERIAL, '-IPTC:City=Paris', '-Comment=SECRET-COMMENT'],
  );
  const jfif = Buffer.from('JFIF\0\x01\x02\x00\x00\x01\x00\x01\x01\x01\xff\x00\x00', 'latin1'); // with a 1×1 red thumbnail
  const thumbnail = await jpegWithGps();
  return jpegWith(photo, {
    afterSoi: [
      jpegSegment(0xe0, jfif),
      jpegSegment(0xe0, Buffer.concat([Buffer.from('JFXX\0\x10', 'latin1'), thumbnail])),
      jpegSegment(0xe6, 'GoPro\0SECRET-GOPRO-SERIAL'),
      jpegSegment(
        0xeb,
        Buffer.concat([
          Buffer.from('JP\0\x01\0\0\0\x01\0\0\0\x20jumb\0\0\0\x18jumdc2pa', 'latin1'),
          Buffer.from('SECRET-C2PA-MANIFEST'),
        ]),
      ),
      jpegSegment(0xef, 'SECRET-APP15'),
    ],
    beforeEoi: [
      jpegSegment(0xe1, `http://ns.adobe.com/xap/1.0/\0${XMP_WITH_GPS}`),
      jpegSegment(0xfe, 'SECRET-AFTER-SCAN'),
    ],
    trailer: thumbnail,
  });
}

/** A PNG with EXIF (GPS), XMP (iTXt and tXMP), tEXt, zTXt, tIME, zxIf, caBX and an unknown chunk; orientation 6 and ICC stay. */
export function revealingPng(): Promise<Buffer> {
  return once('png', async () => {
    const photo = exiftoolWrite(await phonePhoto('png', 6), LOCATION_AND_SERIAL);
    return pngWith(photo, {
      beforeIend: [
        pngChunk('tEXt', 'Comment\0SECRET-TEXT'),
        pngChunk('tXMP', XMP_WITH_GPS),
        pngChunk('zxIf', 'SECRET-ZXIF'),
        pngChunk('caBX', 'SECRET-C2PA-MANIFEST'),
        pngChunk('tIME', Buffer.from([0x07, 0xea, 12, 7, 23, 0, 0])),
        pngChunk('prVt', 'SECRET-PRIVATE'),
      ],
    });
  });
}

/** An extended WebP with EXIF (GPS), XMP, C2PA, lower-case `exif` and `xmp ` chunks; orientation 6 and ICC stay. */
export function revealingWebp(): Promise<Buffer> {
  return once('webp', async () => {
    const photo = exiftoolWrite(await phonePhoto('webp', 6), LOCATION_AND_SERIAL);
    return webpWith(photo, [
      webpChunk('C2PA', 'SECRET-C2PA-MANIFEST'),
      webpChunk('xmp ', XMP_WITH_GPS),
      webpChunk('exif', 'SECRET-EXIF'),
      webpChunk('ABCD', 'SECRET-UNKNOWN'),
    ]);
  });
}

/** A simple-format WebP (VP8, no VP8X) with EXIF and XMP chunks after its image, which exiftool reads. */
export function revealingSimpleWebp(): Promise<Buffer> {
  return once('simple webp', async () => {
    const rich = exiftoolWrite(await phonePhoto('webp', 1), LOCATION_AND_SERIAL);
    const plain = await sharp(rich).webp({ lossless: false }).toBuffer();
    const chunks = webpChunks(rich);
    return webpWith(plain, [chunks.get('EXIF')!, chunks.get('XMP ')!]);
  });
}

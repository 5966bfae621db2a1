/**
 * Photos as a phone makes them (camera make and model, a GPS position, an orientation), and a
 * reader of what EXIF tags an image still carries, for the metadata tests.
 */
import sharp from 'sharp';

export const PHONE_EXIF = {
  IFD0: { Make: 'Apple', Model: 'iPhone 15' },
  IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 2400/100', GPSLongitudeRef: 'E', GPSLongitude: '2/1 21/1 300/100' },
};

/** A 40×30 image of noise in `format`, with the phone's EXIF and `orientation`. */
export async function phonePhoto(format: 'jpeg' | 'png' | 'webp', orientation = 6): Promise<Buffer> {
  const pixels = Buffer.alloc(40 * 30 * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7919) % 251;
  return sharp(pixels, { raw: { width: 40, height: 30, channels: 3 } })
    [format]()
    .withMetadata({ orientation })
    .withExifMerge(PHONE_EXIF)
    .withXmp('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Model="iPhone 15"/></rdf:RDF></x:xmpmeta>')
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

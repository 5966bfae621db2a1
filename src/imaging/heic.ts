/**
 * HEIC/HEIF photos (what iPhones take) read, checked and turned into JPEG for storing. sharp's
 * prebuilt libvips reads HEIF's AV1 flavour (AVIF) but has no HEVC decoder, so HEIC is decoded
 * by the optional `heic-decode` package (libheif in WebAssembly, no system library), loaded only
 * when a HEIC arrives; a libvips that reads HEVC (a global one, `sharp.format.heif` listing
 * `.heic`) is used instead when there is one.
 *
 * The original is stored as JPEG (`image/jpeg`), not as HEIC: browsers other than Safari cannot
 * show HEIC, every thumbnail would need the WebAssembly decoder again, and Python's
 * SQLAlchemy-ImageAttach, reading the same rows, knows JPEG (`.jpe`) but not HEIC.
 *
 * Before anything decodes, the container (heif-container.ts) gives the type, the primary image's
 * size (limits), and whether its data is all there (truncation). The pixels come upright: libheif
 * applies the container's rotation and mirroring (`irot`, `imir`). The EXIF Orientation tag is
 * not applied on top: in HEIF it is informative only (ISO/IEC 23008-12), and an iPhone writes both,
 * so applying both would turn a portrait photo twice. The ICC profile is carried over; the rest of
 * the metadata (EXIF with its GPS position, XMP) is not, as for any stored original.
 */
import { open, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { InvalidImageError } from '../errors.js';
import { bytesReadAt, fileReadAt, type ReadAt } from './block-reader.js';
import { allowedDecoders } from './decoders.js';
import { type HeifContainer, heifBrandOf, MalformedHeif, readHeifContainer } from './heif-container.js';
import { sharp, sharpModule } from './sharp.js';

/** The quality of the JPEG a HEIC original is stored as: about what the phone's HEIC keeps. */
export const HEIC_JPEG_QUALITY = 90;

/** The package that decodes HEVC when libvips cannot; a variable only so tests can name a missing one. */
let decoderPackage = 'heic-decode';

/** For tests: the package name to load instead of `heic-decode` (one that is not installed, say). */
export function useHeicDecoderPackage(name: string): void {
  decoderPackage = name;
}

/** What decodes HEIC in this process: libvips itself, the `heic-decode` package, or nothing. */
export function heicDecoder(): 'sharp' | 'heic-decode' | undefined {
  if (sharpReadsHevc()) return 'sharp';
  try {
    createRequire(import.meta.url).resolve(decoderPackage);
    return 'heic-decode';
  } catch {
    return undefined;
  }
}

/** Whether sharp's libvips has an HEVC decoder: it then lists `.heic` among the HEIF suffixes. */
function sharpReadsHevc(): boolean {
  const suffixes = sharpModule().format.heif?.input.fileSuffix ?? [];
  return suffixes.includes('.heic');
}

/**
 * The container of `input` when its bytes are HEVC-coded HEIF (HEIC), else `undefined` (AVIF
 * and everything else are sharp's to read).
 * @throws InvalidImageError `ERR_IMAGE_TRUNCATED` (the file ends in its boxes), `ERR_IMAGE_UNREADABLE`
 */
export async function heicContainerOf(input: string | Buffer): Promise<HeifContainer | undefined> {
  const source = await openInput(input);
  try {
    if (heifBrandOf(await source.readAt(0, 64)) === undefined) return undefined;
    let container: HeifContainer;
    try {
      container = await readHeifContainer(source.readAt, source.size);
    } catch (error) {
      if (!(error instanceof MalformedHeif)) throw error;
      if (error.truncated) throw truncated(error);
      throw new InvalidImageError('ERR_IMAGE_UNREADABLE', `The HEIF image could not be read: ${error.reason}`, {
        statusCode: 400,
        data: { reason: error.reason },
        cause: error,
      });
    }
    return container.coding === 'hevc' ? container : undefined;
  } finally {
    await source.close();
  }
}

/**
 * Whether this process can decode a HEIC: the truncation and decoder checks a probe makes after
 * the type and pixel limits.
 * @throws InvalidImageError `ERR_IMAGE_TRUNCATED` (400); `ERR_HEIC_DECODER_MISSING` (415)
 */
export function checkHeicDecodable(container: HeifContainer): void {
  if (container.truncated) throw truncated(undefined);
  if (heicDecoder() === undefined) {
    throw new InvalidImageError(
      'ERR_HEIC_DECODER_MISSING',
      `Expected a HEIC decoder but none is installed: npm install heic-decode (or use a libvips that reads HEVC) to accept ${container.mimetype} images`,
      { statusCode: 415, data: { mimetype: container.mimetype, package: 'heic-decode' } },
    );
  }
}

/**
 * The primary image of a HEIC as JPEG bytes: upright, with its ICC profile and no other metadata.
 * @throws InvalidImageError `ERR_IMAGE_TRUNCATED`, `ERR_IMAGE_UNREADABLE` (400),
 *   `ERR_IMAGE_UNSUPPORTED_TYPE` (HEIC not among the allowed decoders), `ERR_HEIC_DECODER_MISSING` (415),
 *   `ERR_IMAGE_TOO_MANY_PIXELS` (413: decoded larger than its container said)
 */
export async function heicToJpeg(
  input: string | Buffer,
  maxPixels: number,
): Promise<{ data: Buffer; width: number; height: number }> {
  const container = await heicContainerOf(input);
  if (container === undefined)
    throw new InvalidImageError('ERR_IMAGE_UNREADABLE', 'Expected a HEIC image but the bytes are not one', {
      statusCode: 400,
    });
  const allowed = allowedDecoders();
  if (allowed !== undefined && !allowed.includes(container.mimetype)) {
    throw new InvalidImageError(
      'ERR_IMAGE_UNSUPPORTED_TYPE',
      `Expected one of ${allowed.join(', ')} (the decoders allowed in this process) but the bytes are ${container.mimetype}`,
      { statusCode: 415, data: { mimetype: container.mimetype, allowed } },
    );
  }
  checkHeicDecodable(container);
  if (heicDecoder() === 'sharp') {
    try {
      const { data, info } = await sharp(input, { limitInputPixels: maxPixels })
        .keepIccProfile()
        .jpeg({ quality: HEIC_JPEG_QUALITY })
        .toBuffer({ resolveWithObject: true });
      return { data, width: info.width, height: info.height };
    } catch (error) {
      throw undecodable(error);
    }
  }
  const decoded = await decodeWithWasm(input, container);
  if (decoded.width * decoded.height > maxPixels)
    throw new InvalidImageError(
      'ERR_IMAGE_TOO_MANY_PIXELS',
      `Expected at most ${maxPixels} pixels but the image decodes to ${decoded.width}×${decoded.height}`,
      { statusCode: 413, data: { width: decoded.width, height: decoded.height, maxPixels } },
    );
  const { data, width, height } = decoded;
  const jpeg = await sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), {
    raw: { width, height, channels: 4 },
  })
    .flatten({ background: '#ffffff' })
    .jpeg({ quality: HEIC_JPEG_QUALITY })
    .toBuffer();
  return { data: container.icc === undefined ? jpeg : withIccProfile(jpeg, container.icc), width, height };
}

interface HeicDecode {
  all(input: { buffer: Uint8Array }): Promise<
    Array<{
      width: number;
      height: number;
      decode(): Promise<{ width: number; height: number; data: Uint8ClampedArray }>;
    }> & {
      dispose(): void;
    }
  >;
}

/** The primary image's RGBA pixels, by `heic-decode` (libheif lists top-level images in item order). */
async function decodeWithWasm(
  input: string | Buffer,
  container: HeifContainer,
): Promise<{ width: number; height: number; data: Uint8ClampedArray }> {
  let decoder: HeicDecode;
  try {
    decoder = ((await import(decoderPackage)) as { default: HeicDecode }).default;
  } catch (error) {
    throw new InvalidImageError(
      'ERR_HEIC_DECODER_MISSING',
      `${decoderPackage} could not be loaded: npm install heic-decode`,
      {
        statusCode: 415,
        cause: error,
        data: { package: 'heic-decode' },
      },
    );
  }
  const buffer = Buffer.isBuffer(input) ? input : await readFile(input);
  let images: Awaited<ReturnType<HeicDecode['all']>>;
  try {
    images = await decoder.all({ buffer });
  } catch (error) {
    throw undecodable(error);
  }
  try {
    // The primary by its place, confirmed by its size (rotation applied, as the container says).
    const fits = (image: { width: number; height: number }) =>
      image.width === container.width && image.height === container.height;
    const primary = fits(images[container.primaryIndex] ?? { width: 0, height: 0 })
      ? images[container.primaryIndex]!
      : images.find(fits);
    if (primary === undefined)
      throw new InvalidImageError(
        'ERR_IMAGE_UNREADABLE',
        `The HEIF image could not be decoded: no image of ${container.width}×${container.height} (its primary) among ${images.length}`,
        { statusCode: 400 },
      );
    return await primary.decode();
  } catch (error) {
    throw undecodable(error);
  } finally {
    images.dispose();
  }
}

/** `jpeg` with `icc` as its colour profile: APP2 `ICC_PROFILE` segments right after the SOI (and JFIF APP0). */
export function withIccProfile(jpeg: Buffer, icc: Buffer): Buffer {
  const CHUNK = 65519; // 65535 - 2 (length) - 12 ('ICC_PROFILE\0') - 2 (sequence, count)
  const count = Math.ceil(icc.length / CHUNK);
  if (count > 255) return jpeg;
  const segments: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const piece = icc.subarray(i * CHUNK, (i + 1) * CHUNK);
    const header = Buffer.alloc(18);
    header.writeUInt16BE(0xffe2, 0);
    header.writeUInt16BE(2 + 14 + piece.length, 2);
    header.write('ICC_PROFILE\0', 4, 'latin1');
    header[16] = i + 1;
    header[17] = count;
    segments.push(header, piece);
  }
  // After APP0 (JFIF) when it comes first, as readers expect it there.
  let at = 2;
  if (jpeg.readUInt16BE(2) === 0xffe0) at = 4 + jpeg.readUInt16BE(4);
  return Buffer.concat([jpeg.subarray(0, at), ...segments, jpeg.subarray(at)]);
}

function truncated(cause: unknown): InvalidImageError {
  return new InvalidImageError('ERR_IMAGE_TRUNCATED', 'The image is truncated (its data ends early)', {
    statusCode: 400,
    cause,
  });
}

function undecodable(error: unknown): InvalidImageError {
  if (error instanceof InvalidImageError) return error;
  const detail = ((error as Error)?.message ?? '').split('\n')[0];
  return new InvalidImageError('ERR_IMAGE_UNREADABLE', `The HEIF image could not be decoded: ${detail}`, {
    statusCode: 400,
    cause: error,
  });
}

async function openInput(input: string | Buffer): Promise<{ readAt: ReadAt; size: number; close(): Promise<void> }> {
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

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
import { open } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { InvalidImageError } from '../errors.js';
import { bytesReadAt, fileReadAt, type ReadAt } from './block-reader.js';
import { allowedDecoders } from './decoders.js';
import { type HeifContainer, heifBrandOf, MalformedHeif, readHeifContainer } from './heif-container.js';
import { inRenderSlot } from './render-slots.js';
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
  if (heicDecoder() === undefined) throw missingDecoder(container);
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
  return inRenderSlot(() => decodeToJpeg(input, container, maxPixels));
}

async function decodeToJpeg(
  input: string | Buffer,
  container: HeifContainer,
  maxPixels: number,
): Promise<{ data: Buffer; width: number; height: number }> {
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

/**
 * The worker that runs `heic-decode` (CommonJS, evaluated): the primary image's RGBA pixels, by its
 * place among the top-level images (libheif lists them in item order), or else by its size.
 */
const WORKER = `
const { parentPort, workerData: job } = require('node:worker_threads');
const { readFile } = require('node:fs/promises');
(async () => {
  const decode = require(job.decoder);
  const buffer = job.buffer ?? (await readFile(job.path));
  const images = await decode.all({ buffer });
  try {
    const fits = (image) => image !== undefined && image.width === job.width && image.height === job.height;
    // By its place when libheif lists what the container does (a clean-aperture crop changes the
    // size), else by its size.
    const primary = images.length === job.count || fits(images[job.index]) ? images[job.index] : images.find(fits);
    if (primary === undefined) throw new Error('no image of ' + job.width + 'x' + job.height + ' (its primary) among ' + images.length);
    const { width, height, data } = await primary.decode();
    parentPort.postMessage({ width, height, data }, [data.buffer]);
  } finally {
    images.dispose();
  }
})().catch((error) => parentPort.postMessage({ error: String((error && error.message) || error) }));
`;

/**
 * The primary image's RGBA pixels, decoded by `heic-decode` in a worker thread: its WebAssembly
 * decode is synchronous (a 12 MP photo holds a thread for over a second, which must not be the
 * event loop's), and the memory it grows (about 130 MB for 12 MP, never returned by WebAssembly)
 * goes back when the worker ends.
 */
async function decodeWithWasm(
  input: string | Buffer,
  container: HeifContainer,
): Promise<{ width: number; height: number; data: Uint8Array }> {
  let decoder: string;
  try {
    decoder = createRequire(import.meta.url).resolve(decoderPackage);
  } catch (error) {
    throw missingDecoder(container, error);
  }
  const worker = new Worker(WORKER, {
    eval: true,
    execArgv: [],
    // libheif-js logs its failures to the console: they come back as errors instead.
    stdout: true,
    stderr: true,
    workerData: {
      decoder,
      path: typeof input === 'string' ? input : undefined,
      buffer: Buffer.isBuffer(input) ? input : undefined,
      index: container.primaryIndex,
      count: container.topLevelImages,
      width: container.width,
      height: container.height,
    },
  });
  worker.stdout.resume();
  worker.stderr.resume();
  try {
    const result = await new Promise<{ width: number; height: number; data: Uint8Array } | { error: string }>(
      (resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`the HEIC decoder's worker exited with ${code}`)));
      },
    );
    if ('error' in result) throw new Error(result.error);
    return result;
  } catch (error) {
    throw undecodable(error);
  } finally {
    await worker.terminate();
  }
}

function missingDecoder(container: { mimetype: string }, cause?: unknown): InvalidImageError {
  return new InvalidImageError(
    'ERR_HEIC_DECODER_MISSING',
    `Expected a HEIC decoder but none is installed: npm install heic-decode (or use a libvips that reads HEVC) to accept ${container.mimetype} images`,
    { statusCode: 415, cause, data: { mimetype: container.mimetype, package: 'heic-decode' } },
  );
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

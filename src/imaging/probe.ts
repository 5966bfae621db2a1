/**
 * Reading what an image is from its bytes (never from a file name or a client's header), and
 * enforcing the limits that keep a hostile upload from costing more than it should.
 *
 * Order matters: the byte limit is enforced while spooling, the type and pixel limits from the
 * header alone (sharp's `metadata()` does not decode pixels), and only then is the image decoded,
 * at a small size, to prove it is whole (a truncated JPEG has a perfectly good header).
 */
import type { Metadata } from 'sharp';
import { sharp } from './sharp.js';
import { type ImageAttachErrorCode, InvalidArgumentError, InvalidImageError } from '../errors.js';
import * as check from '../util/check.js';
import { decodeFailureOf, endsEarly } from './truncation.js';
import { allowConfiguredTypes } from './decoders.js';
import { checkHeicDecodable, heicContainerOf } from './heic.js';
import { DEFAULT_IMAGE_TYPES, READABLE_IMAGE_TYPES } from './image-types.js';

export { DEFAULT_IMAGE_TYPES, HEIC_TYPES, READABLE_IMAGE_TYPES } from './image-types.js';

export interface ImageLimits {
  /** The most bytes an input may have. Default 50 MiB. */
  maxBytes: number;
  /**
   * The most pixels (width × height, times frames) an input may declare. Default 50 million:
   * well under sharp's own 268 MP, since decoding cost grows with pixels (16000×16000 costs
   * 0.6 s of CPU), and a tiny PNG can declare a huge canvas.
   */
  maxPixels: number;
  /**
   * The mimetypes accepted. Default: JPEG, PNG, GIF, WebP, AVIF, TIFF, HEIC/HEIF (add `image/svg+xml`
   * to opt in). Configuring a type also lets sharp decode it in this process (see `allowDecoders`).
   */
  types: readonly string[];
  /**
   * The most pixels (width × height × frames) an animation may declare per byte of input, once
   * it declares over a million. Default 1000. Every frame is decoded onto the whole canvas, and
   * every thumbnail re-encodes every frame, so a frame of a few bytes costs a full canvas: a
   * 936-byte GIF of 39 frames of 1000×1000 cost 2.1 s of CPU. Real animations carry their
   * frames' pixels in their bytes (a few to a few hundred pixels per byte); stills are bounded
   * by `maxPixels` alone.
   */
  maxAnimationPixelsPerByte?: number;
}

export const DEFAULT_LIMITS: ImageLimits = {
  maxBytes: 50 * 1024 * 1024,
  maxPixels: 50_000_000,
  types: DEFAULT_IMAGE_TYPES,
  maxAnimationPixelsPerByte: 1000,
};

/** Animations declaring up to this many pixels cost little whatever their size in bytes. */
const CHEAP_ANIMATION_PIXELS = 1_000_000;

/**
 * Merges partial limits over the defaults, validating each.
 * @throws InvalidArgumentError naming the bad option
 */
export function resolveLimits(...layers: Array<Partial<ImageLimits> | undefined>): ImageLimits {
  const limits = Object.assign({}, DEFAULT_LIMITS, ...layers.map((l) => (l ? stripUndefined(l) : {}))) as ImageLimits;
  check.positiveInteger(limits.maxBytes, 'maxBytes');
  check.positiveInteger(limits.maxPixels, 'maxPixels');
  const perByte = limits.maxAnimationPixelsPerByte;
  if (perByte !== undefined && !(typeof perByte === 'number' && perByte > 0))
    throw new InvalidArgumentError('maxAnimationPixelsPerByte', 'a number > 0 (Infinity for no limit)', perByte);
  if (
    !Array.isArray(limits.types) ||
    limits.types.length === 0 ||
    !limits.types.every((t) => READABLE_IMAGE_TYPES.includes(t))
  ) {
    throw new InvalidArgumentError('types', `a non-empty list of ${READABLE_IMAGE_TYPES.join(', ')}`, limits.types);
  }
  // A configured type is one sharp must be able to decode (decoders.ts).
  allowConfiguredTypes(limits.types);
  return limits;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** What the bytes say an image is. Width and height are as displayed (EXIF orientation applied). */
export interface ProbedImage {
  mimetype: string;
  width: number;
  height: number;
  /** The file's size in bytes. */
  size: number;
  /** Width × height × frames: what decoding it costs, as the pixel limit counts it. */
  pixels: number;
  /**
   * The EXIF orientation (1 to 8; 1 when the image has none), kept when metadata is removed.
   * Optional for probes made elsewhere: attach then reads it from the header.
   */
  orientation?: number;
  /**
   * `false` when only the header was read (`probeImage(…, { decode: false })`, or `imageUpload()`
   * with `verifyDecode: false`): the bytes are not yet proven whole, so attach decodes them itself
   * (with thumbnails, their render is that proof). Absent means decoded.
   */
  decoded?: boolean;
}

export interface ProbeOptions {
  /**
   * Whether to decode the image (at a small size) to prove it whole. Default `true`. Pass `false`
   * only when the caller decodes the whole image next anyway (attaching with thumbnails does).
   */
  decode?: boolean;
}

const MIMETYPE_OF_FORMAT: Record<string, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  tiff: 'image/tiff',
  svg: 'image/svg+xml',
};

/**
 * Identifies and checks an image (a file path or a buffer) against `limits`.
 * A HEIC is read from its container (heic.ts), and only decoded by attach, which stores it as JPEG.
 * @throws InvalidImageError `ERR_IMAGE_EMPTY` (400), `ERR_IMAGE_TOO_LARGE` (413),
 *   `ERR_IMAGE_UNSUPPORTED_TYPE` or `ERR_HEIC_DECODER_MISSING` (415), `ERR_IMAGE_TOO_MANY_PIXELS` or `ERR_IMAGE_TOO_MANY_FRAMES` (413), `ERR_IMAGE_TRUNCATED` or
 *   `ERR_IMAGE_UNREADABLE` (400)
 */
export async function probeImage(
  input: string | Buffer,
  size: number,
  limits: ImageLimits,
  options: ProbeOptions = {},
): Promise<ProbedImage> {
  if (size === 0) throw new InvalidImageError('ERR_IMAGE_EMPTY', 'The image is empty (0 bytes)', { statusCode: 400 });
  if (size > limits.maxBytes) throw tooLarge(size, limits.maxBytes);

  // HEIC from its container: sharp's libvips may have no HEVC decoder, and it is never asked first.
  const heic = await heicContainerOf(input);
  if (heic !== undefined) {
    const { mimetype, width, height } = heic;
    if (!limits.types.includes(mimetype)) throw unsupportedType(mimetype, mimetype, limits);
    if (width * height > limits.maxPixels) throw tooManyPixels(width, height, 1, limits.maxPixels);
    checkHeicDecodable(heic);
    // Decoded once, at attach, where it becomes the JPEG to store; its data is all there.
    return { mimetype, width, height, size, pixels: width * height, orientation: 1, decoded: false };
  }

  let metadata: Metadata;
  try {
    // No pixel limit here: metadata reads the header only, and we check the size ourselves below.
    metadata = await sharp(input, { limitInputPixels: false }).metadata();
  } catch (error) {
    // A header cut short (a WebP of a few bytes) is a truncated image, not an unknown type.
    if (await endsEarly(input).catch(() => false)) throw await decodeFailureOf(error, input);
    throw unreadable(
      error,
      'ERR_IMAGE_UNSUPPORTED_TYPE',
      415,
      `Expected an image (${limits.types.join(', ')}) but the bytes are not one`,
    );
  }
  const mimetype = mimetypeOf(metadata);
  if (mimetype === undefined || !limits.types.includes(mimetype))
    throw unsupportedType(mimetype ?? `of format ${metadata.format}`, mimetype ?? metadata.format, limits);
  const width = metadata.autoOrient?.width ?? metadata.width;
  const height = metadata.autoOrient?.height ?? metadata.height;
  if (!width || !height) {
    throw new InvalidImageError('ERR_IMAGE_UNREADABLE', 'The image declares no width or height', { statusCode: 400 });
  }
  const frames = metadata.pages ?? 1;
  const pixels = width * height * frames;
  if (pixels > limits.maxPixels) throw tooManyPixels(width, height, frames, limits.maxPixels);
  checkAnimationCost(width, height, frames, size, limits);

  const orientation = metadata.orientation ?? 1;
  if (options.decode === false) return { mimetype, width, height, size, pixels, orientation, decoded: false };
  await proveWhole(input, limits.maxPixels, { animated: frames > 1 });
  return { mimetype, width, height, size, pixels, orientation };
}

/**
 * Decodes `input` at a small size to prove its data whole: shrink-on-load keeps this cheap for
 * JPEG and WebP, and sharp's default failOn ('warning') turns a premature end into an error.
 * With `animated`, every frame (an animation's thumbnails decode them all: a broken later frame
 * would otherwise pass here and fail every thumbnail).
 * @throws InvalidImageError `ERR_IMAGE_TRUNCATED` or `ERR_IMAGE_UNREADABLE` (400)
 */
export async function proveWhole(
  input: string | Buffer,
  maxPixels: number,
  options: { animated?: boolean } = {},
): Promise<void> {
  try {
    await sharp(input, { limitInputPixels: maxPixels, animated: options.animated === true })
      .resize({ width: 32, height: 32, fit: 'inside' })
      .raw()
      .toBuffer();
  } catch (error) {
    throw await decodeFailureOf(error, input);
  }
}

/**
 * A decoding error of sharp as our typed error: `ERR_IMAGE_TRUNCATED` when the data ends early,
 * else `ERR_IMAGE_UNREADABLE` (both 400).
 */
export function decodeFailure(error: unknown): InvalidImageError {
  if (error instanceof InvalidImageError) return error;
  const truncated = /premature|truncat|end of (file|stream|data)|unexpected end|not enough data/i.test(
    (error as Error)?.message ?? '',
  );
  return unreadable(
    error,
    truncated ? 'ERR_IMAGE_TRUNCATED' : 'ERR_IMAGE_UNREADABLE',
    400,
    truncated ? 'The image is truncated (its data ends early)' : 'The image could not be decoded',
  );
}

/**
 * Checks an earlier probe's result against (possibly other) limits without reading the file
 * again: the same bytes, type and pixel checks, with the same errors as {@link probeImage}.
 * @throws InvalidImageError `ERR_IMAGE_TOO_LARGE`, `ERR_IMAGE_UNSUPPORTED_TYPE`, `ERR_IMAGE_TOO_MANY_PIXELS` or `ERR_IMAGE_TOO_MANY_FRAMES`
 */
export function checkProbed(probed: ProbedImage, limits: ImageLimits): void {
  if (probed.size > limits.maxBytes) throw tooLarge(probed.size, limits.maxBytes);
  if (!limits.types.includes(probed.mimetype)) throw unsupportedType(probed.mimetype, probed.mimetype, limits);
  const frames = Math.max(1, Math.round(probed.pixels / (probed.width * probed.height)));
  if (probed.pixels > limits.maxPixels) throw tooManyPixels(probed.width, probed.height, frames, limits.maxPixels);
  checkAnimationCost(probed.width, probed.height, frames, probed.size, limits);
}

/** An animation may not declare far more pixels than its bytes could carry (see `maxAnimationPixelsPerByte`). */
function checkAnimationCost(width: number, height: number, frames: number, size: number, limits: ImageLimits): void {
  const pixels = width * height * frames;
  const perByte = limits.maxAnimationPixelsPerByte ?? DEFAULT_LIMITS.maxAnimationPixelsPerByte!;
  if (frames < 2 || pixels <= CHEAP_ANIMATION_PIXELS || pixels <= perByte * size) return;
  throw new InvalidImageError(
    'ERR_IMAGE_TOO_MANY_FRAMES',
    `Expected an animation of at most ${perByte} pixels per byte but the image declares ${width}×${height}×${frames} frames (${pixels} pixels) in ${size} bytes`,
    { statusCode: 413, data: { width, height, frames, pixels, size, maxAnimationPixelsPerByte: perByte } },
  );
}

/** The mimetype of what sharp read, or undefined for a format the library does not take. */
export function mimetypeOf(metadata: Metadata): string | undefined {
  if (metadata.format === 'heif') return metadata.compression === 'av1' ? 'image/avif' : undefined;
  return MIMETYPE_OF_FORMAT[metadata.format ?? ''];
}

export function tooLarge(size: number | undefined, maxBytes: number): InvalidImageError {
  return new InvalidImageError(
    'ERR_IMAGE_TOO_LARGE',
    `Expected at most ${maxBytes} bytes but the image ` + (size === undefined ? 'is larger' : `has ${size}`),
    { statusCode: 413, data: { size, maxBytes } },
  );
}

function unsupportedType(described: string, mimetype: string | undefined, limits: ImageLimits): InvalidImageError {
  return new InvalidImageError(
    'ERR_IMAGE_UNSUPPORTED_TYPE',
    `Expected one of ${limits.types.join(', ')} but the bytes are ${described}`,
    {
      statusCode: 415,
      data: { mimetype, allowed: limits.types },
    },
  );
}

function tooManyPixels(width: number, height: number, frames: number, maxPixels: number): InvalidImageError {
  const pixels = width * height * frames;
  return new InvalidImageError(
    'ERR_IMAGE_TOO_MANY_PIXELS',
    `Expected at most ${maxPixels} pixels but the image declares ${width}×${height}` +
      (frames > 1 ? `×${frames} frames` : '') +
      ` (${pixels} pixels)`,
    { statusCode: 413, data: { width, height, pixels, maxPixels } },
  );
}

function unreadable(
  cause: unknown,
  code: ImageAttachErrorCode,
  statusCode: number,
  message: string,
): InvalidImageError {
  const detail = ((cause as Error).message ?? '').split('\n')[0];
  return new InvalidImageError(code, detail ? `${message}: ${detail}` : message, { statusCode, cause });
}

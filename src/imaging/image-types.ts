/**
 * The image types the library knows, by mimetype: which it accepts unless told otherwise, and
 * which a `types` option may name. In a file of their own because both the limits (probe.ts) and
 * the decoder allow-list (decoders.ts) start from them.
 */

/** HEIC/HEIF photos (iPhones): HEVC-coded HEIF, stored as JPEG (see heic.ts). */
export const HEIC_TYPES: readonly string[] = ['image/heic', 'image/heif'];

/**
 * The image types attach accepts unless told otherwise. SVG is opt-in (it can carry script).
 * HEIC and HEIF need the optional `heic-decode` package, or a libvips that reads HEVC: without
 * either, such an upload is refused with `ERR_HEIC_DECODER_MISSING`, which says what to install.
 */
export const DEFAULT_IMAGE_TYPES: readonly string[] = [
  'image/jpeg',
  'image/png',
  'image/gif',
  'image/webp',
  'image/avif',
  'image/tiff',
  ...HEIC_TYPES,
];

/** Every type the library can read; `types` options choose among these. */
export const READABLE_IMAGE_TYPES: readonly string[] = [...DEFAULT_IMAGE_TYPES, 'image/svg+xml'];

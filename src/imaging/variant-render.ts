/**
 * Rendering a relation's named variants (variant-recipe.ts declares them) of one original: each
 * output cropped, fitted and encoded as its recipe says, every output from one decode of the
 * original (one-decode.ts), upright, and without metadata.
 */
import type {
  ConcreteVariantFormat,
  CropRect,
  FocalPoint,
  NormalizedVariant,
  ResolvedOutput,
} from './variant-recipe.js';
import type { BatchOriginal } from './thumbnail-batch.js';
import { renderInOneDecode } from './one-decode.js';

/** One variant to render, and which of its outputs (all of them, or the missing ones). */
export interface VariantJob {
  variant: NormalizedVariant;
  outputs: readonly ResolvedOutput[];
}

/** What the set says about the picture: where to centre `focal` crops, and the user's crop. Fractions of the upright picture. */
export interface VariantFrame {
  focal?: FocalPoint;
  crop?: CropRect;
}

/**
 * The original the variants are made of. Its width and height may be the stored or the displayed
 * size (a Python row records the stored one): the upright size is read from the file's header.
 */
export type VariantOriginal = BatchOriginal & { orientation?: number };

/** One rendered output: small enough to hold in memory until the transaction writes it. */
export interface RenderedVariant {
  variant: string;
  /** `1x`, `2x` or `640w`. */
  descriptor: string;
  format: ConcreteVariantFormat;
  mimetype: string;
  digest: string;
  width: number;
  height: number;
  data: Buffer;
}

/**
 * Renders `jobs` of `input` (a local path or the bytes) from one decode, in one of the process's
 * render slots (render-slots.ts), in the order the jobs and their outputs are given.
 * @throws InvalidImageError `ERR_IMAGE_TRUNCATED` / `ERR_IMAGE_UNREADABLE` when the bytes do not decode
 */
export async function renderVariants(
  input: string | Buffer,
  original: VariantOriginal,
  jobs: readonly VariantJob[],
  frame: VariantFrame,
  maxPixels: number,
): Promise<RenderedVariant[]> {
  const { variants } = await renderInOneDecode(
    input,
    original,
    { thumbnails: [], variants: jobs, frame, placeholderRaster: false },
    maxPixels,
  );
  return variants;
}

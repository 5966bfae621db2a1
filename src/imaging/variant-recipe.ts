/**
 * Named variants as a relation declares them (`imageAttachment(…, { variants: { avatar: {…} } })`):
 * the declaration's types, its checks, and the outputs each variant makes. An output is one file:
 * one variant, one density or width, one format. Its recipe digest goes in its file key, so a
 * changed recipe gives new URLs and only the outputs whose recipe changed are remade.
 */
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';
import * as check from '../util/check.js';
import { checkBackground, type ThumbnailBackground } from './background.js';

export const VARIANT_FITS = ['cover', 'contain', 'fill', 'inside', 'outside'] as const;
export type VariantFit = (typeof VARIANT_FITS)[number];

/** sharp's gravities, its two smart crops, and `focal`: the set's stored focal point (the centre when none). */
export const VARIANT_POSITIONS = [
  'centre',
  'center',
  'north',
  'northeast',
  'east',
  'southeast',
  'south',
  'southwest',
  'west',
  'northwest',
  'attention',
  'entropy',
  'focal',
] as const;
export type VariantPosition = (typeof VARIANT_POSITIONS)[number];

/** The encoded formats; `auto` is the original's family (see {@link resolveFormat}). */
export const VARIANT_FORMATS = ['avif', 'webp', 'jpeg', 'png', 'auto'] as const;
export type VariantFormat = (typeof VARIANT_FORMATS)[number];
export type ConcreteVariantFormat = Exclude<VariantFormat, 'auto'>;

export const VARIANT_MAKE = ['upload', 'queue', 'demand'] as const;
export type VariantMake = (typeof VARIANT_MAKE)[number];

/** The most outputs (densities or widths × formats, summed over variants) one relation may declare. */
export const MAX_VARIANT_OUTPUTS = 48;

/** Default quality per format, chosen in bench/README.md (AVIF at effort 2: see AVIF_EFFORT). */
export const DEFAULT_QUALITY: Readonly<Record<ConcreteVariantFormat, number>> = {
  avif: 50,
  webp: 75,
  jpeg: 80,
  png: 100,
};

/**
 * AVIF's encoder effort. At 2, a 96-pixel avatar encodes in ~7 ms and a 400×300 card in ~55 ms,
 * 10–15× faster than sharp's default 4, for the same bytes at 96 px and ~17 % more at 400×300
 * (bench/README.md has the table); 3 costs 5× more at 96 px for no fewer bytes.
 */
export const AVIF_EFFORT = 2;

/** Bumped when the rendering changes in a way that changes pixels: every output then gets a new digest. */
export const PIPELINE_VERSION = 1;

/** One named variant, as declared. */
export interface VariantDeclaration {
  /** The box's width in CSS pixels (the 1× output's width). */
  width: number;
  /** The box's height in CSS pixels; without it, the height follows the picture's aspect. */
  height?: number;
  /** How the picture fills the box. Default `cover` when a height is given, else `inside`. */
  fit?: VariantFit;
  /** Which part a `cover` crop keeps (or where `contain` places the picture). Default `focal`. */
  position?: VariantPosition;
  /** `user`: apply the set's stored crop rectangle first (default); `ignore`: crop the whole picture. */
  crop?: 'user' | 'ignore';
  /** The colour `contain` pads with, and transparent pixels are flattened onto for JPEG. */
  background?: ThumbnailBackground;
  /** Pixel densities, positive integers: `[1, 2]` makes a 1× and a 2× output (`srcset` `x` descriptors). */
  densities?: readonly number[];
  /** Output widths in pixels instead of densities (`srcset` `w` descriptors). */
  widths?: readonly number[];
  /** Formats, in the order `<source>`s are emitted; the last is the `<img>`'s. Default `['auto']`. */
  formats?: readonly VariantFormat[];
  /** 1–100, one number for every format or one per format. Defaults: {@link DEFAULT_QUALITY}. */
  quality?: number | Partial<Record<ConcreteVariantFormat, number>>;
  /** Make outputs larger than the picture (or its crop). Default false: they are clamped, keeping the aspect. */
  enlarge?: boolean;
  /** An animated original: `first` renders its first frame (default), `keep` keeps the animation (WebP only). */
  animated?: 'keep' | 'first';
  /** When outputs are made: at upload, by the queue after commit, or on first request (`variantRoute`). Default `upload`. */
  make?: VariantMake;
}

/** A relation's variants by name. Names are letters, digits, `_` and `-`, starting with a letter. */
export type VariantsDeclaration = Record<string, VariantDeclaration>;

/** A variant with every default filled in. */
export interface NormalizedVariant {
  name: string;
  width: number;
  height: number | undefined;
  fit: VariantFit;
  position: VariantPosition;
  crop: 'user' | 'ignore';
  background: ThumbnailBackground | undefined;
  /** `x` descriptors (`densities`) or `w` descriptors (`widths`). */
  descriptorKind: 'x' | 'w';
  /** The densities, or the widths. */
  steps: readonly number[];
  formats: readonly VariantFormat[];
  quality: Readonly<Record<ConcreteVariantFormat, number>>;
  enlarge: boolean;
  animated: 'keep' | 'first';
  make: VariantMake;
}

/** One declared output of a variant, before the original is known (`auto` unresolved). */
export interface DeclaredOutput {
  variant: string;
  /** `1x`, `2x`, or `640w`: the srcset descriptor, and the output's name in URLs. */
  descriptor: string;
  format: VariantFormat;
  /** The box the output fills, in pixels (before clamping to the picture). */
  boxWidth: number;
  boxHeight: number | undefined;
}

const VARIANT_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/;
const OPTIONS: ReadonlySet<string> = new Set([
  'width',
  'height',
  'fit',
  'position',
  'crop',
  'background',
  'densities',
  'widths',
  'formats',
  'quality',
  'enlarge',
  'animated',
  'make',
]);

/**
 * Checks a relation's `variants` option and fills in the defaults.
 * @throws InvalidArgumentError naming the bad variant or option (`variants.avatar.fit`)
 */
export function checkVariants(variants: unknown): ReadonlyMap<string, NormalizedVariant> {
  const normalized = new Map<string, NormalizedVariant>();
  if (variants === undefined) return normalized;
  check.object(variants, 'variants', 'an object of named variants');
  for (const [name, declaration] of Object.entries(variants)) {
    if (!VARIANT_NAME.test(name)) {
      throw new InvalidArgumentError(
        'variants',
        'variant names of letters, digits, "_" and "-", starting with a letter (at most 32)',
        name,
      );
    }
    normalized.set(name, normalizeVariant(name, declaration));
  }
  const outputs = [...normalized.values()].reduce((n, v) => n + v.steps.length * v.formats.length, 0);
  if (outputs > MAX_VARIANT_OUTPUTS) {
    throw new InvalidArgumentError(
      'variants',
      `at most ${MAX_VARIANT_OUTPUTS} outputs per relation (densities or widths × formats, over all variants)`,
      `${outputs} outputs`,
    );
  }
  return normalized;
}

function normalizeVariant(name: string, declaration: unknown): NormalizedVariant {
  const at = `variants.${name}`;
  check.object(declaration, at, 'a variant declaration ({ width, height?, fit?, … })');
  const d = declaration as VariantDeclaration;
  for (const option of Object.keys(d)) {
    if (!OPTIONS.has(option))
      throw new InvalidArgumentError(`${at}.${option}`, `one of ${[...OPTIONS].join(', ')}`, option);
  }
  check.positiveInteger(d.width, `${at}.width`);
  if (d.height !== undefined) check.positiveInteger(d.height, `${at}.height`);
  const fit = d.fit ?? (d.height === undefined ? 'inside' : 'cover');
  check.oneOf(fit, VARIANT_FITS, `${at}.fit`);
  if (d.height === undefined && fit !== 'inside' && fit !== 'outside') {
    throw new InvalidArgumentError(
      `${at}.height`,
      `a height for fit '${fit}' (only inside and outside work from a width alone)`,
      d.height,
    );
  }
  const position = d.position ?? 'focal';
  check.oneOf(position, VARIANT_POSITIONS, `${at}.position`);
  const crop = d.crop ?? 'user';
  check.oneOf(crop, ['user', 'ignore'] as const, `${at}.crop`);
  const background = checkBackground(d.background, `${at}.background`);
  if (d.densities !== undefined && d.widths !== undefined) {
    throw new InvalidArgumentError(`${at}.widths`, 'either densities or widths, not both', d.widths);
  }
  const descriptorKind = d.widths === undefined ? 'x' : 'w';
  const steps = d.widths ?? d.densities ?? [1];
  const stepsName = `${at}.${descriptorKind === 'w' ? 'widths' : 'densities'}`;
  if (!Array.isArray(steps) || steps.length === 0 || !steps.every((s) => Number.isSafeInteger(s) && s >= 1)) {
    throw new InvalidArgumentError(stepsName, 'a non-empty list of positive integers', steps);
  }
  if (new Set(steps).size !== steps.length) throw new InvalidArgumentError(stepsName, 'a list without repeats', steps);
  const formats = d.formats ?? ['auto'];
  if (!Array.isArray(formats) || formats.length === 0 || new Set(formats).size !== formats.length) {
    throw new InvalidArgumentError(
      `${at}.formats`,
      `a non-empty list of distinct ${VARIANT_FORMATS.join(', ')}`,
      formats,
    );
  }
  for (const format of formats) check.oneOf(format, VARIANT_FORMATS, `${at}.formats`);
  const animated = d.animated ?? 'first';
  check.oneOf(animated, ['keep', 'first'] as const, `${at}.animated`);
  if (d.enlarge !== undefined) check.boolean(d.enlarge, `${at}.enlarge`);
  const make = d.make ?? 'upload';
  check.oneOf(make, VARIANT_MAKE, `${at}.make`);
  return {
    name,
    width: d.width,
    height: d.height,
    fit,
    position,
    crop,
    background,
    descriptorKind,
    steps: [...steps].sort((a, b) => a - b),
    formats: [...formats],
    quality: checkQuality(d.quality, `${at}.quality`),
    enlarge: d.enlarge ?? false,
    animated,
    make,
  };
}

function checkQuality(quality: unknown, name: string): Record<ConcreteVariantFormat, number> {
  const inRange = (q: unknown, at: string): number => {
    check.integerIn(q, 1, 100, at);
    return q as number;
  };
  if (quality === undefined) return { ...DEFAULT_QUALITY };
  if (typeof quality === 'number') {
    const q = inRange(quality, name);
    return { avif: q, webp: q, jpeg: q, png: q };
  }
  check.object(quality, name, 'a number from 1 to 100, or one per format ({ avif: 50, webp: 75 })');
  const result = { ...DEFAULT_QUALITY };
  for (const [format, q] of Object.entries(quality)) {
    if (!(format in DEFAULT_QUALITY))
      throw new InvalidArgumentError(`${name}.${format}`, 'avif, webp, jpeg or png', format);
    result[format as ConcreteVariantFormat] = inRange(q, `${name}.${format}`);
  }
  return result;
}

/** Every output `variant` declares, in srcset order (smallest first), per format in declared order. */
export function declaredOutputs(variant: NormalizedVariant): DeclaredOutput[] {
  const outputs: DeclaredOutput[] = [];
  for (const format of variant.formats) {
    for (const step of variant.steps) {
      const boxWidth = variant.descriptorKind === 'x' ? variant.width * step : step;
      const boxHeight =
        variant.height === undefined ? undefined : Math.max(1, Math.round((variant.height * boxWidth) / variant.width));
      outputs.push({
        variant: variant.name,
        descriptor: `${step}${variant.descriptorKind}`,
        format,
        boxWidth,
        boxHeight,
      });
    }
  }
  return outputs;
}

/**
 * The concrete format of `format` for an original of `mimetype`: `auto` keeps the family (JPEG,
 * PNG, WebP, AVIF); GIF becomes PNG (WebP for `animated: 'keep'`), anything else JPEG.
 */
export function resolveFormat(
  format: VariantFormat,
  mimetype: string,
  animated: 'keep' | 'first' = 'first',
): ConcreteVariantFormat {
  if (format !== 'auto') return format;
  switch (mimetype) {
    case 'image/png':
      return 'png';
    case 'image/webp':
      return 'webp';
    case 'image/avif':
      return 'avif';
    case 'image/gif':
      return animated === 'keep' ? 'webp' : 'png';
    default:
      return 'jpeg';
  }
}

export const VARIANT_MIMETYPES: Readonly<Record<ConcreteVariantFormat, string>> = {
  avif: 'image/avif',
  webp: 'image/webp',
  jpeg: 'image/jpeg',
  png: 'image/png',
};

/**
 * The digest of one output's recipe: sha256 of its canonical JSON with the pipeline version,
 * first 12 hex digits. Per output, so a changed AVIF quality changes only the AVIF outputs'.
 */
export function recipeDigest(
  variant: NormalizedVariant,
  output: DeclaredOutput,
  format: ConcreteVariantFormat,
): string {
  const recipe = {
    pipeline: PIPELINE_VERSION,
    box: [output.boxWidth, output.boxHeight ?? null],
    fit: variant.fit,
    position: variant.position,
    crop: variant.crop,
    background: variant.background ?? null,
    format,
    quality: format === 'png' ? null : variant.quality[format],
    effort: format === 'avif' ? AVIF_EFFORT : null,
    enlarge: variant.enlarge,
    animated: variant.animated,
  };
  return createHash('sha256').update(canonicalJson(recipe)).digest('hex').slice(0, 12);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A point of the upright picture, as fractions of its width and height (0–1). */
export interface FocalPoint {
  x: number;
  y: number;
}

/** A rectangle of the upright picture, as fractions of its width and height (0–1). */
export interface CropRect {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** A declared output for one original: its format resolved, its mimetype and recipe digest. */
export interface ResolvedOutput extends DeclaredOutput {
  format: ConcreteVariantFormat;
  mimetype: string;
  digest: string;
}

/**
 * The outputs of `variant` for an original of `mimetype`: `auto` resolved, and an `auto` that
 * resolves to a format the variant also lists made once (the listed one's place is kept).
 */
export function resolveOutputs(variant: NormalizedVariant, mimetype: string): ResolvedOutput[] {
  const resolved: ResolvedOutput[] = [];
  for (const output of declaredOutputs(variant)) {
    const format = resolveFormat(output.format, mimetype, variant.animated);
    if (resolved.some((r) => r.descriptor === output.descriptor && r.format === format)) continue;
    if (output.format === 'auto' && variant.formats.includes(format)) continue;
    resolved.push({
      ...output,
      format,
      mimetype: VARIANT_MIMETYPES[format],
      digest: recipeDigest(variant, output, format),
    });
  }
  return resolved;
}

/**
 * The pixel size of `output` made of a source (the upright picture, after the user's crop) of
 * `source` pixels. Without `enlarge`, an output larger than the source is scaled down keeping its
 * aspect (sharp's `withoutEnlargement` would change it).
 */
export function outputDimensions(
  variant: NormalizedVariant,
  output: Pick<DeclaredOutput, 'boxWidth' | 'boxHeight'>,
  source: { width: number; height: number },
): { width: number; height: number } {
  const { boxWidth: W, boxHeight: H } = output;
  const { width: sw, height: sh } = source;
  const cap = (k: number) => (variant.enlarge ? k : Math.min(k, 1));
  const size = (w: number, h: number) => ({ width: Math.max(1, Math.round(w)), height: Math.max(1, Math.round(h)) });
  if (H === undefined || variant.fit === 'inside' || variant.fit === 'outside') {
    const byWidth = W / sw;
    const byHeight = H === undefined ? (variant.fit === 'inside' ? Infinity : 0) : H / sh;
    const k = cap(variant.fit === 'outside' ? Math.max(byWidth, byHeight) : Math.min(byWidth, byHeight));
    return size(sw * k, sh * k);
  }
  // cover and fill fill the box; contain pads it. Without enlarge the box shrinks, keeping its
  // aspect, until the picture is not enlarged: for cover and fill until it covers the box at its own
  // size, for contain until it touches one side.
  if (variant.enlarge) return size(W, H);
  const k = variant.fit === 'contain' ? Math.min(1, Math.max(sw / W, sh / H)) : Math.min(1, sw / W, sh / H);
  return size(W * k, H * k);
}

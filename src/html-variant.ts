/**
 * What the HTML helpers draw for a named variant (`pictureTag(set, { variant: 'avatar', alt })`):
 * per format, the outputs that can be shown now, the CSS box, and what is still to be made.
 *
 * An output can be shown when it is made of the loaded original (current), or made of it by an
 * older recipe (recipe-stale: served until remade, so a deploy that changes a recipe never
 * breaks a page), or when it is a `make: 'demand'` output and the app said where `variantRoute()`
 * answers (`demandUrl`). Outputs of a replaced original, or of an older focal point or crop
 * (source-stale), are never shown: `set.variant()` does not list them. Reads only loaded data.
 */
import type { HtmlAttributes, ImageSet, StoreOption, VariantState } from './entity/index.js';
import { variantDeclarations } from './entity/worker-api.js';
import { InvalidArgumentError } from './errors.js';
import { htmlElement } from './html-element.js';
import { outputDimensions, type ResolvedOutput, resolveOutputs } from './imaging/variant-recipe.js';

/**
 * Where `variantRoute()` answers for one output of a set: the URL the helpers emit for a
 * `make: 'demand'` output that is not made yet (the route makes it on the first request). It
 * must match the path the route is mounted at, e.g.
 * `(set, o) => \`/users/${set.owner.$id()}/picture/${o.variant}/${o.descriptor}.${o.format}\``.
 */
export type DemandUrl = (set: ImageSet, output: ResolvedOutput) => string;

/** One `srcset` candidate. */
export interface VariantCandidate {
  url: string;
  /** `1x`, `2x`, or `640w` (the output's real width, which a small original may have clamped). */
  descriptor: string;
}

/** The candidates of one format, smallest first. */
export interface VariantFormatPlan {
  format: ResolvedOutput['format'];
  mimetype: string;
  candidates: VariantCandidate[];
}

export interface VariantPlan {
  state: VariantState;
  /** Every declared format in declared order, each with what can be shown of it (maybe nothing). */
  formats: VariantFormatPlan[];
  /** `x` (densities: no `sizes`) or `w` (widths: `sizes` needed). */
  descriptorKind: 'x' | 'w';
  /** Outputs that can be shown in no way yet: what a bound queue is asked for. */
  unavailable: ResolvedOutput[];
  /** The `<img>`'s stand-in when its format has nothing: the original drawn in the box. */
  fallback: { url: string; style: string };
}

export interface VariantPlanOptions extends StoreOption {
  demandUrl?: DemandUrl | undefined;
}

/**
 * The plan of `set`'s variant `name`.
 * @throws InvalidArgumentError for a name the relation does not declare; ImageNotFoundError when
 *   the set has no original; ImageAttachError `ERR_IMAGE_SET_NOT_LOADED` when it is not loaded
 */
export function planVariant(set: ImageSet, name: string, options: VariantPlanOptions): VariantPlan {
  if (typeof name !== 'string') throw new InvalidArgumentError('options.variant', 'a variant name', name);
  const original = set.requireOriginal();
  const state = variantState(set, name);
  const declaration = state.declaration;
  const { store, demandUrl } = options;
  const made = new Map(state.outputs.map((output) => [`${output.descriptor}.${output.format}`, output]));
  const stale = new Map(state.stale.map((output) => [`${output.descriptor}.${output.format}`, output]));
  const formats: VariantFormatPlan[] = [];
  const unavailable: ResolvedOutput[] = [];
  for (const output of resolveOutputs(declaration, original.mimetype)) {
    let plan = formats.find((f) => f.format === output.format);
    if (plan === undefined) {
      plan = { format: output.format, mimetype: output.mimetype, candidates: [] };
      formats.push(plan);
    }
    const file =
      made.get(`${output.descriptor}.${output.format}`) ?? stale.get(`${output.descriptor}.${output.format}`);
    if (file !== undefined) {
      plan.candidates.push({ url: file.locate({ store }), descriptor: descriptorOf(output, file.width) });
    } else if (declaration.make === 'demand' && demandUrl !== undefined) {
      const { width } = outputDimensions(declaration, output, original);
      plan.candidates.push({ url: demandUrl(set, output), descriptor: descriptorOf(output, width) });
    } else {
      unavailable.push(output);
    }
  }
  const focal = set.focalPoint ?? { x: 0.5, y: 0.5 };
  // `inside`/`outside` boxes follow the picture's aspect, so `cover` draws it whole there too.
  const objectFit = declaration.fit === 'contain' || declaration.fit === 'fill' ? declaration.fit : 'cover';
  const percent = (fraction: number) => `${Math.round(fraction * 10000) / 100}%`;
  return {
    state,
    formats,
    descriptorKind: declaration.descriptorKind,
    unavailable,
    fallback: {
      url: original.locate({ store }),
      // aspect-ratio: with the common `img { height: auto }`, the width and height attributes
      // alone would give the box the original's shape once it loads, not the variant's.
      style: `aspect-ratio: ${state.box.width} / ${state.box.height}; object-fit: ${objectFit}; object-position: ${percent(focal.x)} ${percent(focal.y)}`,
    },
  };
}

/** The `srcset` value of candidates, URLs made safe for its syntax. */
export function candidatesSrcset(candidates: readonly VariantCandidate[]): string {
  // Whitespace or a comma would end the URL early in srcset's syntax: encode them.
  return candidates
    .map(
      (c) =>
        `${c.url.replace(/[\t\n\f\r ,]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`)} ${c.descriptor}`,
    )
    .join(', ');
}

/** `set.variant(name)`, with an unknown name refused the same way whatever the entity layer throws. */
function variantState(set: ImageSet, name: string): VariantState {
  const declared = [...variantDeclarations(set).keys()];
  if (!declared.includes(name)) {
    throw new InvalidArgumentError(
      'options.variant',
      declared.length === 0
        ? `a declared variant (the ${set.relationName} relation declares none)`
        : `one of the ${set.relationName} relation's variants (${declared.join(', ')})`,
      name,
    );
  }
  return set.variant(name);
}

function descriptorOf(output: ResolvedOutput, width: number): string {
  return output.descriptor.endsWith('w') ? `${width}w` : output.descriptor;
}

/** What the variant tags take of `ImgTagOptions` (see html.ts). */
export interface VariantTagOptions extends VariantPlanOptions {
  alt: string;
  class?: string | undefined;
  loading?: 'lazy' | 'eager' | undefined;
  sizes?: string | undefined;
  attributes?: HtmlAttributes | undefined;
}

/**
 * The `<img>` of a variant: its last format's outputs (the one format every browser shows, when
 * the declaration ends with `auto` or `jpeg`), drawn in the variant's box. When that format has
 * nothing yet, the original stands in, drawn in the same box as the output would be (cropped at
 * the focal point by `object-fit`), so nothing moves when the outputs arrive.
 */
export function variantImgElement(plan: VariantPlan, options: VariantTagOptions, sizes: string | undefined): string {
  const last = plan.formats[plan.formats.length - 1]!;
  const { box } = plan.state;
  const useOriginal = last.candidates.length === 0;
  const first = last.candidates[0];
  const own: HtmlAttributes = {
    src: useOriginal ? plan.fallback.url : first!.url,
    srcset:
      useOriginal || (plan.descriptorKind === 'x' && last.candidates.length === 1)
        ? undefined
        : candidatesSrcset(last.candidates),
    sizes: useOriginal || plan.descriptorKind === 'x' ? undefined : sizes,
    width: box.width,
    height: box.height,
    alt: options.alt,
    class: options.class,
    loading: options.loading,
  };
  return htmlElement(
    'img',
    withStyle(own, useOriginal ? plan.fallback.style : undefined, options.attributes),
    withoutStyle(options.attributes),
  );
}

/** The `<picture>` of a variant: a `<source type>` per format with something to show, then its `<img>`. */
export function variantPictureElement(plan: VariantPlan, options: VariantTagOptions): string {
  const sizes = plan.descriptorKind === 'w' ? (options.sizes ?? `${plan.state.box.width}px`) : undefined;
  let html = '<picture>';
  const last = plan.formats[plan.formats.length - 1]!;
  for (const format of plan.formats) {
    // The <img>'s own format needs no <source> when it has candidates: the <img> carries them.
    if (format.candidates.length === 0 || (format === last && last.candidates.length > 0)) continue;
    html += htmlElement('source', { type: format.mimetype, srcset: candidatesSrcset(format.candidates), sizes });
  }
  return `${html}${variantImgElement(plan, options, sizes)}</picture>`;
}

/** An `object-fit` style for the stand-in, joined with a caller's own `style`. */
function withStyle(own: HtmlAttributes, style: string | undefined, extra: HtmlAttributes | undefined): HtmlAttributes {
  const callers = extra?.style;
  if (style === undefined) return callers === undefined ? own : { ...own, style: callers };
  return { ...own, style: callers === undefined || callers === false ? style : `${style}; ${String(callers)}` };
}

function withoutStyle(extra: HtmlAttributes | undefined): HtmlAttributes | undefined {
  if (extra === undefined || extra === null || typeof extra !== 'object' || !('style' in extra)) return extra;
  const { style: _style, ...rest } = extra;
  return rest;
}

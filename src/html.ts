/**
 * HTML helpers for templates: `<img>`, `srcset` and `<picture>` from loaded image sets.
 *
 * They read only what is loaded (owners fetched with `withGraphFetched('picture')`), and ask the
 * store for URLs, which is computation: a page of a hundred owners renders with no query and no
 * store I/O. They need the store context (a request after `app.use(storeContext(store))`, or
 * `withStore`), or a `store` option. Every attribute value is HTML-escaped, and attribute names
 * are checked, so no value reaching a helper can break out of its tag.
 */
import type { NextFunction, Request, Response } from 'express';
import type { Model } from 'objection';
import { type HtmlAttributes, type ImageEntity, ImageSet, type StoreOption } from './entity/index.js';
import { InvalidArgumentError } from './errors.js';
import * as check from './util/check.js';
import { htmlElement } from './html-element.js';
import { placeholderAttributes, type PlaceholderOption, withPlaceholderStyle } from './html-placeholder.js';
import { thumbnailDimensions } from './imaging/thumbnail.js';
import type { EnqueueOptions, ThumbnailRequest } from './queue/requests.js';
import {
  candidatesSrcset,
  type DemandUrl,
  planVariant,
  variantImgElement,
  variantPictureElement,
} from './html-variant.js';

export type { DemandUrl } from './html-variant.js';

export interface ImgTagOptions extends StoreOption {
  /** The text alternative; required (`''` for a purely decorative image). */
  alt: string;
  /**
   * A named variant of the set's relation (`'avatar'`): its outputs instead of the set's images,
   * drawn in the variant's box (so no `width`/`height` with it). See docs/variants.md.
   */
  variant?: string;
  /**
   * Where `variantRoute()` answers, for `make: 'demand'` outputs not made yet (see
   * {@link DemandUrl}); without it such outputs count as missing. Usually given once to `htmlHelpers()`.
   */
  demandUrl?: DemandUrl;
  /** The display width in CSS pixels; picks the image too (see {@link imgTag}). */
  width?: number;
  /** The display height in CSS pixels; picks the image when no width is given. */
  height?: number;
  class?: string;
  /** `lazy` defers off-screen images; browsers default to `eager`. */
  loading?: 'lazy' | 'eager';
  /**
   * The `sizes` attribute (`(max-width: 600px) 100vw, 400px`). With a set, giving it also emits
   * a `srcset` of every width present, so the browser picks by screen density and layout.
   */
  sizes?: string;
  /** More attributes (`id`, `data-*`, `style`…). Naming one the helper sets (`src`, `alt`…) throws. */
  attributes?: HtmlAttributes;
  /**
   * Show the set's placeholder in the image's box while it loads (relations with
   * `placeholder: 'thumbhash'`): `true` (a `style` attribute), `'class'` (a class and a
   * `<style nonce>`), `'color'` (the average colour, no `data:`); see docs/html.md. Left out for
   * images with alpha unless `{ mode, alpha: true }`, and when the set has none for its original.
   */
  placeholder?: PlaceholderOption;
  /** The page's CSP nonce, for the `<style>` of `placeholder: 'class'` (required) or `'color'`. */
  nonce?: string;
}

export interface SrcsetOptions extends StoreOption {
  /** Only images of this type (`image/webp`). Default: the types an `<img>` gets (see {@link imgTag}). */
  type?: string;
  /** A named variant: its outputs of `type` (default: its last format, the `<img>`'s), `1x, 2x` or `w` descriptors. */
  variant?: string;
  /** See {@link ImgTagOptions.demandUrl}. */
  demandUrl?: DemandUrl;
}

/** Types a `<source type>` is worth emitting for: browsers without them fall back to the `<img>`. */
const MODERN_TYPES: readonly string[] = ['image/avif', 'image/webp'];
/** Types every browser shows in a plain `<img>`. */
const UNIVERSAL_TYPES: readonly string[] = ['image/jpeg', 'image/png', 'image/gif'];

/**
 * An `<img>` of an image, or of the best image of a loaded set for the size asked:
 *
 * - it picks among the set's images an `<img>` can show anywhere: the original's type and JPEG,
 *   PNG, GIF (AVIF and WebP thumbnails are left to {@link pictureTag}'s `<source>`s);
 * - with `width`, the image exactly that wide; else the narrowest one wider (the browser scales it
 *   down, sharp); else the original (scaled up by the attributes: nothing sharper exists);
 *   with only `height`, the same by height; with neither, the original;
 * - `width` and `height` attributes are those asked; a missing one is what the thumbnail of that
 *   size has (`thumbnailDimensions` of the original: truncated, as thumbnail sizes are); with
 *   neither, the image's own size, so the page does not shift while it loads.
 *
 * **While a thumbnail is not ready** (its job still queued, or it was never made), the tag falls
 * back to the next wider image of the set, the original at worst, drawn at the thumbnail's size:
 * the same attributes the thumbnail will get, so the layout does not move when it arrives. The
 * helpers only ever emit URLs of images in the loaded set, never one of an image still to be made,
 * so a page never shows a broken image; and they read no database and no store to find out.
 *
 * **With `variant`**, the `<img>` is the variant's last format (`1x, 2x` or `w` candidates) in the
 * variant's box; while that format has nothing, the original stands in, drawn in that box with
 * `object-fit` at the focal point. The one URL of something not made yet it may emit is that of
 * `variantRoute()` for a `make: 'demand'` output, when `demandUrl` says where the route is: the
 * route makes it on request. See docs/variants.md.
 *
 * @throws ImageNotFoundError when the set has no original; ImageAttachError
 *   `ERR_IMAGE_SET_NOT_LOADED` when its relation is not loaded; InvalidArgumentError for a bad option
 * @example imgTag(imageSet(user, 'picture'), { width: 100, alt: user.name, loading: 'lazy' })
 * // <img src="http://…/user-picture/1/0/1.100x75.jpe?_ts=…" width="100" height="75" alt="Ann" loading="lazy">
 */
export function imgTag(source: ImageEntity | ImageSet, options: ImgTagOptions): string {
  const { css, tag } = imgParts(source, options);
  return css + tag;
}

/** The `<img>` of {@link imgTag}, and the placeholder's `<style>` that goes before it (or `''`). */
function imgParts(source: ImageEntity | ImageSet, options: ImgTagOptions): { css: string; tag: string } {
  validateOptions(options);
  if (options.variant !== undefined) {
    check.instanceOf(source, ImageSet, 'source', 'an ImageSet (imageSet(owner, relation)) for a variant');
    const plan = planVariant(source, options.variant, options);
    const sizes = plan.descriptorKind === 'w' ? (options.sizes ?? `${plan.state.box.width}px`) : undefined;
    const placeholder = placeholderAttributes(source, options);
    const img = variantImgElement(
      plan,
      { ...options, class: placeholder.class, attributes: placeholder.attributes },
      sizes,
    );
    return { css: placeholder.css, tag: withStyleFirst(img, placeholder.style) };
  }
  const { width, height, store } = options;
  const image = source instanceof ImageSet ? pick(source, width, height) : assertImage(source);
  // A set is drawn at its thumbnail's size whichever image stands in for it (see above).
  const [displayWidth, displayHeight] = displaySize(
    source instanceof ImageSet ? source.requireOriginal() : image,
    width,
    height,
  );
  const sizes = options.sizes;
  const placeholder = placeholderAttributes(source, options);
  const tag = withPlaceholderStyle(
    element(
      'img',
      {
        src: image.locate({ store }),
        srcset: sizes !== undefined && source instanceof ImageSet ? srcset(source, { store }) : undefined,
        sizes,
        width: displayWidth,
        height: displayHeight,
        alt: options.alt,
        class: placeholder.class,
        loading: options.loading,
      },
      placeholder.attributes,
    ),
    placeholder.style,
  );
  return { css: placeholder.css, tag };
}

/**
 * `tag` with a placeholder's ` style="…"` (from placeholderAttributes): joined before the style
 * the tag has (a variant's stand-in has one), else added.
 */
function withStyleFirst(tag: string, style: string): string {
  if (style === '') return tag;
  const at = tag.indexOf(' style="');
  if (at === -1 || at > tag.indexOf('>')) return withPlaceholderStyle(tag, style);
  const start = at + ' style="'.length;
  return `${tag.slice(0, start)}${style.slice(' style="'.length, -1)};${tag.slice(start)}`;
}

/**
 * A `srcset` value (`url 100w, url 400w, url 1600w`) of a loaded set's images, narrowest first,
 * one per width: by default of the types an `<img>` gets (see {@link imgTag}), or of `type`.
 * @example <img src="…" srcset="<%= srcset(set) %>" sizes="(max-width: 600px) 100vw, 400px" alt="">
 */
export function srcset(set: ImageSet, options: SrcsetOptions = {}): string {
  check.instanceOf(set, ImageSet, 'set', 'an ImageSet (imageSet(owner, relation))');
  if (options.variant !== undefined) {
    const formats = planVariant(set, options.variant, options).formats;
    const format =
      options.type === undefined ? formats[formats.length - 1] : formats.find((f) => f.mimetype === options.type);
    return candidatesSrcset(format?.candidates ?? []);
  }
  const images =
    options.type === undefined ? imgCandidates(set) : set.images.filter((image) => image.mimetype === options.type);
  const seen = new Set<number>();
  const entries: string[] = [];
  for (const image of [...images].sort((a, b) => a.width - b.width)) {
    if (seen.has(image.width)) continue;
    seen.add(image.width);
    // Whitespace (space, tab, newline…) or a comma would end the URL early in srcset's syntax: encode them.
    entries.push(`${image.locate({ store: options.store }).replace(/[\t\n\f\r ,]/g, percentEncode)} ${image.width}w`);
  }
  return entries.join(', ');
}

/**
 * A `<picture>`: a `<source>` for each of AVIF and WebP when the loaded set has thumbnails of that
 * type (browsers that read it take the first), then the {@link imgTag} of the set, with a
 * `srcset` too. `sizes` defaults to the display width in pixels.
 * @example pictureTag(imageSet(user, 'picture'), { width: 400, alt: user.name })
 * // <picture><source type="image/webp" srcset="… 800w" sizes="400px"><img src="…" srcset="…" sizes="400px" width="400" height="300" alt="Ann"></picture>
 */
export function pictureTag(set: ImageSet, options: ImgTagOptions): string {
  check.instanceOf(set, ImageSet, 'set', 'an ImageSet (imageSet(owner, relation))');
  validateOptions(options);
  if (options.variant !== undefined) {
    const placeholder = placeholderAttributes(set, options);
    const picture = variantPictureElement(planVariant(set, options.variant, options), {
      ...options,
      class: placeholder.class,
      attributes: placeholder.attributes,
    });
    // The <img> is the picture's last element.
    const at = picture.lastIndexOf('<img ');
    const end = picture.length - '</picture>'.length;
    const img = withStyleFirst(picture.slice(at, end), placeholder.style);
    return `${placeholder.css}${picture.slice(0, at)}${img}</picture>`;
  }
  const sizes = options.sizes ?? `${displaySize(set.requireOriginal(), options.width, options.height)[0]}px`;
  const fallbackTypes = new Set(imgCandidates(set).map((i) => i.mimetype));
  let html = '<picture>';
  for (const type of MODERN_TYPES) {
    if (fallbackTypes.has(type) || !set.images.some((i) => i.mimetype === type)) continue;
    html += element('source', { type, srcset: srcset(set, { type, store: options.store }), sizes });
  }
  // The placeholder's <style> goes before the <picture>, whose children are only sources and the <img>.
  const { css, tag } = imgParts(set, { ...options, sizes });
  return `${css}${html}${tag}</picture>`;
}

/** What the helpers use of a thumbnail queue: a `ThumbnailQueue` (see `thumbnailQueue()`). */
export interface HelperQueue {
  enqueue(owner: Model, relationName: string, requests: ThumbnailRequest[], options?: EnqueueOptions): Promise<unknown>;
  /** Queues a set's missing variant outputs (a `ThumbnailQueue` has it); without it, variants are not asked for. */
  enqueueVariants?(owner: Model, relationName: string, names: string[], options?: EnqueueOptions): Promise<unknown>;
}

export interface HelperDefaults extends StoreOption {
  /**
   * A thumbnail queue: an `imgTag` or `pictureTag` of a set asking for a width (or, alone, a
   * height) the set has no `<img>` image of also queues that thumbnail, in the original's format,
   * without waiting (the page shows the stand-in meanwhile; see {@link imgTag}). Sizes as large as
   * the original or larger are not queued: thumbnails never enlarge. A thumbnail already queued
   * joins its job, but each such tag still costs a Redis round trip while it is missing.
   */
  queue?: HelperQueue;
  /** Where `variantRoute()` answers, for every helper call (see {@link ImgTagOptions.demandUrl}). */
  demandUrl?: DemandUrl;
  /** Told when such an enqueue fails (Redis down: `ERR_QUEUE_UNAVAILABLE`). Default: a process warning. */
  onEnqueueError?: (error: Error) => void;
}

/** The helpers `htmlHelpers()` returns, and `imageHelpers()` puts on `res.locals`. */
export interface HtmlHelpers {
  imgTag(source: ImageEntity | ImageSet, options: ImgTagOptions): string;
  srcset(set: ImageSet, options?: SrcsetOptions): string;
  pictureTag(set: ImageSet, options: ImgTagOptions): string;
}

declare global {
  namespace Express {
    /**
     * `res.locals` (and `app.locals`) carry the helpers once `imageHelpers()` (or
     * `Object.assign(app.locals, htmlHelpers())`) is mounted: typed here, as `@types/multer` types
     * `req.file`, so route code calls them without a cast.
     */
    interface Locals extends HtmlHelpers {}
  }
}

/**
 * The helpers as an object, bound to `store` (and `queue`) when given:
 * `Object.assign(app.locals, htmlHelpers())`.
 */
export function htmlHelpers(defaults: HelperDefaults = {}): HtmlHelpers {
  const withStore = <T extends StoreOption>(options: T | undefined): T =>
    ({ store: defaults.store, demandUrl: defaults.demandUrl, ...options }) as unknown as T;
  return {
    imgTag(source: ImageEntity | ImageSet, options: ImgTagOptions): string {
      const html = imgTag(source, withStore(options));
      if (source instanceof ImageSet) enqueueMissing(defaults, source, withStore(options));
      return html;
    },
    srcset: (set: ImageSet, options?: SrcsetOptions) => srcset(set, withStore(options)),
    pictureTag(set: ImageSet, options: ImgTagOptions): string {
      const html = pictureTag(set, withStore(options));
      enqueueMissing(defaults, set, withStore(options));
      return html;
    },
  };
}

/** Queues the thumbnail a tag asked for and the set lacks, if a queue is given; never throws. */
function enqueueMissing(defaults: HelperDefaults, set: ImageSet, options: ImgTagOptions): void {
  const { queue } = defaults;
  if (queue === undefined) return;
  if (options.variant !== undefined) return enqueueMissingVariant(defaults, queue, set, options);
  const side = options.width !== undefined ? 'width' : options.height !== undefined ? 'height' : undefined;
  if (side === undefined) return;
  const wanted = options[side]!;
  // The tag has rendered, so the set is loaded and has an original.
  if (wanted >= set.requireOriginal()[side] || imgCandidates(set).some((image) => image[side] === wanted)) return;
  const size: ThumbnailRequest = side === 'width' ? { width: wanted } : { height: wanted };
  const enqueueOptions: EnqueueOptions = {
    subset: set.subset,
    ...(options.store === undefined ? {} : { store: options.store }),
  };
  // Fire and forget: the page does not wait for Redis, and a failure only means no thumbnail yet.
  queue.enqueue(set.owner, set.relationName, [size], enqueueOptions).catch(reporter(defaults));
}

/**
 * Queues a variant's outputs the page could not show (neither made, nor recipe-stale, nor
 * reachable through `variantRoute()`), if the queue takes variants; never throws.
 */
function enqueueMissingVariant(
  defaults: HelperDefaults,
  queue: HelperQueue,
  set: ImageSet,
  options: ImgTagOptions,
): void {
  if (queue.enqueueVariants === undefined) return;
  // The tag has rendered: the name is declared and the set loaded.
  const { unavailable } = planVariant(set, options.variant!, options);
  if (unavailable.length === 0) return;
  const enqueueOptions: EnqueueOptions = {
    subset: set.subset,
    ...(options.store === undefined ? {} : { store: options.store }),
  };
  queue.enqueueVariants(set.owner, set.relationName, [options.variant!], enqueueOptions).catch(reporter(defaults));
}

/** The `catch` of a fire-and-forget enqueue: tells `onEnqueueError` (or warns), never rethrows. */
function reporter(defaults: HelperDefaults): (error: unknown) => void {
  const report = defaults.onEnqueueError ?? ((error: Error) => process.emitWarning(error));
  return (error: unknown) => {
    try {
      report(error instanceof Error ? error : new Error(String(error)));
    } catch {
      // A failing reporter must not become an unhandled rejection.
    }
  };
}

/**
 * Middleware putting `imgTag`, `srcset` and `pictureTag` on `res.locals`, so every view engine
 * (EJS, Pug, Nunjucks, Handlebars…) can call them. Mount it after `storeContext(store)`, or give
 * `{ store }`; give `{ queue }` to have missing thumbnails queued (see {@link HelperDefaults}).
 * In EJS, print them unescaped: `<%- imgTag(set, { width: 100, alt: '' }) %>`.
 * @example app.use(storeContext(store), imageHelpers({ queue }))
 */
export function imageHelpers(defaults: HelperDefaults = {}) {
  const helpers = htmlHelpers(defaults);
  return function imageHelpersMiddleware(_req: Request, res: Response, next: NextFunction): void {
    Object.assign(res.locals, helpers);
    next();
  };
}

/** The set's images an `<img>` may show anywhere (see {@link imgTag}). */
function imgCandidates(set: ImageSet): ImageEntity[] {
  const original = set.requireOriginal();
  return set.images.filter((image) => image.mimetype === original.mimetype || UNIVERSAL_TYPES.includes(image.mimetype));
}

function pick(set: ImageSet, width: number | undefined, height: number | undefined): ImageEntity {
  const original = set.requireOriginal();
  const side = width !== undefined ? 'width' : height !== undefined ? 'height' : undefined;
  if (side === undefined) return original;
  const wanted = (side === 'width' ? width : height)!;
  const images = imgCandidates(set).sort((a, b) => a[side] - b[side]);
  return images.find((image) => image[side] === wanted) ?? images.find((image) => image[side] > wanted) ?? original;
}

/**
 * The `width` and `height` attributes: those asked; one asked, the size a thumbnail of `image`
 * (the set's original) of that side has, by the library's own truncation rule; none, its own.
 */
function displaySize(image: ImageEntity, width: number | undefined, height: number | undefined): [number, number] {
  if (width !== undefined && height !== undefined) return [width, height];
  if (width === undefined && height === undefined) return [image.width, image.height];
  const size = thumbnailDimensions(image.width, image.height, width !== undefined ? { width } : { height: height! });
  return [size.width, size.height];
}

function assertImage(image: ImageEntity): ImageEntity {
  if (image === null || typeof image !== 'object' || typeof (image as Partial<ImageEntity>).locate !== 'function') {
    throw new InvalidArgumentError('source', 'an image (a row of an Image model) or an ImageSet', image);
  }
  return image;
}

function validateOptions(options: ImgTagOptions): void {
  check.object(options, 'options', 'an object with alt');
  check.string(options.alt, 'options.alt', "a string (use '' for a decorative image)");
  for (const side of ['width', 'height'] as const) {
    const value = options[side];
    if (value !== undefined) check.positiveInteger(value, `options.${side}`);
  }
  if (options.loading !== undefined) check.oneOf(options.loading, ['lazy', 'eager'], 'options.loading');
  if (options.variant !== undefined) {
    check.string(options.variant, 'options.variant', 'a variant name');
    for (const side of ['width', 'height'] as const) {
      if (options[side] !== undefined)
        throw new InvalidArgumentError(
          `options.${side}`,
          'no width or height with a variant (its box is declared)',
          options[side],
        );
    }
  }
  if (options.demandUrl !== undefined)
    check.func(options.demandUrl, 'options.demandUrl', 'a function (set, output) => URL');
  for (const name of ['class', 'sizes'] as const) {
    if (options[name] !== undefined) check.string(options[name], `options.${name}`);
  }
}

/** `,` → `%2C`, a tab → `%09`. */
function percentEncode(character: string): string {
  return `%${character.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;
}

/** `<name …>` through the library's one element builder (see html-element.ts). */
function element(name: string, attributes: HtmlAttributes, extra?: HtmlAttributes): string {
  return htmlElement(name, attributes, extra);
}

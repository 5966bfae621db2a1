/**
 * What `imgTag`/`pictureTag` add for `placeholder`: the stored placeholder drawn as the `<img>`'s own
 * CSS background, so its box shows the picture's colours until the image, drawn over it, covers it.
 * No client JavaScript: the browser paints a background before the image arrives.
 *
 * Three ways, for three Content-Security-Policies:
 * - `true`: a `style` attribute with the blurred picture (needs `style-src 'unsafe-inline'` and
 *   `img-src data:`);
 * - `'class'`: a class, and a `<style nonce>` rule with the blurred picture (needs the page's
 *   nonce and `img-src data:`);
 * - `'color'`: a class naming the average colour, rounded to 12 bits (`oia-c-a3f`); its rule comes
 *   in a `<style nonce>` when a nonce is given, or else from {@link placeholderColorsCss}, served as
 *   a stylesheet of the app's own. No `data:`, no inline style.
 */
import { createHash } from 'node:crypto';
import escapeHtml from 'escape-html';
import { InvalidArgumentError } from './errors.js';
import { type HtmlAttributes, type ImageEntity, ImageSet } from './entity/index.js';
import { placeholderDeclared } from './entity/worker-api.js';
import type { Placeholder } from './imaging/placeholder.js';
import * as check from './util/check.js';

/** How a placeholder is drawn (see the module comment). */
export type PlaceholderMode = true | 'color' | 'class';

/** `placeholder` of `imgTag`/`pictureTag`: a mode, or a mode and whether to draw it under an image with alpha. */
export type PlaceholderOption =
  | PlaceholderMode
  | false
  | {
      mode: PlaceholderMode;
      /**
       * Draw it under an image that has transparent pixels too (default false: the placeholder
       * would show through them once the image has loaded).
       */
      alpha?: boolean;
    };

/** The placeholder's part of a tag: attributes of the `<img>` and a `<style>` to emit before it. */
export interface PlaceholderMarkup {
  style?: string;
  className?: string;
  /** `''` or a `<style nonce>` element. */
  css: string;
}

const NO_MARKUP: PlaceholderMarkup = { css: '' };
const COLOR = /^#[0-9a-f]{6}$/;
const DATA_URI = /^data:image\/webp;base64,[A-Za-z0-9+/]+={0,2}$/;
/** A CSP nonce is base64 (RFC 7617's `nonce-source`); anything else could not match a policy anyway. */
const NONCE = /^[A-Za-z0-9+/_-]+={0,2}$/;

/**
 * The `<img>` attributes of a tag with `options.placeholder`: its class and style (the caller's
 * own class and `attributes.style` kept, after the placeholder's), the caller's other attributes,
 * and the `<style>` element to emit before the tag.
 * @throws InvalidArgumentError for a bad option, or a placeholder asked of a lone image (only a
 *   set knows its placeholder)
 */
export function placeholderAttributes(
  source: ImageEntity | ImageSet,
  options: { class?: string; attributes?: HtmlAttributes; placeholder?: PlaceholderOption; nonce?: string },
): {
  class: string | undefined;
  /** `''`, or ` style="…"` to add with {@link withPlaceholderStyle}. */
  style: string;
  attributes: HtmlAttributes | undefined;
  css: string;
} {
  const asked = options.placeholder !== undefined && options.placeholder !== false;
  if (asked && !(source instanceof ImageSet)) {
    throw new InvalidArgumentError(
      'options.placeholder',
      'an ImageSet to draw (imageSet(owner, relation)): a placeholder belongs to a set',
      options.placeholder,
    );
  }
  const markup = placeholderMarkup(
    // Read only when asked, and of a relation that makes them: nothing else needs the meta row loaded.
    asked && source instanceof ImageSet && placeholderDeclared(source.owner, source.relationName)
      ? source.placeholder
      : undefined,
    options.placeholder,
    options.nonce,
  );
  let { attributes } = options;
  let style = '';
  if (markup.style !== undefined) {
    const styleKey =
      typeof attributes === 'object' && attributes !== null
        ? Object.keys(attributes).find((key) => key.toLowerCase() === 'style')
        : undefined;
    let own: unknown;
    if (styleKey !== undefined) {
      // The caller's style comes after the placeholder's, so its own background wins.
      const { [styleKey]: value, ...rest } = attributes!;
      [own, attributes] = [value, rest];
    }
    // Written as is: drawnOf() admits only a colour and a base64 data URI, nothing HTML escapes (and
    // escaping 200 characters per tag was most of the placeholder's cost to a page). The caller's part is escaped.
    const caller = own === undefined || own === false ? '' : `;${escapeHtml(String(own))}`;
    style = ` style="${markup.style}${caller}"`;
  }
  const className =
    markup.className === undefined
      ? options.class
      : [options.class, markup.className].filter((name) => name !== undefined && name !== '').join(' ');
  return { class: className, style, attributes, css: markup.css };
}

/** `tag` (an element's start tag, `<img …>`) with the `style` of {@link placeholderAttributes} added. */
export function withPlaceholderStyle(tag: string, style: string): string {
  return style === '' ? tag : `${tag.slice(0, -1)}${style}>`;
}

/**
 * The markup of `placeholder` (the set's, or `undefined` when it has none for its original) drawn
 * the way `option` says; nothing when there is none, or the image has alpha and `alpha` is not set.
 * @throws InvalidArgumentError for a bad option, or `'class'` without a nonce
 */
export function placeholderMarkup(
  placeholder: Placeholder | undefined,
  option: PlaceholderOption | undefined,
  nonce: string | undefined,
): PlaceholderMarkup {
  const { mode, alpha } = checkOption(option);
  if (nonce !== undefined && (typeof nonce !== 'string' || !NONCE.test(nonce)))
    throw new InvalidArgumentError('options.nonce', "the page's CSP nonce (base64 characters)", nonce);
  if (mode === 'class' && nonce === undefined) {
    throw new InvalidArgumentError(
      'options.nonce',
      "the page's CSP nonce with placeholder: 'class' (or placeholder: true for a style attribute)",
      nonce,
    );
  }
  if (mode === undefined || placeholder === undefined) return NO_MARKUP;
  const drawn = drawnOf(placeholder);
  if (drawn === undefined || (placeholder.alpha && !alpha)) return NO_MARKUP;
  if (mode === 'color')
    return { className: drawn.colorClass, css: nonce === undefined ? '' : styleElement(nonce, drawn.colorRule) };
  if (mode === true) return { style: drawn.background, css: '' };
  return { className: drawn.pictureClass, css: styleElement(nonce!, drawn.pictureRule) };
}

/** What a placeholder draws as, worked out once per loaded placeholder (a page may draw it many times). */
interface Drawn {
  background: string;
  /** One class per picture: the same picture twice on a page gives the same rule twice, which is harmless. */
  pictureClass: string;
  pictureRule: string;
  colorClass: string;
  colorRule: string;
}

const drawnCache = new WeakMap<Placeholder, Drawn | null>();

/** The placeholder's CSS, or `undefined` when it is not what the library writes (see {@link wellFormed}). */
function drawnOf(placeholder: Placeholder): Drawn | undefined {
  let drawn = drawnCache.get(placeholder);
  if (drawn === undefined) {
    if (wellFormed(placeholder)) {
      const background = `background:${placeholder.color} url(${placeholder.dataUri}) 50%/cover`;
      const pictureClass = `oia-p-${createHash('sha256').update(placeholder.dataUri).digest('hex').slice(0, 12)}`;
      const colorClassName = colorClass(placeholder.color);
      drawn = {
        background,
        pictureClass,
        pictureRule: `.${pictureClass}{${background}}`,
        colorClass: colorClassName,
        colorRule: colorRule(colorClassName),
      };
    } else drawn = null;
    if (typeof placeholder === 'object' && placeholder !== null) drawnCache.set(placeholder, drawn);
  }
  return drawn ?? undefined;
}

/**
 * The stylesheet `placeholder: 'color'` relies on when no nonce is given: one rule per 12-bit
 * colour (4096 rules, 110 KB, about 20 KB gzipped, 8 KB with brotli). Serve it as a file of the
 * app's (so `style-src 'self'` allows it) with a long cache lifetime; it never changes.
 * @example app.get('/placeholder-colors.css', (req, res) => res.type('css').set('Cache-Control', 'public, max-age=31536000').send(css))
 */
export function placeholderColorsCss(): string {
  const digits = '0123456789abcdef';
  let css = '';
  for (const r of digits) for (const g of digits) for (const b of digits) css += colorRule(`oia-c-${r}${g}${b}`);
  return css;
}

/**
 * Whether a stored placeholder is what this library writes. Its values go into CSS unescaped (a
 * `<style>` element's text cannot be HTML-escaped), so a row edited by hand into anything else is
 * left out rather than emitted.
 */
function wellFormed(placeholder: Placeholder | undefined): placeholder is Placeholder {
  return (
    placeholder !== undefined &&
    placeholder !== null &&
    typeof placeholder.color === 'string' &&
    COLOR.test(placeholder.color) &&
    typeof placeholder.dataUri === 'string' &&
    DATA_URI.test(placeholder.dataUri)
  );
}

/** `#a8f03c` → `oia-c-af4`: each channel rounded to the nearest of 16 levels. */
function colorClass(color: string): string {
  const nibble = (at: number) => Math.round(parseInt(color.slice(at, at + 2), 16) / 17).toString(16);
  return `oia-c-${nibble(1)}${nibble(3)}${nibble(5)}`;
}

function colorRule(className: string): string {
  return `.${className}{background:#${className.slice(-3)}}`;
}

function styleElement(nonce: string, rule: string): string {
  return `<style nonce="${nonce}">${rule}</style>`;
}

function checkOption(option: PlaceholderOption | undefined): { mode: PlaceholderMode | undefined; alpha: boolean } {
  const modes = [true, 'color', 'class'] as const;
  if (option === undefined || option === false) return { mode: undefined, alpha: false };
  if (typeof option === 'object' && option !== null) {
    check.oneOf(option.mode, modes, 'options.placeholder.mode');
    if (option.alpha !== undefined) check.boolean(option.alpha, 'options.placeholder.alpha');
    return { mode: option.mode, alpha: option.alpha === true };
  }
  check.oneOf(option, [false, ...modes], 'options.placeholder');
  return { mode: option, alpha: false };
}

/**
 * The one HTML element builder of the library: every `<img>`, `<source>` and `<picture>` it emits
 * comes from here. Values are HTML-escaped; names of extra attributes must be plain attribute
 * names (so `x onerror=alert(1) y` cannot smuggle an attribute in), and an extra attribute may not
 * replace one the helper sets itself (so `src` cannot be pointed elsewhere).
 */
import escapeHtml from 'escape-html';
import { InvalidArgumentError } from './errors.js';

/** Attributes of an element; values are HTML-escaped, `undefined` and `false` left out, `true` a bare name. */
export type HtmlAttributes = Record<string, string | number | boolean | undefined>;

const ATTRIBUTE_NAME = /^[A-Za-z_:][-A-Za-z0-9_:.]*$/;

/**
 * `<name a="…" …>` from the attributes the helper sets (`own`) and the caller's `extra` ones.
 * @throws InvalidArgumentError when an extra attribute's name is not a plain attribute name, or
 *   names one the helper sets (case-insensitively, as HTML reads them)
 */
export function htmlElement(name: string, own: HtmlAttributes, extra: HtmlAttributes | undefined = undefined, argument = 'options.attributes'): string {
  const all: HtmlAttributes = { ...own };
  if (extra !== undefined && extra !== null) {
    if (typeof extra !== 'object') throw new InvalidArgumentError(argument, 'an object of attribute names to values', extra);
    const taken = new Set(Object.keys(own).filter((key) => own[key] !== undefined).map((key) => key.toLowerCase()));
    for (const [key, value] of Object.entries(extra)) {
      if (!ATTRIBUTE_NAME.test(key)) throw new InvalidArgumentError(argument, 'attribute names of letters, digits, -, _, :, .', key);
      if (taken.has(key.toLowerCase())) {
        throw new InvalidArgumentError(argument, `attributes other than those the helper sets (${[...taken].join(', ')})`, key);
      }
      taken.add(key.toLowerCase());
      all[key] = value;
    }
  }
  let html = `<${name}`;
  for (const [key, value] of Object.entries(all)) {
    if (value === undefined || value === false) continue;
    html += value === true ? ` ${key}` : ` ${key}="${escapeHtml(String(value))}"`;
  }
  return `${html}>`;
}

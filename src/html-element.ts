/**
 * The one HTML element builder of the library: every `<img>`, `<source>` and `<picture>` it emits
 * comes from here. Values are HTML-escaped; names of extra attributes must be plain attribute
 * names (so `x onerror=alert(1) y` cannot smuggle an attribute in) and no event handlers (`on…`);
 * an extra attribute may not replace one the helper sets itself (so `src` cannot be pointed
 * elsewhere), nor add a source the helper chose not to set (an extra `srcset` beside the
 * helper's `src` would re-point the image just the same).
 */
import escapeHtml from 'escape-html';
import { InvalidArgumentError } from './errors.js';
import * as check from './util/check.js';

/** Attributes of an element; values are HTML-escaped, `undefined` and `false` left out, `true` a bare name. */
export type HtmlAttributes = Record<string, string | number | boolean | undefined>;

const ATTRIBUTE_NAME = /^[A-Za-z_:][-A-Za-z0-9_:.]*$/;
/** Event handler attributes (`onerror`, `onload`…): script, which no caller of an image helper needs. */
const EVENT_HANDLER = /^on/i;
/** The attributes that choose which image an element shows. */
const SOURCE_ATTRIBUTES = ['src', 'srcset'];

/**
 * `<name a="…" …>` from the attributes the helper sets (`own`) and the caller's `extra` ones.
 * When `own` names a source (`src` or `srcset`, even as `undefined`), the sources are the
 * helper's alone: an extra `src` or `srcset` is refused, not dropped, so a caller learns at once
 * that it has no effect (a `srcset` comes from the helper's `sizes` option).
 * @throws InvalidArgumentError when an extra attribute's name is not a plain attribute name, is an
 *   event handler (`on…`), names one the helper sets (case-insensitively, as HTML reads them), or
 *   names a source beside the helper's
 */
export function htmlElement(
  name: string,
  own: HtmlAttributes,
  extra: HtmlAttributes | undefined = undefined,
  argument = 'options.attributes',
): string {
  const all: HtmlAttributes = { ...own };
  if (extra !== undefined && extra !== null) {
    check.object(extra, argument, 'an object of attribute names to values');
    const taken = new Set(
      Object.keys(own)
        .filter((key) => own[key] !== undefined)
        .map((key) => key.toLowerCase()),
    );
    const sourcesTaken = Object.keys(own).some((key) => SOURCE_ATTRIBUTES.includes(key.toLowerCase()));
    for (const [key, value] of Object.entries(extra)) {
      const lower = key.toLowerCase();
      if (!ATTRIBUTE_NAME.test(key))
        throw new InvalidArgumentError(argument, 'attribute names of letters, digits, -, _, :, .', key);
      if (EVENT_HANDLER.test(key))
        throw new InvalidArgumentError(argument, 'attributes other than event handlers (on…)', key);
      if (taken.has(lower)) {
        throw new InvalidArgumentError(
          argument,
          `attributes other than those the helper sets (${[...taken].join(', ')})`,
          key,
        );
      }
      if (sourcesTaken && SOURCE_ATTRIBUTES.includes(lower)) {
        throw new InvalidArgumentError(
          argument,
          'attributes other than src and srcset, which the helper chooses (a srcset comes with its sizes option)',
          key,
        );
      }
      taken.add(lower);
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

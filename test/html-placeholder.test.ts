import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../src/errors.js';
import { placeholderColorsCss, placeholderMarkup } from '../src/html-placeholder.js';
import type { Placeholder } from '../src/imaging/placeholder.js';

const DATA_URI =
  'data:image/webp;base64,UklGRkQAAABXRUJQVlA4IDgAAADQAQCdASoQAAwAAUAmJZwAAudBkAD++5tf/9wy/+IH/ki/+IH/kiPAAAAA';
const opaque: Placeholder = { hash: 'YJqGPQw7sFlnBoemd3dkhnp5dg==', dataUri: DATA_URI, color: '#a8f03c', alpha: false };
const withAlpha: Placeholder = { ...opaque, alpha: true };

describe('placeholderMarkup: how a stored placeholder is drawn', function () {
  it('true: a style attribute with the colour under the rendered hash, covering the box', function () {
    assert.deepEqual(placeholderMarkup(opaque, true, undefined), {
      style: `background:#a8f03c url(${DATA_URI}) 50%/cover`,
      css: '',
    });
  });

  it("'class': a class and a <style nonce> rule, no style attribute", function () {
    const markup = placeholderMarkup(opaque, 'class', 'r4nd0m');
    assert.equal(markup.style, undefined);
    assert.match(markup.className!, /^oia-p-[0-9a-f]{12}$/);
    assert.equal(
      markup.css,
      `<style nonce="r4nd0m">.${markup.className}{background:#a8f03c url(${DATA_URI}) 50%/cover}</style>`,
    );
  });

  it("'color': the average colour as a 12-bit class, no data: URI and no style attribute", function () {
    assert.deepEqual(placeholderMarkup(opaque, 'color', undefined), { className: 'oia-c-ae4', css: '' });
    const nonced = placeholderMarkup(opaque, 'color', 'abc=');
    assert.equal(nonced.css, '<style nonce="abc=">.oia-c-ae4{background:#ae4}</style>');
    assert.ok(!JSON.stringify(nonced).includes('data:'));
  });

  it("placeholderColorsCss has a rule for every class 'color' can give", function () {
    const css = placeholderColorsCss();
    assert.equal(css.match(/\{/g)!.length, 4096);
    for (const color of ['#000000', '#ffffff', '#a8f03c', '#080808', '#f7f7f7']) {
      const { className } = placeholderMarkup({ ...opaque, color }, 'color', undefined);
      assert.ok(css.includes(`.${className}{`), `${color} → ${className}`);
    }
  });

  it('nothing for an image with alpha, unless { mode, alpha: true }', function () {
    assert.deepEqual(placeholderMarkup(withAlpha, true, undefined), { css: '' });
    assert.deepEqual(placeholderMarkup(withAlpha, 'color', undefined), { css: '' });
    assert.equal(
      placeholderMarkup(withAlpha, { mode: true, alpha: true }, undefined).style?.startsWith('background:'),
      true,
    );
  });

  it('nothing when the set has no placeholder (none computed, or made of a replaced original), or it is off', function () {
    assert.deepEqual(placeholderMarkup(undefined, true, undefined), { css: '' });
    assert.deepEqual(placeholderMarkup(opaque, false, undefined), { css: '' });
    assert.deepEqual(placeholderMarkup(opaque, undefined, undefined), { css: '' });
  });

  it('nothing from a stored row that is not what the library writes (its values would go into CSS unescaped)', function () {
    const evil = { ...opaque, dataUri: 'data:image/webp;base64,AA}</style><script>alert(1)</script>' };
    assert.deepEqual(placeholderMarkup(evil, 'class', 'n'), { css: '' });
    assert.deepEqual(placeholderMarkup({ ...opaque, color: 'red;x' }, 'color', 'n'), { css: '' });
  });

  it("refuses 'class' without a nonce, a nonce that is no base64, and an unknown mode, naming them", function () {
    assert.throws(
      () => placeholderMarkup(opaque, 'class', undefined),
      (error: unknown) => {
        assert.ok(error instanceof InvalidArgumentError);
        assert.match(error.message, /CSP nonce with placeholder: 'class'.*for options\.nonce/);
        return true;
      },
    );
    assert.throws(() => placeholderMarkup(opaque, 'color', '"><x'), /options\.nonce/);
    assert.throws(() => placeholderMarkup(opaque, 'blur' as never, undefined), /options\.placeholder/);
    assert.throws(() => placeholderMarkup(opaque, { mode: 'blur' } as never, undefined), /options\.placeholder\.mode/);
  });
});

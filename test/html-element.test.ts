import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../src/errors.js';
import { htmlElement } from '../src/html-element.js';
import { imgElement } from '../src/entity/image.js';

describe('htmlElement', function () {
  it('escapes values, leaves out undefined and false, writes true as a bare name', function () {
    assert.equal(
      htmlElement('img', { src: '/a.jpe?x=1&y="2"', alt: undefined }, { hidden: true, title: false, 'data-id': '<1>' }),
      '<img src="/a.jpe?x=1&amp;y=&quot;2&quot;" hidden data-id="&lt;1&gt;">',
    );
  });
  it('refuses an attribute name that would smuggle in another attribute', function () {
    for (const name of ['x onerror=alert(1) y', 'onload="x"', 'a>b', '', 'a/b', "a'b"]) {
      assert.throws(
        () => htmlElement('img', { src: '/a' }, { [name]: 'z' }),
        (e: unknown) => e instanceof InvalidArgumentError && e.code === 'ERR_INVALID_ARGUMENT',
      );
    }
  });
  it('refuses event handler attributes (on…), naming the attribute', function () {
    for (const name of ['onerror', 'ONLOAD', 'onClick', 'onpointerenter']) {
      assert.throws(() => htmlElement('img', { src: '/a' }, { [name]: 'alert(1)' }), {
        name: 'InvalidArgumentError',
        code: 'ERR_INVALID_ARGUMENT',
        message: `Expected attributes other than event handlers (on…) for options.attributes but received "${name}" of type string`,
      });
    }
  });
  it("refuses an extra src or srcset beside the helper's src, even when the helper set no srcset", function () {
    for (const [own, name] of [
      [{ src: '/a' }, 'srcset'],
      [{ src: '/a', srcset: undefined }, 'SrcSet'],
      [{ src: '/a', srcset: undefined }, 'srcset'],
    ] as const) {
      assert.throws(() => htmlElement('img', own, { [name]: 'https://evil.example/other.jpe 1x' }), {
        message: `Expected attributes other than src and srcset, which the helper chooses (a srcset comes with its sizes option) for options.attributes but received "${name}" of type string`,
      });
    }
  });
  it('refuses an extra attribute that names one the helper sets, whatever its case', function () {
    assert.throws(() => htmlElement('img', { src: '/a' }, { src: 'javascript:alert(1)' }), {
      message:
        'Expected attributes other than those the helper sets (src) for options.attributes but received "src" of type string',
    });
    assert.throws(() => htmlElement('img', { src: '/a' }, { Src: '/b' }), InvalidArgumentError);
  });
});

describe('imgElement', function () {
  it('refuses bad attribute names', function () {
    assert.throws(
      () => imgElement({ src: '/a', 'x onerror=alert(1) y': 'z' }),
      (e: unknown) =>
        e instanceof InvalidArgumentError && /for attributes but received "x onerror=alert\(1\) y"/.test(e.message),
    );
  });
  it('refuses event handlers too, while the caller chooses src and srcset itself', function () {
    assert.throws(() => imgElement({ src: '/a', onerror: 'alert(1)' }), {
      message: /other than event handlers \(on…\) for attributes but received "onerror"/,
    });
    assert.equal(imgElement({ src: '/a', srcset: '/a 1x, /b 2x' }), '<img src="/a" srcset="/a 1x, /b 2x">');
  });
  it('builds an escaped <img>', function () {
    assert.equal(imgElement({ src: '/a.jpe', alt: '"' }), '<img src="/a.jpe" alt="&quot;">');
  });
});

import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/errors.js';
import {
  checkVariants,
  declaredOutputs,
  MAX_VARIANT_OUTPUTS,
  type NormalizedVariant,
  outputDimensions,
  resolveFormat,
  resolveOutputs,
} from '../../src/imaging/variant-recipe.js';

/** The one variant `declaration` normalizes to. */
function variant(declaration: Record<string, unknown>, name = 'avatar'): NormalizedVariant {
  return checkVariants({ [name]: declaration }).get(name)!;
}

/** Asserts that checking `variants` throws an InvalidArgumentError naming `argument`, with `received` in its message. */
function assertRefused(variants: unknown, argument: string, received?: RegExp): void {
  assert.throws(
    () => checkVariants(variants),
    (error: unknown) => {
      assert.ok(error instanceof InvalidArgumentError, String(error));
      assert.equal(error.argument, argument);
      assert.match(error.message, new RegExp(`for ${argument.replace(/\./g, '\\.')} but received`));
      if (received !== undefined) assert.match(error.message, received);
      return true;
    },
  );
}

describe('variant recipes', function () {
  describe('checkVariants refuses bad declarations, naming the option', function () {
    const avatar = { width: 96, height: 96 };

    it('an unknown option', function () {
      assertRefused({ avatar: { ...avatar, sizes: [1] } }, 'variants.avatar.sizes', /"sizes"/);
      assertRefused({ avatar: { ...avatar, qualty: 50 } }, 'variants.avatar.qualty');
    });

    it('a variant name that is no name', function () {
      assertRefused({ '9lives': avatar }, 'variants', /"9lives"/);
      assertRefused({ 'a b': avatar }, 'variants');
      assertRefused({ ['x'.repeat(33)]: avatar }, 'variants');
    });

    it('an unknown fit, position or format', function () {
      assertRefused({ avatar: { ...avatar, fit: 'crop' } }, 'variants.avatar.fit', /"crop"/);
      assertRefused({ avatar: { ...avatar, position: 'top' } }, 'variants.avatar.position', /"top"/);
      assertRefused({ avatar: { ...avatar, formats: ['webp', 'gif'] } }, 'variants.avatar.formats', /"gif"/);
      assertRefused({ avatar: { ...avatar, formats: [] } }, 'variants.avatar.formats');
      assertRefused({ avatar: { ...avatar, formats: ['webp', 'webp'] } }, 'variants.avatar.formats');
      assertRefused({ avatar: { ...avatar, crop: 'auto' } }, 'variants.avatar.crop');
      assertRefused({ avatar: { ...avatar, animated: 'loop' } }, 'variants.avatar.animated');
      assertRefused({ avatar: { ...avatar, make: 'later' } }, 'variants.avatar.make');
    });

    it('a fit that needs a height, without one', function () {
      assertRefused({ avatar: { width: 96, fit: 'cover' } }, 'variants.avatar.height');
    });

    it('a quality outside 1–100, or for an unknown format', function () {
      assertRefused({ avatar: { ...avatar, quality: 0 } }, 'variants.avatar.quality', /0/);
      assertRefused({ avatar: { ...avatar, quality: 101 } }, 'variants.avatar.quality', /101/);
      assertRefused({ avatar: { ...avatar, quality: 50.5 } }, 'variants.avatar.quality');
      assertRefused({ avatar: { ...avatar, quality: { avif: 0 } } }, 'variants.avatar.quality.avif');
      assertRefused({ avatar: { ...avatar, quality: { webp: 101 } } }, 'variants.avatar.quality.webp');
      assertRefused({ avatar: { ...avatar, quality: { gif: 50 } } }, 'variants.avatar.quality.gif');
      assertRefused({ avatar: { ...avatar, quality: '80' } }, 'variants.avatar.quality');
    });

    it('densities or widths that are not positive integers', function () {
      for (const densities of [[0], [1.5], [-1], [], [1, 1], 2]) {
        assertRefused({ avatar: { ...avatar, densities } }, 'variants.avatar.densities');
      }
      for (const widths of [[640, 0], [320.5], [], ['640']]) {
        assertRefused({ hero: { width: 1600, widths } }, 'variants.hero.widths');
      }
      assertRefused({ avatar: { ...avatar, densities: [1], widths: [96] } }, 'variants.avatar.widths');
    });

    it('width or height not positive integers', function () {
      assertRefused({ avatar: { width: 0, height: 96 } }, 'variants.avatar.width');
      assertRefused({ avatar: { width: 96, height: 9.5 } }, 'variants.avatar.height');
    });

    it('more than 48 outputs per relation', function () {
      const widths = Array.from({ length: 24 }, (_, i) => 100 + i);
      // 24 widths × 2 formats = 48: allowed; one more output over the relation is not.
      checkVariants({ hero: { width: 1600, widths, formats: ['avif', 'webp'] } });
      assertRefused(
        { hero: { width: 1600, widths, formats: ['avif', 'webp'] }, avatar },
        'variants',
        new RegExp(`${MAX_VARIANT_OUTPUTS + 1} outputs`),
      );
    });

    it('a background that is no colour, and a declaration that is no object', function () {
      assertRefused({ avatar: { ...avatar, background: 'red' } }, 'variants.avatar.background');
      assertRefused({ avatar: null }, 'variants.avatar');
      assertRefused({ avatar: { ...avatar, enlarge: 'yes' } }, 'variants.avatar.enlarge');
    });
  });

  it('fills in the defaults', function () {
    const v = variant({ width: 96, height: 96 });
    assert.equal(v.fit, 'cover');
    assert.equal(v.position, 'focal');
    assert.equal(v.crop, 'user');
    assert.deepEqual(v.steps, [1]);
    assert.deepEqual(v.formats, ['auto']);
    assert.equal(v.enlarge, false);
    assert.equal(v.animated, 'first');
    assert.equal(v.make, 'upload');
    assert.equal(variant({ width: 1600 }).fit, 'inside');
  });

  describe('recipe digests', function () {
    const declaration = {
      width: 96,
      height: 96,
      densities: [1, 2],
      formats: ['avif', 'webp', 'jpeg'],
      quality: { avif: 50, webp: 75, jpeg: 80 },
    };
    const digests = (d: Record<string, unknown>) =>
      Object.fromEntries(
        resolveOutputs(variant(d), 'image/jpeg').map((o) => [`${o.descriptor}.${o.format}`, o.digest]),
      );

    it('are stable: the same recipe gives the same 12 hex digits, in every process and version', function () {
      const first = digests(declaration);
      assert.deepEqual(digests({ ...declaration }), first);
      for (const digest of Object.values(first)) assert.match(digest, /^[0-9a-f]{12}$/);
      // Pinned: a digest is in every output's file key, so a change here changes every URL (bump
      // PIPELINE_VERSION on purpose, never by accident).
      assert.deepEqual(first, {
        '1x.avif': '90350e7b4644',
        '2x.avif': '69ba4c76a67d',
        '1x.webp': '7df6f7a6d7da',
        '2x.webp': '11f9011d02ed',
        '1x.jpeg': '37b8d2a31819',
        '2x.jpeg': '02dd12a2f4d8',
      });
      assert.equal(new Set(Object.values(first)).size, 6, 'every output has its own digest');
    });

    it('change per output: a new AVIF quality changes only the AVIF digests', function () {
      const before = digests(declaration);
      const after = digests({ ...declaration, quality: { ...declaration.quality, avif: 60 } });
      for (const key of Object.keys(before)) {
        if (key.endsWith('.avif')) assert.notEqual(after[key], before[key], key);
        else assert.equal(after[key], before[key], key);
      }
    });

    it('change with the box, fit, position and crop', function () {
      const before = digests(declaration);
      for (const change of [{ width: 97 }, { fit: 'fill' }, { position: 'attention' }, { crop: 'ignore' }]) {
        const after = digests({ ...declaration, ...change });
        for (const key of Object.keys(before)) assert.notEqual(after[key], before[key], JSON.stringify(change));
      }
    });

    it('do not change with make (when an output is made is not what it looks like)', function () {
      assert.deepEqual(digests({ ...declaration, make: 'queue' }), digests(declaration));
    });
  });

  describe('auto', function () {
    it("keeps the original's family; GIF becomes PNG, or WebP when the animation is kept; anything else JPEG", function () {
      assert.equal(resolveFormat('auto', 'image/jpeg'), 'jpeg');
      assert.equal(resolveFormat('auto', 'image/png'), 'png');
      assert.equal(resolveFormat('auto', 'image/webp'), 'webp');
      assert.equal(resolveFormat('auto', 'image/avif'), 'avif');
      assert.equal(resolveFormat('auto', 'image/gif'), 'png');
      assert.equal(resolveFormat('auto', 'image/gif', 'keep'), 'webp');
      assert.equal(resolveFormat('auto', 'image/tiff'), 'jpeg');
      assert.equal(resolveFormat('avif', 'image/png'), 'avif');
    });

    it('resolves per original, and an auto that names a listed format is made once, in the listed place', function () {
      const v = variant({ width: 96, height: 96, formats: ['avif', 'webp', 'auto'] });
      const formats = (mimetype: string) => resolveOutputs(v, mimetype).map((o) => `${o.format}:${o.mimetype}`);
      assert.deepEqual(formats('image/jpeg'), ['avif:image/avif', 'webp:image/webp', 'jpeg:image/jpeg']);
      assert.deepEqual(formats('image/webp'), ['avif:image/avif', 'webp:image/webp']);
      assert.deepEqual(formats('image/png'), ['avif:image/avif', 'webp:image/webp', 'png:image/png']);
    });
  });

  it('declares outputs per density (x) or width (w), smallest first, per format', function () {
    const avatar = declaredOutputs(variant({ width: 96, height: 96, densities: [2, 1], formats: ['webp'] }));
    assert.deepEqual(
      avatar.map((o) => [o.descriptor, o.boxWidth, o.boxHeight]),
      [
        ['1x', 96, 96],
        ['2x', 192, 192],
      ],
    );
    const card = declaredOutputs(variant({ width: 400, height: 300, widths: [800, 400] }, 'card'));
    assert.deepEqual(
      card.map((o) => [o.descriptor, o.boxWidth, o.boxHeight]),
      [
        ['400w', 400, 300],
        ['800w', 800, 600],
      ],
    );
  });

  describe('outputDimensions', function () {
    const box = (boxWidth: number, boxHeight?: number) => ({ boxWidth, boxHeight });

    it('without enlarge, shrinks a box the picture cannot fill, keeping its aspect', function () {
      const cover = variant({ width: 400, height: 300 });
      assert.deepEqual(outputDimensions(cover, box(400, 300), { width: 200, height: 600 }), {
        width: 200,
        height: 150,
      });
      assert.deepEqual(outputDimensions(cover, box(400, 300), { width: 4000, height: 3000 }), {
        width: 400,
        height: 300,
      });
      const contain = variant({ width: 400, height: 300, fit: 'contain' });
      assert.deepEqual(outputDimensions(contain, box(400, 300), { width: 200, height: 100 }), {
        width: 200,
        height: 150,
      });
      const inside = variant({ width: 1600 });
      assert.deepEqual(outputDimensions(inside, box(1600), { width: 800, height: 600 }), { width: 800, height: 600 });
    });

    it('with enlarge, fills the box', function () {
      const cover = variant({ width: 400, height: 300, enlarge: true });
      assert.deepEqual(outputDimensions(cover, box(400, 300), { width: 200, height: 600 }), {
        width: 400,
        height: 300,
      });
      const inside = variant({ width: 1600, enlarge: true });
      assert.deepEqual(outputDimensions(inside, box(1600), { width: 800, height: 600 }), { width: 1600, height: 1200 });
    });

    it('fits inside and outside by the picture aspect', function () {
      const inside = variant({ width: 400, height: 400, fit: 'inside' });
      assert.deepEqual(outputDimensions(inside, box(400, 400), { width: 1000, height: 500 }), {
        width: 400,
        height: 200,
      });
      const outside = variant({ width: 400, height: 400, fit: 'outside' });
      assert.deepEqual(outputDimensions(outside, box(400, 400), { width: 1000, height: 500 }), {
        width: 800,
        height: 400,
      });
    });
  });
});

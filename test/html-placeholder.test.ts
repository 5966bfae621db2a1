import assert from 'node:assert/strict';
import knexFactory, { type Knex } from 'knex';
import { Model } from 'objection';
import sharp from 'sharp';
import { FileSystemStore, imageSet, type ImageSet } from '../src/index.js';
import { imgTag, pictureTag } from '../src/html.js';
import { createVariantSchema, Gallery, Member, type MemberPicture } from './entity/variant-models.js';
import { removeDir, tempDir } from './support/tmp.js';
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

describe('imgTag and pictureTag with placeholder', function () {
  let knex: Knex;
  let dir: string;
  let store: FileSystemStore;
  let set: ImageSet<MemberPicture>;

  before(async function () {
    dir = await tempDir('html-placeholder');
    store = new FileSystemStore({ path: dir, baseUrl: 'http://static.example.com/' });
    knex = knexFactory({
      client: 'better-sqlite3',
      connection: { filename: ':memory:' },
      useNullAsDefault: true,
      pool: { min: 1, max: 1 },
    });
    Model.knex(knex);
    await createVariantSchema(knex);
    const member = await Member.query().insert({ name: 'Ann' });
    const photo = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#3060a0' } })
      .jpeg()
      .toBuffer();
    await imageSet(member, 'picture').fromBlob(photo, { store, thumbnails: [{ width: 100 }] });
    const [loaded] = await Member.query().withGraphFetched('picture');
    set = imageSet(loaded!, 'picture');
    assert.ok(set.placeholder !== undefined, 'loaded with the set (withGraphFetched)');
  });
  after(async function () {
    await knex.destroy();
    await removeDir(dir);
  });

  it('puts the style on the <img>, before a style of the caller, and stays under 300 bytes more', function () {
    const plain = imgTag(set, { width: 100, alt: 'Ann', store });
    const tag = imgTag(set, { width: 100, alt: 'Ann', store, placeholder: true, attributes: { style: 'border:0' } });
    assert.match(
      tag,
      /^<img src="[^"]+" width="100" height="75" alt="Ann" style="background:#[0-9a-f]{6} url\(data:image\/webp;base64,[^)]+\) 50%\/cover;border:0">$/,
    );
    assert.ok(Buffer.byteLength(tag) - Buffer.byteLength(plain) - ';border:0'.length <= 300, tag);
  });

  it("escapes the caller's style, which comes after the placeholder's, whatever the case of its name", function () {
    const tag = imgTag(set, { alt: '', store, placeholder: true, attributes: { STYLE: 'color:red" onload="x' } });
    assert.match(tag, /50%\/cover;color:red&quot; onload=&quot;x">$/);
    assert.equal(tag.match(/style=/gi)!.length, 1);
  });

  it("'class': the <style> before the tag, the class after the caller's own", function () {
    const html = imgTag(set, { width: 100, alt: '', store, class: 'avatar', placeholder: 'class', nonce: 'abc' });
    assert.match(
      html,
      /^<style nonce="abc">\.(oia-p-[0-9a-f]{12})\{background:[^}]+\}<\/style><img [^>]*class="avatar \1"/,
    );
  });

  it("pictureTag: the placeholder's <style> goes before <picture>, whose children stay sources and the <img>", function () {
    const html = pictureTag(set, { width: 100, alt: '', store, placeholder: 'color', nonce: 'abc' });
    assert.match(
      html,
      /^<style nonce="abc">\.oia-c-[0-9a-f]{3}\{background:#[0-9a-f]{3}\}<\/style><picture>.*<img [^>]*class="oia-c-[0-9a-f]{3}"[^>]*><\/picture>$/,
    );
  });

  it('a variant tag gets it too: one style attribute, the placeholder first, on the <img> of the <picture>', function () {
    const img = imgTag(set, { variant: 'avatar', alt: '', store, placeholder: true });
    assert.equal(img.match(/style=/g)!.length, 1, img);
    assert.match(img, /^<img [^>]*width="48" height="48"[^>]* style="background:#[0-9a-f]{6} url\(data:image\/webp/);
    // A variant with nothing made yet: the original stands in, with its object-fit style after the placeholder's.
    const standIn = imgTag(set, { variant: 'card', alt: '', store, placeholder: true });
    assert.equal(standIn.match(/style=/g)!.length, 1, standIn);
    assert.match(standIn, /style="background:#[0-9a-f]{6} url\([^)]+\) 50%\/cover;[^"]*object-fit: cover/);
    const picture = pictureTag(set, { variant: 'avatar', alt: '', store, placeholder: 'class', nonce: 'abc' });
    assert.match(
      picture,
      /^<style nonce="abc">\.(oia-p-[0-9a-f]{12})\{[^}]+\}<\/style><picture><source [^>]+><img [^>]*class="\1"[^>]*><\/picture>$/,
    );
  });

  it('nothing for a relation without placeholder: thumbhash (its sets have no meta row to read)', async function () {
    const gallery = await Gallery.query().insert({});
    const photo = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#123456' } })
      .jpeg()
      .toBuffer();
    await imageSet(gallery, 'images', { slot: 1 }).fromBlob(photo, { store });
    const [loaded] = await Gallery.query().withGraphFetched('images').where('id', gallery.id);
    const tag = imgTag(imageSet(loaded!, 'images', { slot: 1 }), { alt: '', store, placeholder: true });
    assert.ok(!tag.includes('style='), tag);
  });

  it('an <img> of one image cannot have one: only a set knows its placeholder', function () {
    assert.throws(
      () => imgTag(set.original!, { alt: '', store, placeholder: true }),
      /placeholder belongs to a set.*for options\.placeholder/,
    );
    assert.doesNotThrow(() => imgTag(set.original!, { alt: '', store, placeholder: false }));
  });
});

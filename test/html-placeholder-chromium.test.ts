/**
 * Placeholders in a real browser, with JavaScript off and the image's response held back: headless
 * Chromium (Debian's `chromium`, driven by playwright-core) shows the average colour in the
 * image's box (not white) while the image waits, then the image once it comes. Each mode runs
 * under the Content-Security-Policy it is for: `'class'` with a nonce'd style and `img-src data:`,
 * `'color'` with neither `data:` nor inline style.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import knexFactory, { type Knex } from 'knex';
import { Model } from 'objection';
import { type Browser, chromium } from 'playwright-core';
import sharp from 'sharp';
import { FileSystemStore, imageSet, type ImageSet } from '../src/index.js';
import { imgTag, type ImgTagOptions } from '../src/html.js';
import { placeholderColorsCss } from '../src/html-placeholder.js';
import { createVariantSchema, Member, type MemberPicture } from './entity/variant-models.js';
import { removeDir, tempDir } from './support/tmp.js';

const CHROMIUM_CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(
  (p): p is string => !!p,
);
const NONCE = 'dGVzdC1ub25jZS0xMjM0';
/** The picture: terracotta with a thin white stripe across the middle, which the blur all but loses. */
const COLOUR = [192, 80, 48];
const BOX = { width: 240, height: 160 };

function picture(): Promise<Buffer> {
  const { width, height } = BOX;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width * 2}" height="${height * 2}">
    <rect width="100%" height="100%" fill="rgb(${COLOUR.join(',')})"/>
    <rect y="${height - 8}" width="100%" height="16" fill="#fff"/></svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 92 }).toBuffer();
}

describe('placeholders in Chromium, JavaScript off, the image held back', function () {
  this.timeout(60_000);
  let browser: Browser;
  let server: Server;
  let origin: string;
  let knex: Knex;
  let dir: string;
  let set: ImageSet<MemberPicture>;
  let store: FileSystemStore;
  /** Image requests wait for this; a test replaces it to hold the next ones. */
  let gate: Promise<void> = Promise.resolve();
  const pages = new Map<string, { html: string; csp: string }>();

  before(async function () {
    const executablePath = CHROMIUM_CANDIDATES.find((p) => existsSync(p));
    if (executablePath === undefined) {
      console.log(`    skipped: no Chromium at ${CHROMIUM_CANDIDATES.join(' or ')}`);
      this.skip();
    }
    browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
    const css = placeholderColorsCss();
    server = createServer((req, res) => {
      const url = req.url ?? '/';
      if (url.startsWith('/files/')) {
        // Held back until the test lets it go, as on a slow link.
        void gate.then(async () => {
          res.writeHead(200, { 'content-type': 'image/jpeg', 'cache-control': 'no-store' });
          await pipeline(createReadStream(path.join(dir, decodeURIComponent(url.slice(7).split('?')[0]!))), res);
        });
        return;
      }
      if (url === '/placeholder-colors.css') {
        res.writeHead(200, { 'content-type': 'text/css' }).end(css);
        return;
      }
      const page = pages.get(url);
      if (page === undefined) return void res.writeHead(404).end();
      res
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': page.csp })
        .end(page.html);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    dir = await tempDir('placeholder-chromium');
    store = new FileSystemStore({ path: dir, baseUrl: `${origin}/files/` });
    knex = knexFactory({
      client: 'better-sqlite3',
      connection: { filename: ':memory:' },
      useNullAsDefault: true,
      pool: { min: 1, max: 1 },
    });
    Model.knex(knex);
    await createVariantSchema(knex);
    const member = await Member.query().insert({ name: 'Ann' });
    await imageSet(member, 'picture').fromBlob(await picture(), { store, thumbnails: [{ width: BOX.width }] });
    const [loaded] = await Member.query().withGraphFetched('picture');
    set = imageSet(loaded!, 'picture');
    assert.ok(set.placeholder !== undefined, 'the set has its placeholder');
  });
  after(async function () {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
    await knex?.destroy();
    if (dir) await removeDir(dir);
  });

  /** A page with the tag, at the top left (no margin, from a nonce'd style: inline CSS may be refused). */
  function page(name: string, options: Partial<ImgTagOptions>, csp: string, head = ''): string {
    const tag = imgTag(set, { width: BOX.width, alt: 'A terracotta wall', store, ...options });
    pages.set(`/${name}`, {
      csp,
      html: `<!doctype html><html><head><title>${name}</title><style nonce="${NONCE}">body{margin:0}</style>${head}</head><body>${tag}</body></html>`,
    });
    return `${origin}/${name}`;
  }

  /** The colour at the box's centre (on the stripe) and at a quarter of its height (the wall). */
  async function pixels(p: import('playwright-core').Page): Promise<{ stripe: number[]; wall: number[] }> {
    const shot = await p.screenshot({ clip: { x: 0, y: 0, ...BOX } });
    const { data, info } = await sharp(shot).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number) => [...data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3)];
    return { stripe: at(BOX.width / 2, BOX.height / 2), wall: at(BOX.width / 2, BOX.height / 4) };
  }

  const near = (got: number[], want: number[], tolerance: number) =>
    got.every((v, i) => Math.abs(v - want[i]!) <= tolerance);
  const white = (rgb: number[]) => rgb.every((v) => v >= 240);

  async function showsPlaceholderThenImage(url: string): Promise<void> {
    let release!: () => void;
    gate = new Promise((resolve) => (release = resolve));
    const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 400, height: 300 } });
    try {
      const tab = await context.newPage();
      const refused: string[] = [];
      tab.on('console', (message) => refused.push(message.text()));
      await tab.goto(url, { waitUntil: 'domcontentloaded' });
      // The image is still held back: the box shows the placeholder's colour, stripe and all.
      let before = await pixels(tab);
      for (let i = 0; i < 20 && white(before.wall); i++) before = await tab.waitForTimeout(100).then(() => pixels(tab));
      assert.ok(!white(before.wall), `the box is not white while the image waits: ${before.wall}`);
      assert.ok(
        near(before.wall, COLOUR, 40),
        `the wall's colour ≈ rgb(${COLOUR}) while the image waits: ${before.wall}`,
      );
      assert.ok(!white(before.stripe), `the stripe is not there yet: ${before.stripe}`);
      assert.deepEqual(
        refused.filter((text) => /Content Security Policy/i.test(text)),
        [],
        'nothing refused by the page’s CSP',
      );

      const finished = tab.waitForEvent('requestfinished', (request) => request.url().includes('/files/'));
      release();
      await finished;
      let after = await pixels(tab);
      for (let i = 0; i < 20 && !white(after.stripe); i++)
        after = await tab.waitForTimeout(100).then(() => pixels(tab));
      assert.ok(white(after.stripe), `the image's stripe shows once it came: ${after.stripe}`);
      assert.ok(near(after.wall, COLOUR, 12), `the image's own colour: ${after.wall}`);
    } finally {
      release();
      await context.close();
    }
  }

  it('without a placeholder, the box is white while the image waits (the control: the image is held back)', async function () {
    const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 400, height: 300 } });
    let release!: () => void;
    gate = new Promise((resolve) => (release = resolve));
    try {
      const tab = await context.newPage();
      await tab.goto(page('none', {}, ''), { waitUntil: 'domcontentloaded' });
      await tab.waitForTimeout(300);
      assert.ok(white((await pixels(tab)).wall));
    } finally {
      release();
      await context.close();
    }
  });

  it("a style attribute is refused under style-src 'nonce-…': why 'class' and 'color' exist", async function () {
    const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 400, height: 300 } });
    let release!: () => void;
    gate = new Promise((resolve) => (release = resolve));
    try {
      const tab = await context.newPage();
      const messages: string[] = [];
      tab.on('console', (message) => messages.push(message.text()));
      const csp = `default-src 'none'; style-src 'nonce-${NONCE}'; img-src ${origin} data:`;
      await tab.goto(page('style-refused', { placeholder: true }, csp), { waitUntil: 'domcontentloaded' });
      await tab.waitForTimeout(300);
      assert.ok(white((await pixels(tab)).wall));
      assert.ok(
        messages.some((text) => /Content Security Policy/i.test(text)),
        messages.join('\n'),
      );
    } finally {
      release();
      await context.close();
    }
  });

  it('placeholder: true (a style attribute; no CSP)', async function () {
    await showsPlaceholderThenImage(page('style', { placeholder: true }, ''));
  });

  it("placeholder: 'class' under style-src 'nonce-…' (no inline style) and img-src data:", async function () {
    const csp = `default-src 'none'; style-src 'nonce-${NONCE}'; img-src ${origin} data:`;
    await showsPlaceholderThenImage(page('class', { placeholder: 'class', nonce: NONCE }, csp));
  });

  it("placeholder: 'color' with a nonce, under a CSP without data: and without inline style", async function () {
    const csp = `default-src 'none'; style-src 'nonce-${NONCE}'; img-src ${origin}`;
    await showsPlaceholderThenImage(page('color', { placeholder: 'color', nonce: NONCE }, csp));
  });

  it("placeholder: 'color' without a nonce, its rule from placeholderColorsCss() served as the app's stylesheet", async function () {
    const csp = `default-src 'none'; style-src 'self' 'nonce-${NONCE}'; img-src ${origin}`;
    const head = '<link rel="stylesheet" href="/placeholder-colors.css">';
    await showsPlaceholderThenImage(page('color-sheet', { placeholder: 'color' }, csp, head));
  });
});

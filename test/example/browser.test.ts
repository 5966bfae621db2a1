/**
 * The example in a real browser, as a person uses it: headless Chromium (Debian's `chromium`,
 * driven by playwright-core) on a desktop and on a 390 px phone. It adds users, uploads through
 * the form on a slow link (progress shows), is refused bad files in plain words, deletes; and on
 * every page axe-core finds no serious accessibility problem and nothing scrolls sideways (at
 * 390 px, and at 320 px too).
 *
 * Screenshots of each state go to test-output/, shrunk to a 128-colour palette to keep them
 * small; with SCREENSHOTS=docs, those docs/example.md shows are written to docs/ too.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import sharp from 'sharp';
import { imageSet, withStore } from '../../src/index.js';
import { User } from '../../example/models.js';
import { pngDeclaring } from '../support/images.js';
import { type MountedExample, mountExample } from './harness.js';
import { sceneJpeg } from './scene.js';

const CHROMIUM_CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(
  (p): p is string => !!p,
);
const SCREENSHOTS = path.resolve('test-output');
const DOCS = process.env.SCREENSHOTS === 'docs' ? path.resolve('docs') : undefined;
/** The states docs/example.md shows (docs/example.png, in the README, is user-desktop). */
const DOCS_SHOTS = [
  'gallery-desktop',
  'user-desktop',
  'uploading-desktop',
  'upload-error-phone',
  'name-error-phone',
  'confirm-delete-desktop',
  'user-phone',
  'focal-point-desktop',
];
const AXE = path.resolve('node_modules/axe-core/axe.min.js');

const VIEWPORTS = [
  { name: 'desktop', viewport: { width: 1000, height: 800 }, deviceScaleFactor: 1, isMobile: false },
  { name: 'phone', viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true },
] as const;

/** Browser-side code is passed as strings: this project's TypeScript has no DOM types, on purpose. */
const js = String.raw;

/** A real surname, as long as the form takes (100 characters) and without a place to break. */
const LONG_NAME = 'Wolfeschlegelsteinhausenbergerdorff'.repeat(3).slice(0, 100);

describe('the example app in Chromium', function () {
  this.timeout(120_000);
  let executablePath: string | undefined;
  let browser: Browser;

  before(async function () {
    executablePath = CHROMIUM_CANDIDATES.find((p) => existsSync(p));
    if (executablePath === undefined) {
      console.log(
        `    skipped: no Chromium at ${CHROMIUM_CANDIDATES.join(' or ')} (apt-get install -y chromium, or set CHROMIUM_PATH)`,
      );
      this.skip();
    }
    browser = await chromium.launch({
      executablePath,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    await mkdir(SCREENSHOTS, { recursive: true });
  });
  after(async function () {
    await browser?.close();
  });

  for (const device of VIEWPORTS) {
    describe(`on a ${device.name} (${device.viewport.width} px)`, function () {
      let example: MountedExample;
      let server: Server;
      let origin: string;
      let context: BrowserContext;
      let page: Page;
      /** Console errors, page errors, failed requests and 4xx/5xx responses: none are expected. */
      let problems: string[] = [];
      /** Every response of the page: URL, status, method and body size. */
      let responses: Array<{ url: string; status: number; method: string; bytes: Promise<number> }> = [];
      let photo: string;

      before(async function () {
        example = await mountExample();
        server = await new Promise<Server>((resolve) => {
          const s = example.app.listen(0, '127.0.0.1', () => resolve(s));
        });
        origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        context = await browser.newContext({
          viewport: device.viewport,
          deviceScaleFactor: device.deviceScaleFactor,
          isMobile: device.isMobile,
          hasTouch: device.isMobile,
        });
        page = await context.newPage();
        page.on('console', (message) => {
          if (message.type() === 'error') problems.push(`console: ${message.text()}`);
        });
        page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
        page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} ${req.failure()?.errorText}`));
        page.on('response', (res) => {
          if (res.status() >= 400) problems.push(`HTTP ${res.status()}: ${res.url()}`);
          const bytes =
            res.status() >= 300 && res.status() < 400
              ? Promise.resolve(0)
              : res.body().then(
                  (b) => b.length,
                  () => 0,
                );
          responses.push({ url: res.url(), status: res.status(), method: res.request().method(), bytes });
        });
        photo = path.join(example.dataDir, 'sunset.jpg');
        await writeFile(photo, await sceneJpeg(3000, 2000));
      });
      after(async function () {
        await context?.close();
        if (server) await new Promise((resolve) => server.close(resolve));
        await example?.dispose();
      });
      beforeEach(function () {
        problems = [];
      });

      /** Saves a screenshot of the page, as a small palette PNG. */
      async function screenshot(name: string): Promise<void> {
        const shot = `${name}-${device.name}`;
        const png = await sharp(await page.screenshot({ fullPage: true }))
          .png({ palette: true, colours: 128, compressionLevel: 9, effort: 10 })
          .toBuffer();
        await writeFile(path.join(SCREENSHOTS, `example-${shot}.png`), png);
        if (DOCS !== undefined && DOCS_SHOTS.includes(shot))
          await writeFile(path.join(DOCS, `example-${shot}.png`), png);
        if (DOCS !== undefined && shot === 'user-desktop') await writeFile(path.join(DOCS, 'example.png'), png);
      }

      /** What every page must be: no critical or serious axe-core violation, no sideways scroll. */
      async function assertPleasant(what: string): Promise<void> {
        await page.addScriptTag({ content: await readFile(AXE, 'utf8') });
        const violations = (await page.evaluate(
          js`axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) })))`,
        )) as Array<{ id: string; impact: string; nodes: string[] }>;
        const serious = violations.filter((v) => v.impact === 'critical' || v.impact === 'serious');
        assert.deepEqual(serious, [], `${what}: axe-core violations`);
        // Against the device's width: a phone's browser widens its layout viewport (innerWidth) to fit content.
        const width = (await page.evaluate(js`document.documentElement.scrollWidth`)) as number;
        assert.ok(
          width <= device.viewport.width,
          `${what}: the page is ${width} px wide on a ${device.viewport.width} px screen`,
        );
        if (device.isMobile) {
          // The narrowest phones in use: 320 px.
          await page.setViewportSize({ width: 320, height: device.viewport.height });
          const narrow = (await page.evaluate(js`document.documentElement.scrollWidth`)) as number;
          await page.setViewportSize(device.viewport);
          assert.ok(narrow <= 320, `${what}: the page is ${narrow} px wide on a 320 px screen`);
        }
      }

      /** Every <img> of the page, after scrolling each into view (the gallery's are lazy) and waiting. */
      async function loadedImages(): Promise<
        Array<{ src: string; naturalWidth: number; shownWidth: number; shownHeight: number; naturalHeight: number }>
      > {
        await page.evaluate(js`(async () => {
          for (const img of document.images) { img.scrollIntoView(); await img.decode().catch(() => undefined); }
          window.scrollTo(0, 0);
        })()`);
        await page.waitForFunction('Array.from(document.images).every((img) => img.complete)', undefined, {
          timeout: 20_000,
        });
        return page.evaluate(
          js`Array.from(document.images).map((img) => ({ src: img.currentSrc || img.src, naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight, shownWidth: img.getBoundingClientRect().width, shownHeight: img.getBoundingClientRect().height }))`,
        );
      }

      /** A user with a picture, added as a form post would (not through the page: it is not what is tested). */
      async function addUserWithPicture(name: string, jpeg: Buffer): Promise<void> {
        const added = await fetch(`${origin}/users`, {
          method: 'POST',
          body: new URLSearchParams({ name }),
          redirect: 'manual',
        });
        const form = new FormData();
        form.append('picture', new Blob([jpeg], { type: 'image/jpeg' }), `${name}.jpg`);
        const uploaded = await fetch(`${origin}${added.headers.get('location')}/picture`, {
          method: 'POST',
          body: form,
          redirect: 'manual',
        });
        assert.equal(uploaded.status, 303);
      }

      async function statusText(id: string): Promise<string> {
        return (await page.textContent(`#${id}`))?.trim() ?? '';
      }

      /** Waits for a page loaded anew (after a post or the upload script's redirect) to say `text`. */
      async function waitForStatus(id: string, text: string): Promise<void> {
        await page.waitForFunction(
          js`document.querySelector('#${id}')?.textContent.trim() === ${JSON.stringify(text)}`,
          undefined,
          { timeout: 30_000 },
        );
      }

      /** Every outcome the page shows (flash messages, notices) that a person can see. */
      async function visibleOutcomes(): Promise<string[]> {
        return page.evaluate(
          js`Array.from(document.querySelectorAll('.flash, .notice')).filter((el) => el.checkVisibility()).map((el) => el.textContent.trim())`,
        );
      }

      /** The room between a page's own message and what comes after it (the picture, the form), in px. */
      async function roomBelow(selector: string): Promise<number> {
        return page.evaluate(
          js`(() => { const el = document.querySelector('${selector}'); return el.nextElementSibling.getBoundingClientRect().top - el.getBoundingClientRect().bottom; })()`,
        );
      }

      it('shows the empty gallery, and a blank name as a message beside the field', async function () {
        await page.goto(`${origin}/`);
        await assertPleasant('the empty gallery');
        await screenshot('gallery-empty');
        await page.fill('#name', '   ');
        await Promise.all([page.waitForURL(`${origin}/`), page.click('text=Add a user')]);
        assert.equal(await statusText('name-status'), 'Type a name for the new user first.');
        assert.equal(await page.evaluate(js`document.activeElement.id`), 'name', 'the field has the focus again');
        await assertPleasant('the gallery with the name message');
        await screenshot('name-error');
        // The message was for that answer only: a reload shows the plain form and posts nothing.
        await page.reload();
        assert.equal(await statusText('name-status'), '');
        assert.deepEqual(problems, []);
      });

      it('adds a user with the keyboard alone', async function () {
        await page.goto(`${origin}/`);
        for (
          let i = 0;
          i < 10 && (await page.evaluate(js`document.activeElement && document.activeElement.id`)) !== 'name';
          i++
        )
          await page.keyboard.press('Tab');
        await page.keyboard.type('Ann');
        await Promise.all([page.waitForURL(/\/users\/\d+$/), page.keyboard.press('Enter')]);
        assert.equal(await page.textContent('h1'), 'Ann');
        assert.deepEqual(await visibleOutcomes(), ['Added Ann.']);
        assert.ok((await roomBelow('#page-status')) >= 12, 'room between the message and the form');
        await assertPleasant('a user page without a picture');
        assert.deepEqual(problems, []);
      });

      it('uploads on a slow link with a progress bar and a busy button, then shows the picture', async function () {
        const cdp = await context.newCDPSession(page);
        await cdp.send('Network.enable');
        // About 3 s for the photo: slow enough to see progress, bounded for the test.
        const size = (await readFile(photo)).length;
        await cdp.send('Network.emulateNetworkConditions', {
          offline: false,
          latency: 20,
          downloadThroughput: -1,
          uploadThroughput: Math.ceil(size / 3),
        });
        // Record what the progress bar shows while the upload runs.
        await page.evaluate(js`(() => {
          window.progressSeen = [];
          const bar = document.querySelector('form.upload progress');
          new MutationObserver(() => window.progressSeen.push({ value: bar.value, max: bar.max, hidden: bar.hidden,
            button: document.querySelector('form.upload button').textContent, disabled: document.querySelector('form.upload button').disabled }))
            .observe(bar, { attributes: true });
        })()`);
        await page.setInputFiles('#picture', photo);
        await page.click('form.upload button');
        await page.waitForFunction(js`window.progressSeen.some((p) => p.value > 0 && p.value < p.max)`, undefined, {
          timeout: 20_000,
        });
        assert.equal(await page.textContent('form.upload button'), 'Uploading…');
        assert.equal(await page.isDisabled('form.upload button'), true);
        assert.match(await statusText('picture-status'), /^Uploading “sunset\.jpg”: \d+%$/);
        await screenshot('uploading');
        await waitForStatus('page-status', 'Uploaded “sunset.jpg”.');
        await cdp.send('Network.emulateNetworkConditions', {
          offline: false,
          latency: 0,
          downloadThroughput: -1,
          uploadThroughput: -1,
        });
        await cdp.detach();
        const seen = (await page.evaluate('window.progressSeen')) as unknown;
        assert.equal(seen, undefined, 'the page was loaded anew');
        assert.deepEqual(await visibleOutcomes(), ['Uploaded “sunset.jpg”.']);
        assert.ok((await roomBelow('#page-status')) >= 12, 'room between the message and the picture');
        await loadedImages();
        assert.deepEqual(problems, []);
      });

      it('shows one outcome at a time: a refusal after an upload replaces its “Uploaded …”', async function () {
        await page.setInputFiles('#picture', {
          name: 'notes.jpg',
          mimeType: 'image/jpeg',
          buffer: Buffer.from('these are notes, not a picture'),
        });
        await page.click('form.upload button');
        await page.waitForSelector('#picture-status.error', { timeout: 20_000 });
        assert.deepEqual(await visibleOutcomes(), [
          "This file isn't a picture we can read. Try a JPEG, PNG, GIF, WebP, AVIF, TIFF or HEIC file.",
        ]);
        assert.deepEqual(
          problems.filter((p) => !/(HTTP 415: .*\/picture(\/claim)?$)|status of 415/.test(p)),
          [],
        );
      });

      it('shows the picture from thumbnails only: no original is loaded for a preview', async function () {
        responses = [];
        await page.reload();
        const images = await loadedImages();
        for (const image of images) {
          assert.ok(image.naturalWidth > 0, `not loaded: ${image.src}`);
          // Previews keep their shape and are never drawn larger than their image.
          assert.ok(
            Math.abs(image.shownWidth / image.shownHeight - image.naturalWidth / image.naturalHeight) < 0.02,
            `squashed: ${JSON.stringify(image)}`,
          );
        }
        // Only the store's files: an <img> of thumbnailRoute() would add a width to the set by a mere view.
        assert.deepEqual(
          responses.filter((r) => /\/picture\?width=/.test(r.url)).map((r) => r.url),
          [],
        );
        assert.doesNotMatch((await page.textContent('table.images')) ?? '', /on demand/);
        const loaded = responses.filter((r) => /\/__images__\//.test(r.url));
        assert.ok(loaded.length >= 1, JSON.stringify(loaded));
        const originals = loaded.filter((r) => /\.3000x2000\./.test(r.url));
        assert.deepEqual(
          originals.map((r) => r.url),
          [],
          'no preview loads the 3000×2000 original',
        );
        const bytes = (await Promise.all(loaded.map((r) => r.bytes))).reduce((a, b) => a + b, 0);
        const original = (await readFile(photo)).length;
        assert.ok(bytes < original / 2, `the page's images weigh ${bytes} bytes, the original alone ${original}`);
        await assertPleasant('a user page with a picture');
        await screenshot('user');

        // Two more users, added over HTTP, so the gallery shows a few pictures, one of them portrait.
        await addUserWithPicture('Bea', await sceneJpeg(900, 1200, 200));
        await addUserWithPicture('Cy', await sceneJpeg(1600, 1000, 110));
        responses = [];
        await page.goto(`${origin}/`);
        const gallery = await loadedImages();
        assert.equal(gallery.length, 3);
        assert.deepEqual(
          responses.filter((r) => /\.(3000x2000|900x1200|1600x1000)\./.test(r.url)).map((r) => r.url),
          [],
          'no original in the gallery',
        );
        await assertPleasant('the gallery');
        await screenshot('gallery');
        assert.deepEqual(problems, []);
      });

      /** The gallery's avatars: what each <img> shows, and its box on the page. */
      async function avatars(): Promise<Array<{ src: string; width: number; height: number }>> {
        await loadedImages();
        return page.evaluate(
          js`Array.from(document.querySelectorAll('.gallery img')).map((img) => ({ src: img.currentSrc, width: img.getBoundingClientRect().width, height: img.getBoundingClientRect().height }))`,
        );
      }

      it(`shows square avatars: the ${96 * device.deviceScaleFactor}-px AVIF at ${device.deviceScaleFactor}×, never an original`, async function () {
        responses = [];
        await page.goto(`${origin}/`);
        const side = 96 * device.deviceScaleFactor;
        const shown = await avatars();
        assert.equal(shown.length, 3);
        for (const avatar of shown) {
          assert.match(
            avatar.src,
            new RegExp(`/user-picture\\.avatar\\.[0-9a-f]{12}/.+\\.${side}x${side}\\.avif\\?_ts=\\d+$`),
          );
          assert.deepEqual([avatar.width, avatar.height], [96, 96]);
        }
        assert.deepEqual(
          responses.filter((r) => /\.(3000x2000|900x1200|1600x1000)\./.test(r.url)).map((r) => r.url),
          [],
          'no original in the gallery',
        );
        assert.deepEqual(problems, []);
      });

      it('keeps the avatar box while its outputs are missing, and takes them once made', async function () {
        const bea = (await User.query().findOne({ name: 'Bea' }).withGraphFetched('picture'))!;
        await example.knex('user_picture_variants').where({ user_id: bea.id }).delete();
        await page.goto(`${origin}/`);
        const missing = (await avatars())[1]!;
        // The original stands in, cropped into the same 96×96 box (object-fit: cover).
        assert.match(missing.src, /\.900x1200\.jpe\?_ts=\d+$/);
        await withStore(example.store, async () => {
          const set = await imageSet(bea, 'picture').load();
          await set.generateVariants(['avatar']);
        });
        await page.reload();
        const made = (await avatars())[1]!;
        assert.match(made.src, /\.avif\?_ts=\d+$/);
        assert.deepEqual([made.width, made.height], [missing.width, missing.height]);
        assert.deepEqual([made.width, made.height], [96, 96]);
        assert.deepEqual(problems, []);
      });

      /** The focal point the database has for the user whose page is open. */
      async function storedFocalPoint(): Promise<{ x: number; y: number } | undefined> {
        const id = Number(/\/users\/(\d+)/.exec(page.url())![1]);
        return imageSet((await User.query().findById(id).withGraphFetched('picture'))!, 'picture').focalPoint;
      }

      it('sets the focal point by a click on the picture, and the avatar is cropped anew', async function () {
        await page.goto(`${origin}/`);
        await Promise.all([page.waitForURL(/\/users\/\d+$/), page.click('.gallery a >> nth=0')]);
        const before = (await page.getAttribute('.focal .avatar img', 'src'))!;
        const box = (await page.locator('.hero img').boundingBox())!;
        await Promise.all([
          page.waitForURL(/\/users\/\d+$/, { waitUntil: 'load' }),
          page.click('.hero img', { position: { x: box.width * 0.8, y: box.height * 0.2 } }),
        ]);
        await waitForStatus('focal-status', 'Focal point set to 80% across, 20% down.');
        const focal = (await storedFocalPoint())!;
        assert.ok(Math.abs(focal.x - 0.8) <= 0.01 && Math.abs(focal.y - 0.2) <= 0.01, JSON.stringify(focal));
        assert.equal(await page.inputValue('#focal-x'), '80');
        assert.notEqual(await page.getAttribute('.focal .avatar img', 'src'), before, 'the avatar was made anew');
        await loadedImages();
        await assertPleasant('a user page after setting the focal point');
        await screenshot('focal-point');
        assert.deepEqual(problems, []);
      });

      it('sets the focal point with the keyboard alone', async function () {
        await page.focus('#focal-x');
        for (let i = 0; i < 5; i++) await page.keyboard.press('ArrowDown');
        await page.keyboard.press('Tab');
        assert.equal(await page.evaluate(js`document.activeElement.id`), 'focal-y');
        await page.keyboard.press('Control+A');
        await page.keyboard.type('65');
        await Promise.all([page.waitForURL(/\/users\/\d+$/, { waitUntil: 'load' }), page.keyboard.press('Enter')]);
        await waitForStatus('focal-status', 'Focal point set to 75% across, 65% down.');
        const focal = (await storedFocalPoint())!;
        assert.ok(Math.abs(focal.x - 0.75) < 1e-6 && Math.abs(focal.y - 0.65) < 1e-6, JSON.stringify(focal));
        const mark = (await page.getAttribute('.focal-mark', 'style'))!;
        assert.match(mark, /left: 75%; top: 65%/);
        await assertPleasant('a user page after setting the focal point by keyboard');
        assert.deepEqual(problems, []);
      });

      const badFiles: Array<{
        what: string;
        name: string;
        make: () => Promise<Buffer>;
        says: string;
        checkedBy: 'page' | 'server';
      }> = [
        {
          what: 'a text file named .jpg',
          name: 'notes.jpg',
          make: async () => Buffer.from('these are notes, not a picture'),
          says: "This file isn't a picture we can read. Try a JPEG, PNG, GIF, WebP, AVIF, TIFF or HEIC file.",
          checkedBy: 'server',
        },
        {
          // HEIC photos are taken (stored as JPEG): one cut short is refused like any other.
          what: 'a HEIC photo cut short',
          name: 'IMG_0001.HEIC',
          make: async () => readFile(fileURLToPath(new URL('../fixtures/heic/truncated.heic', import.meta.url))),
          says: 'This picture is incomplete: its end is missing. Was it fully downloaded? Try the file again.',
          checkedBy: 'server',
        },
        {
          what: 'a PDF',
          name: 'invoice.pdf',
          make: async () => Buffer.from('%PDF-1.7'),
          says: "This file isn't a picture we can read. Try a JPEG, PNG, GIF, WebP, AVIF, TIFF or HEIC file.",
          checkedBy: 'page',
        },
        {
          what: 'a file over 10 MB',
          name: 'huge.jpg',
          make: async () => Buffer.alloc(11 * 1024 * 1024, 0xff),
          says: 'This file is too big: a picture can be at most 10 MB.',
          checkedBy: 'page',
        },
        {
          what: 'a truncated JPEG',
          name: 'cut.jpg',
          make: async () => (await sceneJpeg(600, 400)).subarray(0, 2000),
          says: 'This picture is incomplete: its end is missing. Was it fully downloaded? Try the file again.',
          checkedBy: 'server',
        },
        {
          what: 'a picture of too many pixels',
          name: 'bomb.png',
          make: async () => pngDeclaring(20000, 20000),
          says: 'This picture is 20000 × 20000 pixels: we take up to 40 megapixels. Make it smaller and try again.',
          checkedBy: 'server',
        },
      ];

      it('says what is wrong with each bad file in plain words, in the page, keeping the file chosen', async function () {
        await page.goto(`${origin}/`);
        await Promise.all([page.waitForURL(/\/users\/\d+$/), page.click('.gallery a:has-text("Ann")')]);
        const url = page.url();
        for (const bad of badFiles) {
          responses = [];
          await page.setInputFiles('#picture', {
            name: bad.name,
            mimeType: mimeTypeOf(bad.name),
            buffer: await bad.make(),
          });
          await page.click('form.upload button');
          await page.waitForFunction(
            js`document.querySelector('#picture-status').classList.contains('error')`,
            undefined,
            { timeout: 20_000 },
          );
          assert.equal(await statusText('picture-status'), bad.says, bad.what);
          assert.doesNotMatch((await page.textContent('body')) ?? '', /ERR_/, bad.what);
          assert.equal(page.url(), url, `${bad.what}: the page stays`);
          assert.equal(
            await page.evaluate(js`document.querySelector('#picture').files[0].name`),
            bad.name,
            `${bad.what}: still chosen`,
          );
          assert.equal(await page.isDisabled('form.upload button'), false);
          // A file the server checks: presigned, sent to the store, then refused by the claim.
          const posted = responses.filter((r) => r.method === 'POST');
          assert.equal(
            posted.length,
            bad.checkedBy === 'server' ? 2 : 0,
            `${bad.what}: checked by the ${bad.checkedBy}`,
          );
          if (bad.name === 'IMG_0001.HEIC') {
            await assertPleasant('a refused upload');
            await screenshot('upload-error');
          }
        }
        // The server's refusals were 4xx answers to the script: expected here, and nothing else.
        assert.deepEqual(
          problems.filter((p) => !/(HTTP 4\d\d: .*\/picture(\/claim)?$)|status of 4\d\d/.test(p)),
          [],
        );
      });

      it('says so when the server goes away mid-upload, and lets the person try again', async function () {
        await page.goto(`${origin}/`);
        await Promise.all([page.waitForURL(/\/users\/\d+$/), page.click('.gallery a:has-text("Ann")')]);
        const cdp = await context.newCDPSession(page);
        await cdp.send('Network.enable');
        const size = (await readFile(photo)).length;
        await cdp.send('Network.emulateNetworkConditions', {
          offline: false,
          latency: 20,
          downloadThroughput: -1,
          uploadThroughput: Math.ceil(size / 5),
        });
        try {
          await page.setInputFiles('#picture', photo);
          await page.click('form.upload button');
          await page.waitForFunction(js`document.querySelector('form.upload progress').value > 0`, undefined, {
            timeout: 20_000,
          });
          // The server goes away: it stops listening and drops every connection (had it only
          // dropped them, Chromium would have sent the upload again on a new one).
          const closed = new Promise((resolve) => server.close(resolve));
          server.closeAllConnections();
          await closed;
          await page.waitForSelector('#picture-status.error', { timeout: 20_000 });
        } finally {
          await new Promise<void>((resolve) => server.listen(Number(new URL(origin).port), '127.0.0.1', resolve));
          await cdp.send('Network.emulateNetworkConditions', {
            offline: false,
            latency: 0,
            downloadThroughput: -1,
            uploadThroughput: -1,
          });
          await cdp.detach();
        }
        assert.equal(
          await statusText('picture-status'),
          'The upload was cut off before it finished. Please try again.',
        );
        assert.equal(await page.isDisabled('form.upload button'), false);
        assert.equal(await page.textContent('form.upload button'), 'Upload');
        assert.equal(await page.isHidden('form.upload progress'), true);
        assert.equal(await page.evaluate(js`document.querySelector('#picture').files[0].name`), 'sunset.jpg');
        assert.deepEqual(
          problems.filter(
            (p) =>
              !/(request failed: .*\/(picture|__uploads__\/[0-9a-f]{32}\?\S*)|console: Failed to load resource:) net::ERR_CONNECTION_(RESET|CLOSED|REFUSED)/.test(
                p,
              ),
          ),
          [],
        );
      });

      it('asks before deleting the picture, then the user, and their files go', async function () {
        await page.goto(`${origin}/`);
        await Promise.all([page.waitForURL(/\/users\/\d+$/), page.click('.gallery a:has-text("Ann")')]);
        await Promise.all([page.waitForURL(/\/picture\/delete$/), page.click('text=Delete the picture…')]);
        assert.equal(await page.textContent('h1'), "Delete Ann's picture?");
        await assertPleasant('the confirmation page');
        await screenshot('confirm-delete');
        await Promise.all([page.waitForURL(/\/users\/\d+$/), page.click('button.danger')]);
        assert.equal(await statusText('page-status'), 'Picture deleted.');
        await Promise.all([page.waitForURL(/\/users\/\d+\/delete$/), page.click('text=Delete Ann…')]);
        await Promise.all([page.waitForURL(`${origin}/`), page.click('button.danger')]);
        assert.equal(await statusText('page-status'), 'Deleted Ann.');
        await page.goto(`${origin}/nowhere`);
        await assertPleasant('the 404 page');
        assert.deepEqual(
          problems.filter((p) => !/HTTP 404: .*\/nowhere$|status of 404/.test(p)),
          [],
        );
      });

      it('never draws a small picture larger than it is', async function () {
        await page.goto(`${origin}/`);
        await page.fill('#name', 'Bo');
        await Promise.all([page.waitForURL(/\/users\/\d+$/), page.click('text=Add a user')]);
        const small = await sharp({
          create: { width: 80, height: 60, channels: 4, background: { r: 40, g: 120, b: 200, alpha: 0.6 } },
        })
          .png()
          .toBuffer();
        await page.setInputFiles('#picture', { name: 'small.png', mimeType: 'image/png', buffer: small });
        await page.click('form.upload button');
        await waitForStatus('page-status', 'Uploaded “small.png”.');
        const [hero] = await loadedImages();
        assert.ok(
          hero!.shownWidth <= 80 && hero!.shownHeight <= 60,
          `drawn at ${hero!.shownWidth}×${hero!.shownHeight}`,
        );
        await assertPleasant('a user page with a small picture');
        assert.deepEqual(problems, []);
      });

      it('wraps long names and file names rather than scrolling sideways, on every page', async function () {
        await page.goto(`${origin}/`);
        await page.fill('#name', LONG_NAME);
        await Promise.all([page.waitForURL(/\/users\/\d+$/), page.click('text=Add a user')]);
        const userUrl = page.url();
        await assertPleasant('a user page with a long name');
        const file = `${'Sonnenuntergang'.repeat(8)}.jpg`;
        await page.setInputFiles('#picture', {
          name: file,
          mimeType: 'image/jpeg',
          buffer: await sceneJpeg(1200, 800, 300),
        });
        await page.click('form.upload button');
        await waitForStatus('page-status', `Uploaded “${file}”.`);
        await loadedImages();
        await assertPleasant('a user page with a long name and a long file name');
        await screenshot('long-names');
        await page.goto(`${origin}/`);
        await loadedImages();
        await assertPleasant('the gallery with a long name');
        await page.goto(`${userUrl}/picture/delete`);
        await assertPleasant("the confirmation for a long name's picture");
        await page.goto(`${userUrl}/delete`);
        await assertPleasant('the confirmation for a long name');
        await Promise.all([page.waitForURL(`${origin}/`), page.click(`button:has-text("Delete ${LONG_NAME}")`)]);
        assert.equal(await statusText('page-status'), `Deleted ${LONG_NAME}.`);
        await assertPleasant('the gallery saying a long name was deleted');
        await page.goto(`${origin}/${'nowhere'.repeat(30)}`);
        await assertPleasant('a 404 page for a long address');
        assert.deepEqual(
          problems.filter((p) => !/HTTP 404: .*\/(nowhere)+$|status of 404/.test(p)),
          [],
        );
      });

      if (device.name === 'desktop') {
        it('works without JavaScript: a refused upload comes back as a page, and a reload posts nothing', async function () {
          const noScript = await browser.newContext({ viewport: device.viewport, javaScriptEnabled: false });
          try {
            const plain = await noScript.newPage();
            const methods: string[] = [];
            plain.on('request', (req) => {
              if (req.resourceType() === 'document') methods.push(`${req.method()} ${new URL(req.url()).pathname}`);
            });
            await plain.goto(`${origin}/`);
            await Promise.all([plain.waitForURL(/\/users\/\d+$/), plain.click('.gallery a:has-text("Bea")')]);
            const userPath = new URL(plain.url()).pathname;
            await plain.setInputFiles('#picture', {
              name: 'notes.jpg',
              mimeType: 'image/jpeg',
              buffer: Buffer.from('not a picture'),
            });
            await Promise.all([plain.waitForURL(`${origin}${userPath}`), plain.click('form.upload button')]);
            assert.equal(
              (await plain.textContent('#picture-status'))?.trim(),
              "This file isn't a picture we can read. Try a JPEG, PNG, GIF, WebP, AVIF, TIFF or HEIC file.",
            );
            methods.length = 0;
            await plain.reload();
            assert.deepEqual(methods, [`GET ${userPath}`]);
            assert.equal((await plain.textContent('#picture-status'))?.trim(), '');
          } finally {
            await noScript.close();
          }
        });
      }
    });
  }
});

function mimeTypeOf(name: string): string {
  const extension = name.split('.').pop()!.toLowerCase();
  return (
    { jpg: 'image/jpeg', png: 'image/png', heic: 'image/heic', pdf: 'application/pdf' }[extension] ??
    'application/octet-stream'
  );
}

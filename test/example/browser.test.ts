/**
 * The example in a real browser: headless Chromium (Debian's `chromium`, driven by playwright-core)
 * adds a user, uploads a JPEG through the form, and every <img> of the user page and the gallery
 * must have loaded, with no console error. Screenshots go to test-output/.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { removeDir, tempDir } from '../support/tmp.js';
import { sceneJpeg } from './scene.js';
import { type MountedExample, mountExample } from './harness.js';

const CHROMIUM_CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => !!p);
const OUTPUT = path.resolve('test-output');

describe('the example app in Chromium', function () {
  this.timeout(90_000);
  let executablePath: string | undefined;
  let example: MountedExample;
  let server: Server;
  let origin: string;
  let profile: string;
  let context: BrowserContext;
  let page: Page;
  /** Console errors, page errors, failed requests and 4xx/5xx responses: none are expected. */
  const problems: string[] = [];

  before(async function () {
    executablePath = CHROMIUM_CANDIDATES.find((p) => existsSync(p));
    if (executablePath === undefined) {
      console.log(`    skipped: no Chromium at ${CHROMIUM_CANDIDATES.join(' or ')} (apt-get install -y chromium, or set CHROMIUM_PATH)`);
      this.skip();
    }
    example = await mountExample();
    server = await new Promise<Server>((resolve) => {
      const s = example.app.listen(0, '127.0.0.1', () => resolve(s));
    });
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    profile = await tempDir('chromium-profile');
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      viewport: { width: 1000, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} ${req.failure()?.errorText}`));
    page.on('response', (res) => {
      if (res.status() >= 400) problems.push(`HTTP ${res.status()}: ${res.url()}`);
    });
    await mkdir(OUTPUT, { recursive: true });
  });
  after(async function () {
    await context?.close();
    if (server) await new Promise((resolve) => server.close(resolve));
    await example?.dispose();
    if (profile) await removeDir(profile);
  });

  /** Every <img> of the page, after scrolling each into view (the gallery's are lazy) and waiting. */
  async function loadedImages(): Promise<Array<{ src: string; naturalWidth: number }>> {
    // Browser-side code as strings: this project's TypeScript has no DOM types, on purpose.
    await page.evaluate(`(async () => {
      for (const img of document.images) {
        img.scrollIntoView();
        await img.decode().catch(() => undefined);
      }
      window.scrollTo(0, 0);
    })()`);
    await page.waitForFunction('Array.from(document.images).every((img) => img.complete)', undefined, { timeout: 20_000 });
    return page.evaluate('Array.from(document.images).map((img) => ({ src: img.currentSrc || img.src, naturalWidth: img.naturalWidth }))');
  }

  it('adds a user, uploads a JPEG through the form, and shows every image', async function () {
    const file = path.join(example.dataDir, 'sunset.jpg');
    await writeFile(file, await sceneJpeg(1600, 1200));

    await page.goto(`${origin}/`);
    await page.fill('input[name="name"]', 'Ann');
    await Promise.all([page.waitForURL(/\/users\/\d+$/), page.click('text=Add a user')]);
    assert.match(await page.textContent('h1') ?? '', /Ann/);

    await page.setInputFiles('input[name="picture"]', file);
    await Promise.all([page.waitForURL(/\/users\/\d+$/), page.click('form.upload button')]);

    const images = await loadedImages();
    // The picture, the four stored images of the table, and two on-demand thumbnails.
    assert.equal(images.length, 7, JSON.stringify(images));
    for (const image of images) assert.ok(image.naturalWidth > 0, `not loaded: ${image.src}`);
    assert.ok(images.some((i) => /\.800x600\.webp\?_ts=/.test(i.src)), 'Chromium takes the WebP <source> of the <picture>');
    await page.screenshot({ path: path.join(OUTPUT, 'example-user.png'), fullPage: true });
    assert.deepEqual(problems, []);
  });

  it('shows the new picture in the gallery', async function () {
    await page.goto(`${origin}/`);
    const images = await loadedImages();
    assert.equal(images.length, 1);
    assert.ok(images[0]!.naturalWidth > 0, `not loaded: ${images[0]!.src}`);
    await page.screenshot({ path: path.join(OUTPUT, 'example-gallery.png'), fullPage: true });
    assert.deepEqual(problems, []);
  });

  it('shows a rejected upload on an error page', async function () {
    const file = path.join(example.dataDir, 'notes.jpg');
    await writeFile(file, 'these are notes, not a picture');
    await page.goto(`${origin}/`);
    await Promise.all([page.waitForURL(/\/users\/\d+$/), page.click('.gallery a')]);
    await page.setInputFiles('input[name="picture"]', file);
    const [response] = await Promise.all([page.waitForNavigation(), page.click('form.upload button')]);
    assert.equal(response?.status(), 415);
    assert.match((await page.textContent('.error-message')) ?? '', /but the bytes are not one/);
    // That 415 was the point: take it off the list of problems.
    assert.deepEqual(problems.splice(0).filter((p) => !p.startsWith('HTTP 415') && !/status of 415/.test(p)), []);
  });
});

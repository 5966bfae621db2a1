/**
 * Direct uploads in a real browser (headless Chromium, as browser.test.ts drives it): the form's
 * script presigns, sends the picture straight to the store with progress, and the app claims the
 * token: to the folder's upload endpoint, and to an S3 bucket (s3rver, with CORS for the app's
 * origin). The app itself receives only a few KB of request body for the whole upload.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { CreateBucketCommand, PutBucketCorsCommand, S3Client } from '@aws-sdk/client-s3';
import { type Browser, chromium } from 'playwright-core';
import { spawnS3rver } from '../support/s3.js';
import { listTree } from '../support/tmp.js';
import { type MountedExample, mountExample } from './harness.js';
import { sceneJpeg } from './scene.js';

const CHROMIUM_CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(
  (p): p is string => !!p,
);
/** Browser-side code is passed as strings: this project's TypeScript has no DOM types, on purpose. */
const js = String.raw;
const FEW_KB = 8 * 1024;

describe('the example app in Chromium: direct uploads', function () {
  this.timeout(120_000);
  let browser: Browser;

  before(async function () {
    const executablePath = CHROMIUM_CANDIDATES.find((p) => existsSync(p));
    if (executablePath === undefined) {
      console.log(`    skipped: no Chromium at ${CHROMIUM_CANDIDATES.join(' or ')}`);
      this.skip();
    }
    browser = await chromium.launch({
      executablePath,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
  });
  after(async function () {
    await browser?.close();
  });

  /** The example listening on 127.0.0.1, counting the request-body bytes each request brought it. */
  async function listen(example: MountedExample): Promise<{
    server: Server;
    origin: string;
    bodies: Array<{ method: string; url: string; bytes: number }>;
  }> {
    const bodies: Array<{ method: string; url: string; bytes: number }> = [];
    const server = await new Promise<Server>((resolve) => {
      const s = example.app.listen(0, '127.0.0.1', () => resolve(s));
    });
    server.prependListener('request', (req: IncomingMessage) => {
      const entry = { method: req.method!, url: req.url!, bytes: 0 };
      bodies.push(entry);
      req.on('data', (chunk: Buffer) => (entry.bytes += chunk.length));
    });
    return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies };
  }

  /** Adds Ann, uploads the photo through the form, and waits for her page to show it. */
  async function uploadThroughTheForm(origin: string, photo: string) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
    const requests: Array<{ method: string; url: string }> = [];
    page.on('request', (r) => requests.push({ method: r.method(), url: r.url() }));
    try {
      await page.goto(`${origin}/`);
      await page.fill('input[name="name"]', 'Ann');
      await Promise.all([page.waitForURL(/\/users\/\d+$/), page.click('form[action="/users"] button')]);
      await page.setInputFiles('#picture', photo);
      // The helper's onProgress, as the form's script shows it ("Uploading “…”: N%").
      const progress: string[] = [];
      page.on('console', (m) => m.text().startsWith('progress ') && progress.push(m.text()));
      await page.evaluate(js`(() => {
        const status = document.querySelector('#picture-status');
        new MutationObserver(() => /\d+%/.test(status.textContent) && console.info('progress ' + status.textContent))
          .observe(status, { childList: true, characterData: true, subtree: true });
      })()`);
      await Promise.all([
        page.waitForURL(/\/users\/\d+$/, { waitUntil: 'load' }),
        page.waitForEvent('framenavigated'),
        page.click('form.upload button'),
      ]);
      await page.waitForSelector('figure.hero img');
      const shown = (await (
        await page.waitForFunction(
          js`(() => { const img = document.querySelector('figure.hero img'); return img.complete && img.naturalWidth; })()`,
          undefined,
          { timeout: 20_000 },
        )
      ).jsonValue()) as number;
      const status = await page.textContent('#page-status');
      assert.ok(progress.length > 0, 'progress was shown');
      return { shown, status, requests, problems };
    } finally {
      await context.close();
    }
  }

  it('to the filesystem endpoint: presign, PUT with progress, claim; the app gets a few KB besides the endpoint’s PUT', async function () {
    const example = await mountExample();
    const { server, origin, bodies } = await listen(example);
    try {
      const photo = path.join(example.dataDir, 'sunset.jpg');
      await writeFile(photo, await sceneJpeg(1600, 1200));
      const size = (await readFile(photo)).length;
      const seen = await uploadThroughTheForm(origin, photo);
      assert.ok(seen.shown > 0, 'the picture shows');
      assert.match(seen.status ?? '', /Uploaded “sunset\.jpg”/);
      assert.deepEqual(seen.problems, []);
      const put = seen.requests.find((r) => r.method === 'PUT');
      assert.match(put?.url ?? '', /\/__uploads__\/[0-9a-f]{32}\?/);
      // The app's own routes (presign, claim, pages) received a few KB; the bytes went to the endpoint.
      const endpoint = bodies.filter((b) => b.url.startsWith('/__uploads__/'));
      assert.deepEqual(
        endpoint.map((b) => b.bytes),
        [size],
      );
      const app = bodies.filter((b) => !b.url.startsWith('/__uploads__/')).reduce((n, b) => n + b.bytes, 0);
      assert.ok(app < FEW_KB, `the app's routes received ${app} bytes`);
      // Claimed: the staged file is gone, the set has the original and its thumbnails.
      const files = await listTree(path.join(example.dataDir, 'images'));
      assert.deepEqual(
        files.filter((f) => f.startsWith('.uploads/') && !f.endsWith('/')),
        [],
      );
      // The original and its three thumbnails; beside them, the avatar's outputs (three formats, 1× and 2×).
      const images = files.filter((f) => /\.(jpe|webp|avif)$/.test(f));
      assert.equal(images.filter((f) => !f.split('/')[0]!.includes('.')).length, 4);
      assert.equal(images.filter((f) => /^[^/]+\.avatar\.[0-9a-f]{12}\//.test(f)).length, 6);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await example.dispose();
    }
  });

  for (const method of ['POST', 'PUT'] as const) {
    it(`to an S3 bucket (s3rver, CORS for the app’s origin) by ${method === 'POST' ? 'a POST policy form' : 'a presigned PUT'}: the app gets a few KB in all`, async function () {
      const s3 = await spawnS3rver();
      const saved = { ...process.env };
      Object.assign(process.env, {
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
        AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      });
      const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true });
      let example: MountedExample | undefined;
      let server: Server | undefined;
      try {
        await client.send(new CreateBucketCommand({ Bucket: 'direct-images' }));
        example = await mountExample(undefined, {
          s3: { bucket: 'direct-images', endpoint: s3.endpoint, region: 'us-east-1', uploadMethod: method },
        });
        const listening = await listen(example);
        server = listening.server;
        // What the bucket needs for a browser on the app's origin to POST to it.
        await client.send(
          new PutBucketCorsCommand({
            Bucket: 'direct-images',
            CORSConfiguration: {
              CORSRules: [
                {
                  AllowedOrigins: [listening.origin],
                  AllowedMethods: ['POST', 'PUT', 'GET'],
                  AllowedHeaders: ['*'],
                  MaxAgeSeconds: 300,
                },
              ],
            },
          }),
        );
        const photo = path.join(example.dataDir, 'sunset.jpg');
        await writeFile(photo, await sceneJpeg(1600, 1200));
        const seen = await uploadThroughTheForm(listening.origin, photo);
        assert.ok(seen.shown > 0, 'the picture shows');
        assert.match(seen.status ?? '', /Uploaded “sunset\.jpg”/);
        assert.deepEqual(seen.problems, []);
        assert.ok(
          seen.requests.some((r) => r.method === method && r.url.startsWith(`${s3.endpoint}/direct-images`)),
          `the page sent a ${method} to the bucket`,
        );
        const received = listening.bodies.reduce((n, b) => n + b.bytes, 0);
        assert.ok(received < FEW_KB, `the app received ${received} bytes in all`);
        const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
        const keys = ((await client.send(new ListObjectsV2Command({ Bucket: 'direct-images' }))).Contents ?? []).map(
          (o) => o.Key!,
        );
        assert.equal(keys.filter((k) => k.startsWith('.uploads/')).length, 0, keys.join(', '));
        assert.equal(keys.filter((k) => k.startsWith('user-picture/')).length, 4, keys.join(', '));
      } finally {
        if (server) await new Promise((resolve) => server!.close(resolve));
        await example?.dispose();
        client.destroy();
        await s3.stop();
        process.env = saved;
      }
    });
  }
});

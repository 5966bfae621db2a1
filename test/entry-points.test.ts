/**
 * Each entry point loads only the packages its job needs: the core (`objection-imageattach`)
 * none of Express's, the static server's, the AWS SDK's or BullMQ's, and sharp only when an image
 * is processed. Checked in a fresh process, so nothing another test imported counts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const PROBE = fileURLToPath(new URL('./support/loaded-packages.mjs', import.meta.url));

/** The npm packages a cold `import(specifier)` loads, as the package's users resolve it. */
async function packagesLoadedBy(specifier: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', '--conditions=objection-imageattach-source', PROBE, specifier],
    { cwd: REPO },
  );
  return JSON.parse(stdout) as string[];
}

/** The static server's packages, the upload parser's, Express, the AWS SDK, BullMQ and sharp. */
const NOT_IN_THE_CORE =
  /^(etag|fresh|range-parser|mime-types|mime-db|multer|busboy|express|@aws-sdk\/.*|bullmq|ioredis|sharp)$/;

describe('entry points', function () {
  this.timeout(30_000);

  it("objection-imageattach loads none of the static server's packages, nor Express, multer, the AWS SDK, BullMQ or sharp", async function () {
    const loaded = await packagesLoadedBy('objection-imageattach');
    assert.ok(loaded.includes('objection'), `the probe saw no objection in ${loaded.join(', ')}`);
    assert.deepEqual(
      loaded.filter((name) => NOT_IN_THE_CORE.test(name)),
      [],
    );
  });

  it("objection-imageattach/express loads the static server's packages (so the probe sees them)", async function () {
    const loaded = await packagesLoadedBy('objection-imageattach/express');
    for (const name of ['fresh', 'range-parser', 'mime-types', 'mime-db', 'multer'])
      assert.ok(loaded.includes(name), `${name} not in ${loaded.join(', ')}`);
  });

  it('objection-imageattach/browser loads no package at all, and its source imports nothing (it runs in a page)', async function () {
    // tsx (and its esbuild) are the probe's own TypeScript loader.
    const loaded = await packagesLoadedBy('objection-imageattach/browser');
    assert.deepEqual(
      loaded.filter((name) => !/^(tsx|esbuild)$/.test(name)),
      [],
    );
    const source = readFileSync(path.join(REPO, 'src/browser.ts'), 'utf8');
    assert.doesNotMatch(source, /^\s*import\s|\bimport\(|\brequire\(/m);
  });

  it('objection-imageattach/browser is exported for users, built to dist like the other entries', function () {
    const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8'));
    assert.deepEqual(pkg.exports['./browser'], {
      'objection-imageattach-source': './src/browser.ts',
      types: './dist/browser.d.ts',
      default: './dist/browser.js',
    });
  });

  it("stores import nothing from http/: serving a store is the HTTP layer's job", function () {
    const stores = path.join(REPO, 'src/stores');
    const upward = readdirSync(stores).filter(
      (file) => file.endsWith('.ts') && /from '\.\.\/http\//.test(readFileSync(path.join(stores, file), 'utf8')),
    );
    assert.deepEqual(upward, []);
  });
});

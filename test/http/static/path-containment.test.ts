import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import express from 'express';
import { staticServer } from '../../../src/express.js';
import { resolveRequestPath } from '../../../src/http/static/request-path.js';
import { removeDir, tempDir } from '../../support/tmp.js';
import { listen } from '../fixtures.js';
import { rawRequest } from '../raw.js';

/**
 * Requests that try to read outside the root. Layout, under a temp folder:
 *   files/            the root: ok.txt, a/b.txt, and symlinks etc -> /etc, escape -> ../files-secret,
 *                     link.txt -> ../secret.txt, inside.txt -> ok.txt
 *   files-secret/     a sibling whose name starts with the root's name: secret.txt
 *   secret.txt        next to the root
 * `[target, status]`: the status with `fallthrough: false` (400 malformed, 404 refused or absent).
 */
const CORPUS: Array<[string, 400 | 404]> = [
  ['/../secret.txt', 404],
  ['/../../../../../../etc/passwd', 404],
  ['/a/../../secret.txt', 404],
  ['/./../secret.txt', 404],
  ['/%2e%2e/secret.txt', 404],
  ['/%2E%2E/%2E%2E/%2E%2E/etc/passwd', 404],
  ['/.%2e/secret.txt', 404],
  ['/%2e./secret.txt', 404],
  ['/..%2fsecret.txt', 404],
  ['/%2e%2e%2fsecret.txt', 404],
  ['/..%2f..%2f..%2f..%2fetc%2fpasswd', 404],
  ['/a%2f..%2f..%2fsecret.txt', 404],
  ['/%252e%252e/secret.txt', 404],
  ['/%252e%252e%252fsecret.txt', 404],
  ['/..\\secret.txt', 404],
  ['/..%5csecret.txt', 404],
  ['/%5c..%5c..%5csecret.txt', 404],
  ['/..%255c..%255csecret.txt', 404],
  ['/ok.txt%00', 400],
  ['/ok.txt%00.png', 400],
  ['/%00../secret.txt', 400],
  ['//etc/passwd', 404],
  ['/%2fetc%2fpasswd', 404],
  ['/%2F%2E%2E%2Fsecret.txt', 404],
  ['/etc/passwd', 404],
  ['/etc/hostname', 404],
  ['/escape/secret.txt', 404],
  ['/link.txt', 404],
  ['/../files-secret/secret.txt', 404],
  ['/%2e%2e/files-secret/secret.txt', 404],
  ['/%c0%ae%c0%ae/secret.txt', 400],
  ['/%c0%af..%c0%afsecret.txt', 400],
  ['/%e0%80%ae%e0%80%ae/secret.txt', 400],
  ['/%ef%bc%8e%ef%bc%8e/secret.txt', 404],
  ['/%uff0e%uff0e/secret.txt', 400],
  ['/a', 404],
  ['/etc', 404],
  ['/.', 404],
  ['/', 404],
  ['http://localhost/../secret.txt', 404],
];

/**
 * Targets only the filesystem can judge: symlinks, folders, and names that merely look odd once
 * decoded (once: `%252e%252e` is the literal name `%2e%2e`, not `..`).
 */
const NEEDS_THE_DISK = new Set([
  '/etc/passwd',
  '/etc/hostname',
  '/escape/secret.txt',
  '/link.txt',
  '/a',
  '/etc',
  '/%ef%bc%8e%ef%bc%8e/secret.txt',
  '/%252e%252e/secret.txt',
  '/%252e%252e%252fsecret.txt',
]);

/** Bytes that exist only outside the root. */
const OUTSIDE = /SECRET|root:|localhost|127\.0\.0\.1/;

describe('staticServer path containment', function () {
  let base: string;
  let root: string;

  before(async function () {
    base = await tempDir('containment');
    root = path.join(base, 'files');
    await mkdir(path.join(root, 'a'), { recursive: true });
    await mkdir(path.join(base, 'files-secret'));
    await writeFile(path.join(root, 'ok.txt'), 'public');
    await writeFile(path.join(root, 'a', 'b.txt'), 'public b');
    await writeFile(path.join(base, 'secret.txt'), 'SECRET-NEXT-TO-ROOT');
    await writeFile(path.join(base, 'files-secret', 'secret.txt'), 'SECRET-IN-SIBLING');
    await symlink('/etc', path.join(root, 'etc'));
    await symlink('../files-secret', path.join(root, 'escape'));
    await symlink('../secret.txt', path.join(root, 'link.txt'));
    await symlink('ok.txt', path.join(root, 'inside.txt'));
  });
  after(async function () {
    await removeDir(base);
  });

  it(`has a corpus of ${CORPUS.length} hostile paths`, function () {
    assert.ok(CORPUS.length >= 25);
  });

  it('refuses all the others before any filesystem call', function () {
    for (const [target] of CORPUS) {
      if (NEEDS_THE_DISK.has(target)) continue;
      assert.notEqual(resolveRequestPath(target, '', root).kind, 'file', target);
    }
  });

  /** A bare `http` server: errors passed to next() become their status, anything else a 404. */
  async function strictServer(prefix?: string) {
    const serve = staticServer({ root, fallthrough: false, ...(prefix === undefined ? {} : { prefix }) });
    return listen(
      http.createServer((req, res) =>
        serve(req, res, (error?: unknown) => {
          res.statusCode = (error as { statusCode?: number } | undefined)?.statusCode ?? 404;
          res.end('refused');
        }),
      ),
    );
  }

  it('answers every one 404 (or 400 when malformed), with no byte from outside', async function () {
    const { port, close } = await strictServer();
    try {
      for (const [target, status] of CORPUS) {
        const res = await rawRequest(port, target);
        assert.equal(res.status, status, target);
        assert.doesNotMatch(res.body.toString('latin1'), OUTSIDE, target);
      }
    } finally {
      await close();
    }
  });

  it('holds under a prefix too', async function () {
    const { port, close } = await strictServer('/files');
    try {
      for (const [target] of CORPUS) {
        const res = await rawRequest(port, target.startsWith('/') ? `/files${target}` : target);
        assert.ok(res.status === 400 || res.status === 404, `${target}: ${res.status}`);
        assert.doesNotMatch(res.body.toString('latin1'), OUTSIDE, target);
      }
    } finally {
      await close();
    }
  });

  it('falls through to the next handler in Express, which never sees a byte from outside', async function () {
    const app = express();
    app.use(staticServer({ root }));
    const { port, close } = await listen(http.createServer(app));
    try {
      for (const [target] of CORPUS) {
        const res = await rawRequest(port, target);
        assert.ok(res.status === 400 || res.status === 404, `${target}: ${res.status}`);
        assert.doesNotMatch(res.body.toString('latin1'), OUTSIDE, target);
      }
    } finally {
      await close();
    }
  });

  it('still serves what is inside: plain files, nested files, symlinks within the root', async function () {
    const { port, close } = await strictServer();
    try {
      for (const [target, body] of [
        ['/ok.txt', 'public'],
        ['/a/b.txt', 'public b'],
        ['/a/%62.txt', 'public b'],
        ['/inside.txt', 'public'],
      ]) {
        const res = await rawRequest(port, target!);
        assert.equal(res.status, 200, target);
        assert.equal(res.body.toString(), body, target);
      }
    } finally {
      await close();
    }
  });
});

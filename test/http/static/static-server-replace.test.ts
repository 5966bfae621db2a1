import assert from 'node:assert/strict';
import { rename, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { staticServer, type StaticServerOptions } from '../../../src/http/static/static-server.js';
import { removeDir, tempDir } from '../../support/tmp.js';

/** Two versions of a file, of different sizes, each byte telling which version it belongs to. */
function versions(size: number): [Buffer, Buffer] {
  return [Buffer.alloc(size, 0x41), Buffer.alloc(size + 17, 0x42)];
}

/** GET `target` on a keep-alive agent; resolves with the status and the whole body, or fails after 5 s. */
function get(port: number, agent: http.Agent, target: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: target, agent, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`request for ${target} hung for 5 s`)));
    req.on('error', reject);
  });
}

// Stores replace a file by writing a temp file and renaming it over the old one; the server must
// serve the old or the new bytes whole, never a 404, a mix or a hang.
describe('staticServer while files are replaced by rename', function () {
  this.timeout(30_000);
  let root: string;

  beforeEach(async () => (root = await tempDir('static-replace')));
  afterEach(() => removeDir(root));

  for (const [label, size, options] of [
    ['a small file (kept in memory)', 2_000, {}],
    ['a small file, without the content cache', 2_000, { cache: false }],
    ['a large file (streamed)', 300_000, { blockSize: 16_384 }],
  ] as Array<[string, number, Partial<StaticServerOptions>]>) {
    it(`serves ${label} whole, old or new, to every request`, async function () {
      const [a, b] = versions(size);
      const file = path.join(root, 'photo.jpe');
      await writeFile(file, a);
      const serve = staticServer({ root, ...options });
      const server = http.createServer((req, res) =>
        serve(req, res, (error?: unknown) => {
          res.statusCode = error === undefined ? 404 : 500;
          res.end();
        }),
      );
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as AddressInfo).port;
      const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
      let replacing = true;
      let renames = 0;
      const replacer = (async () => {
        // Bounded: stops with the requests, or after 20,000 renames.
        for (let i = 0; replacing && i < 20_000; i++) {
          const temp = path.join(root, `.tmp-${i}`);
          await writeFile(temp, i % 2 === 0 ? b : a);
          await rename(temp, file);
          renames++;
        }
      })();
      const problems: string[] = [];
      try {
        const clients = Array.from({ length: 8 }, async () => {
          // 150 requests each, more (up to 500) while the file has been replaced fewer than 100 times.
          for (let i = 0; i < 500 && (i < 150 || renames < 100); i++) {
            const { status, body } = await get(port, agent, '/photo.jpe');
            if (status !== 200) problems.push(`status ${status}`);
            else if (!body.equals(a) && !body.equals(b)) problems.push(`mixed body of ${body.length} bytes`);
          }
        });
        await Promise.all(clients);
      } finally {
        replacing = false;
        await replacer;
        agent.destroy();
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
      assert.ok(renames >= 100, `the file was replaced ${renames} times during the requests`);
      assert.deepEqual(problems.slice(0, 10), [], `${problems.length} requests went wrong`);
    });
  }
});

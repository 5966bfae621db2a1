import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { removeDir, tempDir } from '../support/tmp.js';

/** `example/server.ts` as `npm start` runs it; resolves with its exit code and output, killed after 30 s. */
function runServer(env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=objection-imageattach-source', 'example/server.ts'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('npm start (example/server.ts)', function () {
  this.timeout(40_000);
  let taken: Server;
  let dataDir: string;

  before(async function () {
    dataDir = await tempDir('example-server');
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, resolve));
  });
  after(async function () {
    await new Promise((resolve) => taken.close(resolve));
    await removeDir(dataDir);
  });

  it('exits non-zero with a one-line reason when the port is taken, and announces nothing', async function () {
    const port = (taken.address() as AddressInfo).port;
    const { code, stdout, stderr } = await runServer({ PORT: String(port), DATA_DIR: dataDir, DATABASE_URL: '', REDIS_URL: '', S3_BUCKET: '' });
    assert.equal(code, 1, stderr);
    assert.equal(stdout, '');
    assert.equal(stderr, `objection-imageattach example: cannot listen: port ${port} is already in use (set PORT to another)\n`);
  });
});

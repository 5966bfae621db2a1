import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { removeDir, tempDir } from '../support/tmp.js';

/** `example/server.ts` as `npm start` runs it; resolves with its exit code and output, killed after 30 s. */
function runServer(env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=objection-imageattach-source', 'example/server.ts'],
    {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
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
    const { code, stdout, stderr } = await runServer({
      PORT: String(port),
      DATA_DIR: dataDir,
      DATABASE_URL: '',
      REDIS_URL: '',
      S3_BUCKET: '',
    });
    assert.equal(code, 1, stderr);
    assert.equal(stdout, '');
    assert.equal(
      stderr,
      `objection-imageattach example: cannot listen: port ${port} is already in use (set PORT to another)\n`,
    );
  });

  it('settles what a killed process left staged before it serves (docs/deploying.md)', async function () {
    const ownData = await tempDir('example-server-settle');
    try {
      // A staged replacement of a process that is gone, for a row that never committed.
      const dead = await new Promise<number>((resolve) => {
        const child = execFile(process.execPath, ['-e', '']);
        child.once('exit', () => resolve(child.pid!));
      });
      const staging = path.join(ownData, 'images', '.staging');
      await mkdir(staging, { recursive: true });
      const token = `${dead}-0badc0de-00112233aabbccdd`;
      const note = {
        key: { objectType: 'user-picture', objectId: '999', width: 40, height: 30, mimetype: 'image/jpeg' },
        row: { table: 'user_picture', id: { user_id: 999, width: 40, height: 30 }, createdAt: Date.now() },
      };
      await writeFile(path.join(staging, `${token}.json`), JSON.stringify(note));
      await writeFile(path.join(staging, `${token}.stage`), 'bytes');
      const port = (taken.address() as AddressInfo).port;
      // The port is taken: the server exits, but only after its start-up settling.
      const { code, stdout, stderr } = await runServer({
        PORT: String(port),
        DATA_DIR: ownData,
        DATABASE_URL: '',
        REDIS_URL: '',
        S3_BUCKET: '',
      });
      assert.equal(code, 1, stderr);
      assert.equal(stdout, 'objection-imageattach example: settled 0 interrupted write(s), discarded 1\n');
      assert.deepEqual(await readdir(staging), []);
    } finally {
      await removeDir(ownData);
    }
  });
});

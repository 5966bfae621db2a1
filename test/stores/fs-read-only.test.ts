/**
 * A filesystem store this process cannot write to says so (ERR_STORE_READ_ONLY, naming the root),
 * rather than passing on a bare `ENOENT`/`EACCES … mkdir`. The write runs in a child process as an
 * unprivileged user when the tests run as root (root writes through any permission bits).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { listTree, removeDir, tempDir } from '../support/tmp.js';

const run = promisify(execFile);
const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'children', 'write-one.ts');
const NOBODY = 65534;

async function writeAsUnprivileged(
  root: string,
): Promise<{ ok?: true; code?: string; statusCode?: number; message?: string }> {
  const asRoot = process.getuid?.() === 0;
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', child, root],
    asRoot ? { uid: NOBODY, gid: NOBODY } : {},
  );
  return JSON.parse(stdout);
}

describe('a read-only filesystem store', function () {
  let dir: string;

  beforeEach(async function () {
    dir = await tempDir('read-only-store');
  });
  afterEach(async function () {
    // Writable again (folders first, top down), so the tree can be removed without root.
    for (const d of [dir, ...(await listTree(dir)).filter((f) => f.endsWith('/')).map((f) => path.join(dir, f))])
      await chmod(d, 0o755);
    await removeDir(dir);
  });

  it('whose root cannot be created: ERR_STORE_READ_ONLY naming the root', async function () {
    this.timeout(30000);
    await chmod(dir, 0o555);
    const root = path.join(dir, 'images');
    const result = await writeAsUnprivileged(root);
    assert.equal(result.code, 'ERR_STORE_READ_ONLY');
    assert.equal(result.statusCode, 503);
    assert.match(result.message!, new RegExp(`^The filesystem store at ${root} is read-only for this process`));
  });

  it('whose root exists but cannot be written: ERR_STORE_READ_ONLY', async function () {
    this.timeout(30000);
    const root = path.join(dir, 'images');
    await mkdir(path.join(root, 'user-picture', '1', '0'), { recursive: true });
    for (const d of [
      root,
      path.join(root, 'user-picture'),
      path.join(root, 'user-picture', '1'),
      path.join(root, 'user-picture', '1', '0'),
    ])
      await chmod(d, 0o555);
    await chmod(dir, 0o755);
    const result = await writeAsUnprivileged(root);
    assert.equal(result.code, 'ERR_STORE_READ_ONLY');
  });
});

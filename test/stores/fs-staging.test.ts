/**
 * The staging area of a filesystem store on a full disk (a 256 KiB tmpfs, mounted when this
 * process may mount one): a failed stage leaves nothing behind and says so with a typed error.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, open, readdir, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { StoreError } from '../../src/errors.js';
import { FileSystemStore } from '../../src/stores/fs.js';
import { tempDir } from '../support/tmp.js';

const run = promisify(execFile);

describe('FileSystemStore staging on a full disk (ENOSPC)', function () {
  let mountPoint: string | undefined;
  let root: string;

  before(async function () {
    const dir = await tempDir('staging-enospc');
    try {
      await run('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', dir]);
      mountPoint = dir;
    } catch {
      await rmdir(dir);
      this.skip();
    }
    root = path.join(mountPoint!, 'store');
    await mkdir(path.join(root, '.staging'), { recursive: true });
    // Fill the filesystem to the last block.
    const filler = await open(path.join(mountPoint!, 'filler'), 'w');
    try {
      for (;;) await filler.write(Buffer.alloc(4096));
    } catch (error) {
      assert.equal((error as NodeJS.ErrnoException).code, 'ENOSPC');
    } finally {
      await filler.close();
    }
  });
  after(async function () {
    if (mountPoint === undefined) return;
    await run('umount', [mountPoint]);
    await rmdir(mountPoint);
  });

  it('a note that cannot be written: ERR_STORE_WRITE naming the note, and no <token>.json.<hex>.tmp left', async function () {
    const store = new FileSystemStore({ path: root, baseUrl: 'http://static.example.com/' });
    const key = { objectType: 'user-picture', objectId: 7n, width: 40, height: 30, mimetype: 'image/jpeg' };
    const note = {
      key: { ...key, objectId: '7' },
      row: { table: 'user_picture', id: { user_id: 7, width: 40, height: 30 }, createdAt: Date.now() },
    };
    await assert.rejects(
      store.staging!.stage(key, Readable.from([Buffer.alloc(64 * 1024)]), note),
      (error: unknown) => {
        assert.ok(error instanceof StoreError);
        assert.equal(error.code, 'ERR_STORE_WRITE');
        assert.match(error.message, /staging note .*\.json failed: .*ENOSPC/);
        return true;
      },
    );
    assert.deepEqual(await readdir(path.join(root, '.staging')), []);
  });
});

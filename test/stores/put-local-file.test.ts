import assert from 'node:assert/strict';
import { readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FileSystemStore, StoreError } from '../../src/index.js';
import { HookedStore } from '../support/hooked-store.js';
import { removeDir, tempDir } from '../support/tmp.js';

// The default putLocalFile (what a store without a local copy of its own inherits), when the
// store's putFile fails before reading a byte, as a full disk or a refused upload would.
describe('Store.putLocalFile by default', function () {
  let dir: string;
  before(async () => (dir = await tempDir('put-local')));
  after(() => removeDir(dir));

  const openDescriptors = async () => (await readdir('/proc/self/fd')).length;

  it('fails with the store’s error, leaves the local file closed, and does not crash when the file then goes', async function () {
    if (process.platform !== 'linux') this.skip();
    const store = new HookedStore(
      new FileSystemStore({ path: path.join(dir, 'store'), baseUrl: 'http://static.example.com/' }),
      async () => {
        throw new StoreError('ERR_STORE_WRITE', 'the disk is full');
      },
    );
    const key = { objectType: 'thing', objectId: 1, width: 10, height: 10, mimetype: 'image/png' };
    const before = await openDescriptors();
    for (let i = 0; i < 20; i++) {
      const file = path.join(dir, `upload-${i}.bin`);
      await writeFile(file, Buffer.alloc(100_000, i));
      await assert.rejects(store.putLocalFile(key, file, { reproducible: false }), { code: 'ERR_STORE_WRITE' });
      // As an upload's temp file is removed once its request fails.
      await rm(file);
    }
    // An unread stream that opened its file itself would fail its open now, uncaught.
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok((await openDescriptors()) <= before, 'no local file left open');
  });
});

import assert from 'node:assert/strict';
import { statfsSync, statSync } from 'node:fs';
import { canStatSynchronously } from '../../../src/http/static/local-filesystems.js';
import { removeDir, tempDir } from '../../support/tmp.js';

// Whether the content cache may check a file with a synchronous stat: only on a local disk.
describe('local filesystems', function () {
  let dir: string;
  before(async () => (dir = await tempDir('local-fs')));
  after(() => removeDir(dir));

  const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

  it('answers false for a device not yet known, then what its filesystem is', async function () {
    const { dev } = statSync(dir);
    // What this machine's temp folder is on: ext4, tmpfs or a container's overlayfs are local.
    const local =
      process.platform === 'linux' &&
      [0xef53, 0x01021994, 0x794c7630, 0x58465342, 0x9123683e].includes(statfsSync(dir).type);
    const first = canStatSynchronously(dev, dir);
    await settle();
    const later = canStatSynchronously(dev, dir);
    // A device some earlier test taught it is known at once; otherwise the first answer is false.
    if (!first) assert.equal(later, local);
    else assert.equal(first, local);
  });

  it('counts a device it cannot learn about as remote, and asks again next time', async function () {
    const unknownDevice = -42;
    assert.equal(canStatSynchronously(unknownDevice, `${dir}/gone`), false);
    await settle();
    assert.equal(canStatSynchronously(unknownDevice, `${dir}/gone`), false);
  });
});

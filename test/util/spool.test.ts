import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { spoolToTempFile } from '../../src/util/spool.js';
import { sweepDeadTempFiles } from '../../src/util/temp-files.js';
import { removeDir, tempDir } from '../support/tmp.js';

// Spool files a killed process leaves behind (its cleanup never ran) are removed by a later one.
describe('spool files', function () {
  let dir: string;
  beforeEach(async () => (dir = await tempDir('spool')));
  afterEach(() => removeDir(dir));

  it('are named with the pid of the process that owns them', async function () {
    const spooled = await spoolToTempFile(Readable.from([Buffer.from('bytes')]), 100, dir);
    assert.match(
      path.basename(spooled.path),
      new RegExp(`^objection-imageattach-${process.pid}-[0-9a-f]{16}\\.spool$`),
    );
    await spooled.dispose();
    assert.deepEqual(await readdir(dir), []);
  });

  it('of a process that is gone are swept once over 10 minutes old; others are kept', async function () {
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
    const old = new Date(Date.now() - 11 * 60 * 1000);
    const put = async (name: string, mtime?: Date) => {
      await writeFile(path.join(dir, name), 'x');
      if (mtime) await utimes(path.join(dir, name), mtime, mtime);
    };
    await put(`objection-imageattach-${gone}-0123456789abcdef.spool`, old); // swept
    await put(`objection-imageattach-${gone}-fedcba9876543210.spool`); // gone, but fresh: kept
    await put(`objection-imageattach-${process.pid}-0123456789abcdef.spool`, old); // ours: kept
    await put(`objection-imageattach-${process.ppid}-0123456789abcdef.spool`, old); // alive: kept
    await put('objection-imageattach-0123456789abcdef.spool', old); // no pid (not ours to judge): kept
    await put('unrelated.spool', old);
    assert.equal(await sweepDeadTempFiles(dir), 1);
    assert.deepEqual(
      (await readdir(dir)).sort(),
      [
        `objection-imageattach-${gone}-fedcba9876543210.spool`,
        `objection-imageattach-${process.pid}-0123456789abcdef.spool`,
        `objection-imageattach-${process.ppid}-0123456789abcdef.spool`,
        'objection-imageattach-0123456789abcdef.spool',
        'unrelated.spool',
      ].sort(),
    );
  });

  it('sweeping a folder that is not there changes nothing', async function () {
    assert.equal(await sweepDeadTempFiles(path.join(dir, 'missing')), 0);
  });
});

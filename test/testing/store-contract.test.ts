/**
 * objection-imageattach/testing under node:test (mocha runs it for the built-in stores in
 * test/stores/ and for the docs' MemoryStore beside this file), and the docs' samples as run.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('../..', import.meta.url));
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

/** Runs `file` with `node --test` (TAP), as a user's project would with tsx: its exit code and counts. */
async function nodeTest(file: string): Promise<{ code: number; tap: string; pass: number; fail: number }> {
  const args = ['--import', 'tsx', '--conditions=objection-imageattach-source', '--test', '--test-reporter=tap'];
  const { code, stdout } = await promisify(execFile)(process.execPath, [...args, here(file)], { cwd: root }).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
  );
  const count = (name: string) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(stdout)?.[1] ?? NaN);
  return { code, tap: stdout, pass: count('pass'), fail: count('fail') };
}

describe('objection-imageattach/testing: storeContract', function () {
  it('is in docs/stores.md as the files run here: the MemoryStore, its mocha and its node:test file', function () {
    const page = readFileSync(`${root}/docs/stores.md`, 'utf8');
    for (const file of ['memory-store.ts', 'memory-store.test.ts', 'memory-store.node-test.ts']) {
      const block = '```ts\n' + readFileSync(here(file), 'utf8') + '```\n';
      assert.ok(page.includes(block), `docs/stores.md does not show ${file} as it is`);
    }
  });

  it("passes the docs' MemoryStore under node:test, with node:test's functions passed in", async function () {
    const run = await nodeTest('memory-store.node-test.ts');
    assert.equal(run.code, 0, run.tap);
    assert.deepEqual([run.pass > 25, run.fail], [true, 0], run.tap);
  });

  it('fails a store on exactly the checks it breaks, under node:test found by itself', async function () {
    const run = await nodeTest('broken-stores.node-test.ts');
    assert.equal(run.code, 1, run.tap);
    const failed = [...run.tap.matchAll(/^ {8}not ok \d+ - (.+)$/gm)].map(([, title]) => title);
    assert.deepEqual(failed.sort(), [
      'is not an error for a file that never existed',
      'keeps the previous file intact when a replacement fails',
      'leaves nothing behind when the input stream fails halfway',
      'removes the file, and is idempotent',
    ]);
    assert.deepEqual([run.pass > 20, run.fail], [true, 4], run.tap);
  });
});

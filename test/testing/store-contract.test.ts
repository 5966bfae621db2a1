/**
 * objection-imageattach/testing under node:test (mocha runs it for the built-in stores in
 * test/stores/ and for the docs' MemoryStore beside this file), and the docs' samples as run.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { InvalidArgumentError } from '../../src/index.js';
import { storeContract, type TestFunctions } from '../../src/testing.js';
import { MemoryStore } from './memory-store.js';

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

/** A runner that only records what a suite registers, so that a test can run its parts by hand. */
function recordingRunner() {
  const checks = new Map<string, () => Promise<void> | void>();
  const beforeEachHooks: Array<() => Promise<void>> = [];
  const functions: TestFunctions = {
    describe: (_name, body) => body(),
    it: (name, body) => checks.set(name, body),
    beforeEach: (hook) => beforeEachHooks.push(hook),
    afterEach: () => {},
  };
  return { functions, checks, beforeEachHooks };
}

const argumentIs = (name: string) => (e: unknown) => e instanceof InvalidArgumentError && e.argument === name;

describe('objection-imageattach/testing: storeContract', function () {
  it('registers with the test functions it is given, and their checks run', async function () {
    const { functions, checks, beforeEachHooks } = recordingRunner();
    storeContract('MemoryStore', () => ({ store: new MemoryStore() }), functions);
    assert.ok(checks.size > 25, `${checks.size} checks`);
    await beforeEachHooks[0]!();
    await checks.get('round-trips a streamed file byte for byte')!();
  });

  it('refuses a bad name, makeStore or test functions, naming the argument', function () {
    const make = () => ({ store: new MemoryStore() });
    const { functions } = recordingRunner();
    assert.throws(() => storeContract('', make, functions), argumentIs('name'));
    assert.throws(() => storeContract('MemoryStore', 'new MemoryStore()' as never, functions), argumentIs('makeStore'));
    const noAfterEach = { ...functions, afterEach: undefined } as never;
    assert.throws(() => storeContract('MemoryStore', make, noAfterEach), argumentIs('testFunctions.afterEach'));
  });

  it('fails each check with InvalidArgumentError when makeStore gives no Store', async function () {
    for (const [made, argument] of [
      [{ store: { putFile() {} } }, 'makeStore().store'],
      [new MemoryStore(), 'makeStore().store'],
      [{ store: new MemoryStore(), snapshot: [] }, 'makeStore().snapshot'],
    ] as const) {
      const { functions, beforeEachHooks } = recordingRunner();
      storeContract('MemoryStore', () => made as never, functions);
      await assert.rejects(beforeEachHooks[0]!(), argumentIs(argument));
    }
  });

  it('is in docs/stores.md as the files run here: the MemoryStore, its mocha and its node:test file', function () {
    const page = readFileSync(`${root}/docs/stores.md`, 'utf8');
    for (const file of ['memory-store.ts', 'memory-store.test.ts', 'memory-store.node-test.ts']) {
      const block = '```ts\n' + readFileSync(here(file), 'utf8') + '```\n';
      assert.ok(page.includes(block), `docs/stores.md does not show ${file} as it is`);
    }
  });

  it("passes the docs' MemoryStore under node:test, with node:test's functions passed in", async function () {
    this.timeout(60_000); // a node and tsx start-up, on a busy machine
    const run = await nodeTest('memory-store.node-test.ts');
    assert.equal(run.code, 0, run.tap);
    assert.deepEqual([run.pass > 25, run.fail], [true, 0], run.tap);
  });

  it('fails a store on exactly the checks it breaks, under node:test found by itself', async function () {
    this.timeout(60_000);
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

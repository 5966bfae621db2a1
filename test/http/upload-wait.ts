/** Waiting on what an upload leaves behind: cleanup may finish just after the response. */
import assert from 'node:assert/strict';
import { listTree } from '../support/tmp.js';

/** Waits until `dir` is empty (cleanup may finish just after the response), failing after 3 s. */
export async function emptied(dir: string): Promise<void> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const left = await listTree(dir);
    if (left.length === 0) return;
    if (Date.now() > deadline) assert.fail(`temp folder not emptied: ${left.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * `npm run bench`: runs every bench in this folder, one after another (they measure ratios, so
 * they must not share the machine with each other), and prints their JSON lines together.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const benches = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !['run-all.ts', 'support.ts', 'memory.ts'].includes(f))
  .map((f) => f.replace(/\.ts$/, ''))
  .filter((name) => only.length === 0 || only.includes(name))
  .sort();

const results: string[] = [];
let failed = 0;
for (const name of benches) {
  console.log(`\n=== bench/${name}.ts`);
  const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, `${name}.ts`)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  process.stdout.write(run.stdout);
  const last = run.stdout.trim().split('\n').pop() ?? '';
  if (run.status === 0 && last.startsWith('{')) results.push(last);
  else {
    failed++;
    results.push(JSON.stringify({ bench: name, error: `exited with ${run.status}` }));
  }
}
console.log('\n=== results');
for (const line of results) console.log(line);
process.exitCode = failed ? 1 : 0;

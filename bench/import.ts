/**
 * bench/import: a cold `import('objection-imageattach')` (the core entry point, as built in dist/)
 * against a cold `import('knex')` + `import('objection')`, the two packages no app using it can do
 * without. Each import runs in a fresh Node process; rounds alternate and the median of each is
 * kept. Target: the root import takes at most 2× the anchor. Builds dist/ first when it is missing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { report } from './support.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ROUNDS = Number(process.env.ROUNDS ?? 9);

if (!existsSync(path.join(root, 'dist/index.js')))
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });

/** Milliseconds a fresh process spends importing `specifiers`, one after another, as it reports them. */
function coldImport(specifiers: string[]): number {
  const script = `const t = performance.now(); for (const s of ${JSON.stringify(specifiers)}) await import(s); console.log(performance.now() - t);`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
  return Number(out.trim());
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const anchor: number[] = [];
const ours: number[] = [];
const sharp: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  anchor.push(coldImport(['knex', 'objection']));
  ours.push(coldImport(['objection-imageattach']));
  if (round % 3 === 0) sharp.push(coldImport(['sharp']));
}
const ratio = median(ours) / median(anchor);
console.log(
  `knex + objection: ${median(anchor).toFixed(1)} ms; objection-imageattach: ${median(ours).toFixed(1)} ms; sharp alone: ${median(sharp).toFixed(1)} ms`,
);
report('import', 'cold root import / cold knex + objection import', ratio, '<= 2.0', {
  oursMs: Number(median(ours).toFixed(1)),
  anchorMs: Number(median(anchor).toFixed(1)),
  sharpMs: Number(median(sharp).toFixed(1)),
});

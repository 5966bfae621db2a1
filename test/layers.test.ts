/**
 * The layer map of DESIGN.md, as imports: the layers above entity/ use it through one door (its
 * public API, entity/index.ts, and the worker API, entity/worker-api.ts), and the layers below
 * import nothing from above. Read from the source, so a new file is checked as soon as it exists.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** Every .ts file under `dir` (a folder of src/, or one file), as paths relative to src/. */
function sourceFiles(dir: string): string[] {
  const full = path.join(SRC, dir);
  if (full.endsWith('.ts')) return [dir];
  return readdirSync(full, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => path.join(dir, file).split(path.sep).join('/'));
}

/** The src/ files `file` imports (static, type-only, re-exports and dynamic), relative to src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(SRC, file), 'utf8');
  const specifiers = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)'(\.[^']+)'/gm)].map((m) => m[1]!);
  return specifiers.map((s) => path.posix.join(path.posix.dirname(file), s).replace(/\.js$/, '.ts'));
}

/** `[file, imported]` for each import of a file under `dirs` that `allowed` refuses. */
function breaches(dirs: string[], allowed: (imported: string) => boolean): string[][] {
  return dirs.flatMap(sourceFiles).flatMap((file) =>
    importsOf(file)
      .filter((imported) => !allowed(imported))
      .map((imported) => [file, imported]),
  );
}

const DOORS = ['entity/index.ts', 'entity/worker-api.ts'];

describe('layers', function () {
  it('everything outside entity/ (http/, queue/, cli/, migration/, the entry points) imports it only through its door', function () {
    const outside = readdirSync(SRC).filter((name) => name !== 'entity');
    assert.ok(
      outside.includes('http') && outside.includes('queue') && outside.includes('cli') && outside.includes('migration'),
    );
    assert.deepEqual(
      breaches(outside, (imported) => !imported.startsWith('entity/') || DOORS.includes(imported)),
      [],
    );
  });

  it('the door files are what those layers import (so the rule above is not vacuous)', function () {
    const importers = readdirSync(SRC)
      .filter((name) => name !== 'entity')
      .flatMap(sourceFiles);
    for (const door of DOORS)
      assert.ok(
        importers.some((file) => importsOf(file).includes(door)),
        `${door} is imported`,
      );
  });

  it('stores/ imports nothing from entity/ or http/', function () {
    assert.deepEqual(
      breaches(['stores'], (imported) => !/^(entity|http)\//.test(imported)),
      [],
    );
  });

  // errors.ts imports nothing, so every layer may throw its errors (util/check.ts does).
  it('util/ imports nothing outside util/ but errors.ts', function () {
    assert.deepEqual(
      breaches(['util'], (imported) => imported.startsWith('util/') || imported === 'errors.ts'),
      [],
    );
  });
});

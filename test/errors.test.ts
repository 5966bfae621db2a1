import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { IMAGE_ATTACH_ERROR_CODES } from '../src/index.js';

/** Every `'ERR_…'` literal in src/ that names one of our codes (Node's own are compared, never thrown). */
async function codesInSource(): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const files = (await readdir('src', { recursive: true })).filter((f) => f.endsWith('.ts'));
  for (const file of files) {
    let text = await readFile(path.join('src', file), 'utf8');
    // The list itself does not count as a use.
    if (file === 'errors.ts') text = text.replace(/IMAGE_ATTACH_ERROR_CODES = \[[^\]]*\]/, '');
    for (const [, code] of text.matchAll(/'(ERR_[A-Z0-9_]+)'/g)) if (!found.has(code!)) found.set(code!, file);
  }
  return found;
}

// Node's code that the CLI's config loader compares against, and the CLI's JSON label for an error
// that carries no code: neither is thrown by the library.
const NOT_THROWN = new Set(['ERR_UNKNOWN_FILE_EXTENSION', 'ERR_UNEXPECTED']);

describe('error codes', function () {
  it('every code written in src/ is in IMAGE_ATTACH_ERROR_CODES, the exported closed list', async function () {
    const listed = new Set<string>(IMAGE_ATTACH_ERROR_CODES);
    const missing = [...(await codesInSource())].filter(([code]) => !listed.has(code) && !NOT_THROWN.has(code));
    assert.deepEqual(missing, [], `codes thrown but not listed: ${missing.map(([c, f]) => `${c} (${f})`).join(', ')}`);
  });

  it('every listed code is used somewhere in src/ and listed once', async function () {
    const used = await codesInSource();
    assert.deepEqual(
      IMAGE_ATTACH_ERROR_CODES.filter((code) => !used.has(code)),
      [],
    );
    assert.equal(new Set(IMAGE_ATTACH_ERROR_CODES).size, IMAGE_ATTACH_ERROR_CODES.length);
  });
});

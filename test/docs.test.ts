/**
 * The documentation stays true to the code: every error code the library throws is on the errors
 * page, relative links resolve, and the README stays short enough to read.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

/** Every file under `dir` (relative to the root) whose name ends in `ext`. */
function filesUnder(dir: string, ext: string): string[] {
  return readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith(ext))
    .map((file) => path.join(dir, file));
}

/** GitHub's anchors for a Markdown file's headings. */
function anchorsOf(file: string): Set<string> {
  const anchors = new Set<string>();
  for (const [, heading] of read(file).matchAll(/^#+ (.+)$/gm)) {
    anchors.add(
      heading!
        .trim()
        .toLowerCase()
        .replace(/[^\w\- ]/g, '')
        .replace(/ /g, '-'),
    );
  }
  return anchors;
}

const pages = ['README.md', 'CHANGELOG.md', 'bench/README.md', ...filesUnder('docs', '.md')];

describe('documentation', function () {
  it('lists on docs/errors.md every error code thrown in src/', function () {
    const page = read('docs/errors.md');
    const codes = new Set<string>();
    for (const file of filesUnder('src', '.ts')) {
      for (const [, code] of read(file).matchAll(/'(ERR_[A-Z_]+)'/g)) codes.add(code!);
    }
    assert.ok(codes.size > 20, `found only ${codes.size} codes in src/`);
    const missing = [...codes].filter((code) => !page.includes(`\`${code}\``)).sort();
    assert.deepEqual(missing, [], `docs/errors.md does not document ${missing.join(', ')}`);
  });

  it('keeps the README under 15 KB', function () {
    const size = Buffer.byteLength(read('README.md'));
    assert.ok(size <= 15 * 1024, `README.md has ${size} bytes`);
  });

  it('has relative links and anchors that resolve', function () {
    const broken: string[] = [];
    for (const page of pages) {
      const text = read(page).replace(/```[\s\S]*?```/g, '');
      for (const [, link] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(link!)) continue;
        const [target = '', anchor] = link!.split('#');
        const file = target === '' ? page : path.join(path.dirname(page), target);
        if (!existsSync(path.join(root, file))) broken.push(`${page}: ${link}`);
        else if (anchor !== undefined && file.endsWith('.md') && !anchorsOf(file).has(anchor))
          broken.push(`${page}: ${link}`);
      }
    }
    assert.deepEqual(broken, []);
  });

  it('links, in the Markdown the package ships, only to files the package ships (so links work from node_modules)', function () {
    this.timeout(30_000);
    // What `npm pack` puts in the tarball, read from npm itself (no build: links never point into dist/).
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' }),
    ) as Array<{ files: Array<{ path: string }> }>;
    const shipped = new Set(packed[0]!.files.map((file) => file.path));
    const markdown = [...shipped].filter((file) => file.endsWith('.md'));
    assert.ok(markdown.includes('README.md') && markdown.includes('docs/errors.md'), `ships ${markdown.join(', ')}`);
    const unshipped: string[] = [];
    for (const page of markdown) {
      const text = read(page).replace(/```[\s\S]*?```/g, '');
      for (const [, link] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(link!) || link!.startsWith('#')) continue;
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(page), link!.split('#')[0]!));
        if (!shipped.has(target)) unshipped.push(`${page}: ${link}`);
      }
    }
    assert.deepEqual(unshipped, []);
  });

  it('names SQLAlchemy-ImageAttach, not "the seed", in docs, source comments and tests', function () {
    const files = [
      ...pages,
      ...filesUnder('src', '.ts'),
      ...filesUnder('test', '.ts').filter((file) => file !== 'test/docs.test.ts'),
    ];
    const found = files.filter((file) => /\bthe seed\b|\bseed's\b/i.test(read(file)));
    assert.deepEqual(found, []);
  });
});

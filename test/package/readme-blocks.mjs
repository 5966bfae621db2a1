// Writes the README's quick start into a folder as a user would paste it: each ```ts block whose
// first line is a comment naming a file (`// app.ts`) becomes that file, verbatim. Prints the
// quick start's ```sh blocks as JSON (an array of arrays of command lines), comments stripped.
// usage: node readme-blocks.mjs README.md <folder>
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const [readme, folder] = process.argv.slice(2);
const text = readFileSync(readme, 'utf8');
const start = text.indexOf('\n## Quick start\n');
const end = text.indexOf('\n## ', start + 1);
if (start < 0 || end < 0) throw new Error(`${readme} has no "## Quick start" section`);
const section = text.slice(start, end);

const written = [];
const commands = [];
for (const [, lang, body] of section.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)) {
  if (lang === 'sh') {
    commands.push(
      body
        .split('\n')
        .map((line) => line.replace(/\s+#.*$/, '').trim())
        .filter(Boolean),
    );
    continue;
  }
  const file = /^\/\/ ([\w./-]+\.ts)\n/.exec(body)?.[1];
  if (lang !== 'ts' || file === undefined)
    throw new Error(`a ${lang} block of the quick start names no file on its first line:\n${body}`);
  if (path.isAbsolute(file) || file.split('/').includes('..')) throw new Error(`a block names ${file}`);
  mkdirSync(path.dirname(path.join(folder, file)), { recursive: true });
  writeFileSync(path.join(folder, file), body);
  written.push(file);
}
for (const needed of ['knexfile.ts', 'models.ts', 'app.ts']) {
  if (!written.includes(needed))
    throw new Error(`the quick start has no block for ${needed} (it has ${written.join(', ')})`);
}
console.log(JSON.stringify({ files: written, commands }));

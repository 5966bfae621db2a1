/**
 * Serves `objection-imageattach/browser` to the page as an ES module, so views/user.ejs can
 * `import { directUpload } from '/static/direct-upload.js'` with no bundler. An app with a bundler
 * imports the package entry instead.
 *
 * The example runs in this repository, on the TypeScript sources (`npm start`): src/browser.ts,
 * whose types are stripped once, on first request; after `npm run build`, dist/browser.js would do
 * as it is.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { RequestHandler } from 'express';

export function browserModule(): RequestHandler {
  let code: Promise<string> | undefined;
  return (_req, res, next) => {
    code ??= load();
    code.then(
      (js) => res.type('text/javascript').set('Cache-Control', 'no-cache').send(js),
      (error: unknown) => {
        code = undefined;
        next(error);
      },
    );
  };
}

async function load(): Promise<string> {
  const file = fileURLToPath(new URL('../src/browser.ts', import.meta.url));
  const source = await readFile(file, 'utf8');
  // TypeScript is a development dependency: only the repository's own runs come here.
  const ts = (await import('typescript')).default;
  return ts.transpileModule(source, {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022 },
  }).outputText;
}

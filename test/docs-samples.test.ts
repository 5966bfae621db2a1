/**
 * Every TypeScript block of the README and docs/ compiles, strict, against the library's source, as
 * a reader would paste it. A page's blocks share that page's context (the `app`, `user`, models…
 * its prose assumes), declared once in test/docs-context/<page>.ts: each block gets, from there,
 * every name it uses without declaring. A block whose first line names a file (`// models.ts`)
 * is that file, so the page's other blocks import it as the reader's project would. (The one
 * whole program, the README's quick start, runs in test/package/run.sh, from the packed tarball.)
 *
 * One TypeScript program holds every block, so the whole check is one compile.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('..', import.meta.url));
const contextDir = path.join(root, 'test', 'docs-context');

interface Sample {
  page: string;
  /** The line of the block's first code line in the page (1-based). */
  line: number;
  code: string;
  /** Where the program holds it: test/docs-context/<page>/<file or block-N.ts> (a real file there may be what it imports). */
  virtualPath: string;
}

const pages = [
  'README.md',
  ...readdirSync(path.join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

function slugOf(page: string): string {
  return path.basename(page, '.md');
}

function samplesOf(page: string): Sample[] {
  const text = readFileSync(path.join(root, page), 'utf8');
  const samples: Sample[] = [];
  let index = 0;
  for (const match of text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)) {
    index += 1;
    const code = match[1]!;
    const line = text.slice(0, match.index).split('\n').length + 1;
    const named = /^\/\/ ([\w./-]+\.ts)\n/.exec(code)?.[1];
    samples.push({
      page,
      line,
      code,
      virtualPath: path.join(contextDir, slugOf(page), named ?? `block-${index}.ts`),
    });
  }
  return samples;
}

/** The names a module declares or imports at its top level. */
function topLevelNames(source: ts.SourceFile): Set<string> {
  const names = new Set<string>();
  const bind = (name: ts.BindingName) => {
    if (ts.isIdentifier(name)) names.add(name.text);
    else for (const element of name.elements) if (!ts.isOmittedExpression(element)) bind(element.name);
  };
  for (const statement of source.statements) {
    if (ts.isImportDeclaration(statement)) {
      const clause = statement.importClause;
      if (clause?.name) names.add(clause.name.text);
      const bindings = clause?.namedBindings;
      if (bindings && ts.isNamespaceImport(bindings)) names.add(bindings.name.text);
      if (bindings && ts.isNamedImports(bindings))
        for (const element of bindings.elements) names.add(element.name.text);
    } else if (ts.isImportEqualsDeclaration(statement)) {
      names.add(statement.name.text);
    } else if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) bind(declaration.name);
    } else if (
      (ts.isFunctionDeclaration(statement) ||
        ts.isClassDeclaration(statement) ||
        ts.isInterfaceDeclaration(statement) ||
        ts.isTypeAliasDeclaration(statement) ||
        ts.isEnumDeclaration(statement) ||
        ts.isModuleDeclaration(statement)) &&
      statement.name !== undefined &&
      ts.isIdentifier(statement.name)
    ) {
      names.add(statement.name.text);
    }
  }
  return names;
}

/** The names a context module exports (declarations marked `export`, and `export { … }` lists). */
function exportedNames(source: ts.SourceFile): string[] {
  const names: string[] = [];
  for (const statement of source.statements) {
    const exported =
      ts.canHaveModifiers(statement) && ts.getModifiers(statement)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    if (ts.isExportDeclaration(statement) && statement.exportClause && ts.isNamedExports(statement.exportClause)) {
      for (const element of statement.exportClause.elements) names.push(element.name.text);
    } else if (exported) {
      const single = ts.factory.createSourceFile(
        [statement],
        ts.factory.createToken(ts.SyntaxKind.EndOfFileToken),
        ts.NodeFlags.None,
      );
      names.push(...topLevelNames(single));
    }
  }
  return names;
}

/** The block as the program sees it: its code, then an import of the context names it does not declare. */
function withContext(sample: Sample): string {
  const contextFile = path.join(contextDir, `${slugOf(sample.page)}.ts`);
  if (!existsSync(contextFile)) return sample.code;
  const context = ts.createSourceFile(contextFile, readFileSync(contextFile, 'utf8'), ts.ScriptTarget.ES2022, true);
  const own = topLevelNames(ts.createSourceFile(sample.virtualPath, sample.code, ts.ScriptTarget.ES2022, true));
  const wanted = exportedNames(context).filter((name) => !own.has(name));
  if (wanted.length === 0) return sample.code;
  let specifier = path.relative(path.dirname(sample.virtualPath), contextFile).replace(/\.ts$/, '.js');
  if (!specifier.startsWith('.')) specifier = `./${specifier}`;
  // At the end, so that the page's line numbers hold; imports are hoisted wherever they stand.
  return `${sample.code}\nimport { ${wanted.join(', ')} } from '${specifier}';\n`;
}

function compile(samples: Sample[]): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(
    path.join(root, 'tsconfig.json'),
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
  )!;
  // Readers' projects: strict, but free to import a type without `import type`.
  const options: ts.CompilerOptions = {
    ...config.options,
    noEmit: true,
    verbatimModuleSyntax: false,
    isolatedModules: false,
    declaration: false,
    sourceMap: false,
  };
  const virtual = new Map(samples.map((sample) => [sample.virtualPath, withContext(sample)]));
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile, directoryExists } = host;
  const virtualDirs = new Set(
    [...virtual.keys()].flatMap((file) => [path.dirname(file), path.dirname(path.dirname(file))]),
  );
  host.fileExists = (file) => virtual.has(file) || fileExists.call(host, file);
  host.directoryExists = (dir) =>
    virtualDirs.has(dir) || (directoryExists?.call(host, dir) ?? ts.sys.directoryExists(dir));
  host.readFile = (file) => virtual.get(file) ?? readFile.call(host, file);
  host.getSourceFile = (file, language, onError, fresh) => {
    const text = virtual.get(file);
    return text === undefined
      ? getSourceFile.call(host, file, language, onError, fresh)
      : ts.createSourceFile(file, text, language, true);
  };
  const program = ts.createProgram([...virtual.keys()], options, host);
  const byPath = new Map(samples.map((sample) => [sample.virtualPath, sample]));
  // The samples' and contexts' diagnostics only: the library's source has its own type check.
  const checked = program.getSourceFiles().filter((file) => file.fileName.startsWith(contextDir));
  const diagnostics = [
    ...program.getOptionsDiagnostics(),
    ...checked.flatMap((file) => [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)]),
  ];
  return diagnostics.map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    const file = diagnostic.file;
    if (file === undefined) return message;
    const { line } = file.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
    const sample = byPath.get(file.fileName);
    return sample === undefined
      ? `${path.relative(root, file.fileName)}:${line + 1}: ${message}`
      : `${sample.page}:${sample.line + line}: ${message}`;
  });
}

describe('documentation samples', function () {
  const samples = pages.flatMap(samplesOf);

  it('finds the TypeScript blocks of the README and docs/', function () {
    assert.ok(samples.length > 40, `found ${samples.length} blocks`);
    const duplicates = samples.filter((s, i) => samples.findIndex((t) => t.virtualPath === s.virtualPath) !== i);
    assert.deepEqual(
      duplicates.map((s) => `${s.page}:${s.line}`),
      [],
      'two blocks of one page name the same file',
    );
  });

  it('type-checks every block, strict, with its page’s context', function () {
    this.timeout(120_000);
    const errors = compile(samples);
    if (process.env.DOCS_SAMPLES_DUMP) console.log(errors.join('\n'));
    assert.deepEqual(errors, []);
  });
});

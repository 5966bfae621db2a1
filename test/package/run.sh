#!/usr/bin/env bash
# The package as users get it: `npm pack`, install the tarball into an empty project that has only
# knex, objection, better-sqlite3, typescript and @types/node, type-check the consumer code strict
# with skipLibCheck off (NodeNext and bundler resolution), run it, and ask the CLI for --help.
# Runs objection-imageattach/testing's store contract on docs/stores.md's MemoryStore under node:test.
# Then adds express and its types, and type-checks and runs the README's quick start on Express.
# Also runs publint and @arethetypeswrong/cli on the tarball. Exits non-zero on the first failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/oia-package-XXXXXX")
trap 'rm -rf "$work"' EXIT
say() { printf '[package] %s\n' "$*"; }

say "npm pack (builds dist/ through prepare)"
tarball=$(cd "$repo" && npm pack --silent --pack-destination "$work" | tail -n 1)
tarball="$work/$tarball"
contents=$(tar -tzf "$tarball")
for file in dist/index.js dist/index.d.ts dist/cli.js LICENSE; do
  grep -qx "package/$file" <<<"$contents" || { say "the tarball has no $file"; exit 1; }
done

say "publint and attw on the tarball"
(cd "$repo" && npx --no-install publint run "$tarball" --strict)
# node10 resolution cannot see subpath exports; every modern resolution must resolve every entry.
(cd "$repo" && npx --no-install attw "$tarball" --profile esm-only)

project="$work/consumer"
mkdir -p "$project"
cp "$here"/consumer/*.ts "$here"/consumer/*.mjs "$project"/
cp "$repo"/test/testing/memory-store.ts "$repo"/test/testing/memory-store.node-test.ts "$project"/  # as docs/stores.md shows them
cat > "$project/package.json" <<JSON
{ "name": "oia-consumer", "private": true, "type": "module" }
JSON
versions() { node -p "const p = require('$repo/package-lock.json').packages; ['knex', 'objection', 'better-sqlite3', 'typescript', '@types/node'].map((n) => n + '@' + p['node_modules/' + n].version).join(' ')"; }
say "npm install the tarball with $(versions)"
# shellcheck disable=SC2046
(cd "$project" && npm install --no-audit --no-fund --prefer-offline --loglevel=error "$tarball" $(versions))

for resolution in nodenext bundler; do
  module=$([ "$resolution" = nodenext ] && echo NodeNext || echo ESNext)
  cat > "$project/tsconfig.$resolution.json" <<JSON
{
  "compilerOptions": {
    "target": "ES2022", "module": "$module", "moduleResolution": "$resolution", "strict": true,
    "skipLibCheck": false, "exactOptionalPropertyTypes": true, "noUncheckedIndexedAccess": true,
    "types": ["node"], "outDir": "out-$resolution"
  },
  "files": ["main.ts", "models.ts", "type-errors.ts", "memory-store.ts", "memory-store.node-test.ts"]
}
JSON
  say "tsc strict, skipLibCheck off, moduleResolution $resolution"
  (cd "$project" && npx --no-install tsc -p "tsconfig.$resolution.json")
done

say "run the consumer program"
(cd "$project" && node out-nodenext/main.js)
(cd "$project" && node root-imports.mjs)
say "objection-imageattach/testing: the store contract on the docs' MemoryStore, under node:test"
(cd "$project" && node --test --test-reporter=dot out-nodenext/memory-store.node-test.js)

say "add express, @types/express and @types/multer; type-check and run the README's quick start"
(cd "$project" && npm install --no-audit --no-fund --prefer-offline --loglevel=error $(node -p "const p = require('$repo/package-lock.json').packages; ['express', '@types/express', '@types/multer'].map((n) => n + '@' + p['node_modules/' + n].version).join(' ')"))
cat > "$project/tsconfig.express.json" <<JSON
{ "extends": "./tsconfig.nodenext.json", "compilerOptions": { "outDir": "out-express" }, "files": ["express-app.ts", "models.ts"] }
JSON
(cd "$project" && npx --no-install tsc -p tsconfig.express.json && NODE_ENV=test node out-express/express-app.js)  # test: Express logs no refused upload

say "npx objection-imageattach --help"
# Read only its first line: the CLI must end quietly when its reader goes away (EPIPE).
first=$(cd "$project" && npx --no-install objection-imageattach --help 2>"$work/help.err" | head -n 1 || true)
[ "$first" = 'Usage: objection-imageattach [options] [command]' ] || { say "unexpected --help output: $first"; exit 1; }
[ ! -s "$work/help.err" ] || { say "--help | head -n 1 wrote to stderr:"; cat "$work/help.err"; exit 1; }
echo "$first"
say "passed"

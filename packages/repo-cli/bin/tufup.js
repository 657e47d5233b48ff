#!/usr/bin/env node
// The `tufup` command's committed launcher. npm links a package's bins when it installs it, and in a fresh
// clone `npm ci` runs before anything is built: a bin inside dist/ would be skipped and never linked. This file
// exists from the first checkout, so `node_modules/.bin/tufup` does too, and it runs the built CLI.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/bin.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write(
    `error [NOT_BUILT]: @tufup/repo-cli is not built (${fileURLToPath(cli)} is missing); run \`npm run build\` in the repository first\n`,
  );
  process.exit(1);
}
await import(cli.href);

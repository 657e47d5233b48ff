// A new contributor's first minutes: clone, `npm ci`, build, `npx tufup`. Done once, in a clone of this
// checkout's HEAD (committed files only, as CI and a contributor see them).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { lstat, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { REPO_ROOT, readJson } from '../support/packing.js';

const run = promisify(execFile);

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

async function sh(cmd: string, args: string[], cwd: string): Promise<Ran> {
  try {
    const { stdout, stderr } = await run(cmd, args, { cwd, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

function ok(r: Ran, what: string): Ran {
  assert.equal(r.code, 0, `${what} exited ${r.code}:\n${r.stdout}${r.stderr}`);
  return r;
}

let work: string | undefined;
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

test('a fresh clone has a working `tufup` after `npm ci` and `npm run build`', async () => {
  work = await mkdtemp(join(tmpdir(), 'tufup-fresh-clone-'));
  const clone = join(work, 'tufup-ts');
  ok(await sh('git', ['clone', '--quiet', REPO_ROOT, clone], work), 'git clone');

  // npm links bins while it installs, before anything is built: the link must exist and lead somewhere.
  ok(await sh('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], clone), 'npm ci');
  const link = join(clone, 'node_modules', '.bin', 'tufup');
  assert.ok((await lstat(link)).isSymbolicLink(), 'node_modules/.bin/tufup exists right after npm ci');
  const unbuilt = await sh(link, ['--help'], clone);
  assert.equal(unbuilt.code, 1, 'before the build, tufup fails');
  assert.match(unbuilt.stderr, /^error \[NOT_BUILT\]: .*run `npm run build`/m, 'and says what to do');
  assert.equal(unbuilt.stdout, '');

  ok(await sh('npm', ['run', 'build'], clone), 'npm run build');
  const help = ok(await sh('npx', ['--no-install', 'tufup', '--help'], clone), 'npx tufup --help');
  assert.match(help.stdout, /tufup init/);
  assert.match(help.stdout, /targets/);
  const cli = await readJson(join(clone, 'packages', 'repo-cli', 'package.json'));
  const version = ok(await sh('npx', ['--no-install', 'tufup', '--version'], clone), 'npx tufup --version');
  assert.equal(version.stdout.trim(), cli.version);
});

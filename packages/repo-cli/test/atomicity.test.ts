// Killing a writer at any moment leaves a repository that verifies, in its previous or its complete new state.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { cp, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { BIN, childEnv, errorLine, makeBundle, ok, pseudoRandom, treeHash, tufup } from './helpers.js';

const sleep = new Int32Array(new SharedArrayBuffer(4));

/** The staging dirs of a repository (a writer's files before they are committed; the layout the README documents). */
function stagingDirs(repo: string): string[] {
  const dir = join(repo, '.tufup-staging');
  try {
    return readdirSync(dir).map((id) => join(dir, id));
  } catch {
    return [];
  }
}

interface Moment {
  name: string;
  /** True once the writer has reached this moment. */
  reached: (repo: string) => boolean;
  /** Reaching it means the change was committed (so it must be complete after recovery). */
  committed?: boolean;
}

const moments: Moment[] = [
  { name: 'right after start', reached: () => true },
  {
    name: 'while archiving',
    reached: (repo) => stagingDirs(repo).some((d) => existsSync(join(d, 'work', 'new.tar'))),
  },
  {
    name: 'while diffing',
    reached: (repo) => stagingDirs(repo).some((d) => existsSync(join(d, 'work', 'old.tar'))),
  },
  {
    name: 'metadata staged, not committed',
    reached: (repo) =>
      stagingDirs(repo).some((d) => existsSync(join(d, 'files', 'metadata', 'targets.json'))),
  },
  {
    name: 'committed, moving files in place',
    reached: (repo) => stagingDirs(repo).some((d) => existsSync(join(d, 'journal.json'))),
    committed: true,
  },
];

/** Start `targets add`, SIGKILL it as soon as `moment` is reached; resolves with whether it was reached in time. */
function killAt(cwd: string, moment: Moment): Promise<{ reached: boolean; exited: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'targets', 'add', '2.0', 'b2', 'keystore'], {
      cwd,
      env: childEnv(),
      stdio: 'ignore',
    });
    let done = false;
    child.on('error', reject);
    child.on('exit', (code) => {
      done = true;
      resolve({ reached: false, exited: code });
    });
    const repo = join(cwd, 'repository');
    // Poll hard (0.5 ms) so short moments are caught, yielding every 20 ms so the child's exit is noticed.
    // SIGKILL gives the writer no chance to clean up.
    const deadline = Date.now() + 60_000;
    const poll = () => {
      const sliceEnd = Date.now() + 20;
      while (!done && Date.now() < sliceEnd) {
        if (moment.reached(repo)) {
          child.kill('SIGKILL');
          child.removeAllListeners('exit');
          child.on('exit', (code) => resolve({ reached: true, exited: code }));
          return;
        }
        Atomics.wait(sleep, 0, 0, 0.5);
      }
      if (!done && Date.now() < deadline) setImmediate(poll);
    };
    setImmediate(poll);
  });
}

test('SIGKILL during targets add at five moments: the repository verifies, previous or complete new state', async (t) => {
  await withTempDir(async (dir) => {
    const base = join(dir, 'base');
    await mkdir(base);
    await ok(['init', '--non-interactive', '--app-name', 'my_app'], { cwd: base });
    await makeBundle(join(base, 'b1'), '1.0', 128 << 10);
    await makeBundle(join(base, 'b2'), '2.0', 128 << 10);
    await ok(['targets', 'add', '1.0', 'b1', 'keystore'], { cwd: base });
    const metaBefore = await readFile(join(base, 'repository', 'metadata', 'targets.json'));

    const outcomes: string[] = [];
    const runMoment = async (moment: Moment, i: number) => {
      const cwd = join(dir, `kill-${i}`);
      await cp(base, cwd, { recursive: true, verbatimSymlinks: true });
      const { reached } = await killAt(cwd, moment);
      // verify first: it completes a committed change, and must then pass.
      const verify = await tufup(['verify', '--json'], { cwd });
      assert.equal(verify.code, 0, `${moment.name}: verify failed: ${verify.stdout} ${verify.stderr}`);
      const targets = await readFile(join(cwd, 'repository', 'metadata', 'targets.json'));
      const isNew = targets.toString('utf8').includes('my_app-2.0.tar.gz');
      if (!isNew) assert.deepEqual(targets, metaBefore, `${moment.name}: the previous state is intact`);
      if (reached && moment.committed) assert.ok(isNew, `${moment.name}: a committed change is completed`);
      outcomes.push(
        `${moment.name}: ${reached ? 'killed' : 'finished first'}, ${isNew ? 'new' : 'previous'} state`,
      );
      // The repository stays usable: the release can be (re)added, or is already there.
      const again = await tufup(['targets', 'add', '2.0', 'b2', 'keystore'], { cwd });
      if (isNew) assert.equal(errorLine(again.stderr)?.code, 'VERSION_NOT_NEWER', again.stderr);
      else assert.equal(again.code, 0, again.stderr);
      // The next writer cleaned the dead writer's staging and lock.
      assert.deepEqual((await readdir(join(cwd, 'repository'))).sort(), ['metadata', 'targets']);
    };
    const queue = moments.map((m, i) => [m, i] as const);
    await Promise.all(
      Array.from({ length: 2 }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) await runMoment(next[0], next[1]);
      }),
    );
    assert.equal(outcomes.length, moments.length);
    for (const o of outcomes) t.diagnostic(o);
  });
});

test('SIGINT while archiving stops cleanly: exit 130, every file as before, no staging or lock left', async () => {
  await withTempDir(async (dir) => {
    await ok(['init', '--non-interactive', '--app-name', 'my_app'], { cwd: dir });
    // Big enough that gzip is still running when the signal arrives.
    await mkdir(join(dir, 'big', 'lib'), { recursive: true });
    for (let i = 0; i < 6; i++)
      await writeFile(join(dir, 'big', 'lib', `part${i}.dat`), pseudoRandom(4 << 20, i + 1));
    const before = await treeHash(join(dir, 'repository'));
    const child = spawn(process.execPath, [BIN, 'targets', 'add', '1.0', 'big', 'keystore'], {
      cwd: dir,
      env: childEnv(),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    let running = true;
    const exited = new Promise<number | null>((resolve) =>
      child.on('close', (code) => {
        running = false;
        resolve(code);
      }),
    );
    // The staging dir exists from the start of the change to its commit; archiving 24 MiB is most of that.
    const repo = join(dir, 'repository');
    while (running && stagingDirs(repo).length === 0) await new Promise((r) => setTimeout(r, 1));
    assert.ok(running, `targets add ended before it could be interrupted: ${stderr}`);
    child.kill('SIGINT');
    assert.equal(await exited, 130, stderr);
    assert.match(stderr, /error \[INTERRUPTED\]/);
    assert.deepEqual(await treeHash(join(dir, 'repository')), before);
  });
});

// The command line's surface, in-process: help with examples for every command, --version, colours and NO_COLOR.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { main } from '../src/cli.js';
import { ok, tufup } from './helpers.js';

class Capture extends Writable {
  text = '';
  constructor(readonly isTTY = false) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

/** Run the CLI in this process; yargs prints help and version with console.log, so that is captured too. */
async function runInProcess(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; tty?: boolean; cwd?: string } = {},
) {
  const stdout = new Capture(opts.tty);
  const stderr = new Capture(opts.tty);
  const log = console.log;
  let logged = '';
  console.log = (...parts: unknown[]) => {
    logged += `${parts.join(' ')}\n`;
  };
  try {
    const code = await main(args, {
      stdout: stdout as unknown as NodeJS.WriteStream,
      stderr: stderr as unknown as NodeJS.WriteStream,
      env: opts.env ?? {},
      cwd: opts.cwd ?? process.cwd(),
    });
    return { code, stdout: stdout.text + logged, stderr: stderr.text };
  } finally {
    console.log = log;
  }
}

test('every command has --help with at least one example', async () => {
  const commands = [
    [],
    ['init'],
    ['keys'],
    ['targets'],
    ['targets', 'add'],
    ['targets', 'remove-latest'],
    ['targets', 'list'],
    ['targets', 'prune'],
    ['sign'],
    ['status'],
    ['verify'],
  ];
  for (const cmd of commands) {
    const r = await runInProcess([...cmd, '--help']);
    assert.equal(r.code, 0, `${cmd.join(' ')}: ${r.stderr}`);
    assert.match(
      r.stdout,
      /Examples:\n {2}tufup \S/,
      `tufup ${cmd.join(' ')} --help has no example:\n${r.stdout}`,
    );
  }
  // No arguments: the help (as python tufup), and exit 2: nothing was done.
  const bare = await runInProcess([]);
  assert.equal(bare.code, 2);
  assert.match(bare.stdout, /Commands:/);
});

test("--version prints the package version; -d is --verbose, as python tufup's --debug", async () => {
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  for (const flag of ['--version', '-v']) {
    const r = await runInProcess([flag]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), pkg.version);
  }
  await withTempDir(async (dir) => {
    const r = await runInProcess(['targets', '-d', 'list'], { cwd: dir });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /^error \[CONFIG_NOT_FOUND\]/);
    assert.match(r.stderr, /caused by: Error \[ENOENT\]/, 'the cause chain with -d');
  });
});

test('colour only on a terminal and never under NO_COLOR', async () => {
  await withTempDir(async (dir) => {
    const coloured = await runInProcess(['status'], { cwd: dir, tty: true, env: {} });
    assert.match(coloured.stderr, /^\x1b\[31merror\x1b\[39m \[CONFIG_NOT_FOUND\]/);
    const plain = await runInProcess(['status'], { cwd: dir, tty: true, env: { NO_COLOR: '1' } });
    assert.match(plain.stderr, /^error \[CONFIG_NOT_FOUND\]/);
    const piped = await runInProcess(['status'], { cwd: dir, tty: false, env: {} });
    assert.doesNotMatch(piped.stderr, /\x1b\[/);
  });
});

test('the binary: exit 0 and 2 and the one-line error, through a real process', async () => {
  await withTempDir(async (dir) => {
    const help = await ok(['--help'], { cwd: dir });
    assert.match(help.stdout, /tufup <command>/);
    const bad = await tufup(['targets', 'add'], { cwd: dir });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error \[USAGE\]: .+\n$/);
  });
});

// Test support: run the built `tufup` binary as a child process, make bundles, hash whole trees.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, cp, lstat, mkdir, readFile, readdir, readlink, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PYTHON_TUFUP_FIXTURE } from '../../../test-support/fixture.js';

export const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
export const FIXTURE = PYTHON_TUFUP_FIXTURE;

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The environment of a child: ours without TUFUP_* variables, plus `env`. */
export function childEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('TUFUP_') && k !== 'NO_COLOR') base[k] = v;
  return { ...base, ...env };
}

/** Run `node dist/bin.js ...args` in `cwd`; resolves with its exit code and output (never rejects on failure). */
export function tufup(
  args: string[],
  opts: { cwd: string; env?: Record<string, string> },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd,
      env: childEnv(opts.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Like `tufup`, but fails the test unless the exit code is 0. */
export async function ok(
  args: string[],
  opts: { cwd: string; env?: Record<string, string> },
): Promise<RunResult> {
  const r = await tufup(args, opts);
  if (r.code !== 0) {
    throw new Error(`tufup ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return r;
}

/** A deterministic pseudo-random buffer (xorshift32): bundle content that is realistic for diffs, no fixtures. */
export function pseudoRandom(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * A small app bundle for `version`: a binary that changes a little per version, text, an executable and a
 * symlink. `size` is the size of the main data file.
 */
export async function makeBundle(dir: string, version: string, size = 64 * 1024): Promise<string> {
  await mkdir(join(dir, 'bin'), { recursive: true });
  await mkdir(join(dir, 'lib'), { recursive: true });
  const data = pseudoRandom(size, 42);
  // Each version changes a few scattered bytes and appends a little: what real releases look like to a diff.
  const n = [...version].reduce((a, c) => a + c.charCodeAt(0), 0);
  for (let i = 0; i < 16; i++) data[(i * 7919 * n) % size] = (n + i) & 0xff;
  await writeFile(join(dir, 'lib', 'core.dat'), Buffer.concat([data, Buffer.from(`version ${version}\n`)]));
  await writeFile(join(dir, 'README.txt'), `my app ${version}\n`);
  await writeFile(join(dir, 'bin', 'my_app'), `#!/bin/sh\necho my_app ${version}\n`);
  await chmod(join(dir, 'bin', 'my_app'), 0o755);
  await symlink('my_app', join(dir, 'bin', 'launch'));
  return dir;
}

/** Every entry under `root` (hidden ones too): type, mode and content hash or link target. */
export async function treeHash(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(dir: string): Promise<void> {
    for (const name of (await readdir(dir)).sort()) {
      const p = join(dir, name);
      const rel = relative(root, p);
      const st = await lstat(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out[rel] = `link ${await readlink(p)}`;
      else if (st.isDirectory()) {
        out[rel] = `dir ${mode}`;
        await walk(p);
      } else if (!st.isFile())
        out[rel] = `special ${mode}`; // a FIFO or socket: reading it would block
      else
        out[rel] = `file ${mode} ${createHash('sha256')
          .update(await readFile(p))
          .digest('hex')}`;
    }
  }
  await walk(root);
  return out;
}

/** A writable copy of the python tufup fixture (the original is read-only). */
export async function copyFixture(dest: string): Promise<string> {
  await cp(FIXTURE, dest, { recursive: true, verbatimSymlinks: true });
  async function writable(dir: string): Promise<void> {
    await chmod(dir, 0o755);
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await writable(p);
      else if (e.isFile()) await chmod(p, 0o644);
    }
  }
  await writable(dest);
  return dest;
}

export async function readJson<T = Record<string, unknown>>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

export function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The first line of stderr that reports an error, with its code. */
export function errorLine(stderr: string): { code: string; message: string } | undefined {
  const m = /^error \[([A-Z0-9_]+)\]: (.+)$/m.exec(stderr);
  return m ? { code: m[1] as string, message: m[2] as string } : undefined;
}

export { dirname };

// The steps of the whole-system flow, shared by the e2e tests and the demo: publish hello-app releases with
// the real `tufup` binary, install one, run it, and follow what it reports across relaunches.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, lstat, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { copyDependencyClosure } from './deps.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TUFUP_BIN = join(REPO_ROOT, 'packages', 'repo-cli', 'dist', 'bin.js');
export const APP_NAME = 'hello-app';

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the real `tufup` binary as a child process. */
export function runTufup(
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<CommandResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [TUFUP_BIN, ...args], {
      cwd: opts.cwd,
      env: { ...process.env, NO_COLOR: '1', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += String(d);
    });
    child.stderr.on('data', (d) => {
      stderr += String(d);
    });
    child.once('error', reject);
    child.once('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

/** Like runTufup, but a non-zero exit is an error that carries what the command printed. */
export async function tufup(
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<CommandResult> {
  const res = await runTufup(args, opts);
  if (res.code !== 0) {
    throw new Error(`tufup ${args.join(' ')} exited ${res.code}\n${res.stderr}${res.stdout}`);
  }
  return res;
}

/**
 * A release bundle of hello-app: its program, its version, the trusted root.json, its node_modules (the
 * client and both installers with their dependencies) and a few data files that change between versions.
 */
export async function makeHelloBundle(
  bundleDir: string,
  version: string,
  trustedRoot: string,
  depsCache?: string,
): Promise<void> {
  await mkdir(bundleDir, { recursive: true });
  await cp(join(REPO_ROOT, 'examples', 'hello-app', 'app.mjs'), join(bundleDir, 'app.mjs'));
  await writeFile(join(bundleDir, 'app-info.json'), `${JSON.stringify({ name: APP_NAME, version })}\n`);
  await cp(trustedRoot, join(bundleDir, 'root.json'));
  await mkdir(join(bundleDir, 'data'), { recursive: true });
  await writeFile(
    join(bundleDir, 'data', 'release-notes.txt'),
    `hello-app ${version}\n${'notes '.repeat(200)}\n`,
  );
  await writeFile(join(bundleDir, 'data', `only-in-${version}.txt`), `${version}\n`);
  if (depsCache) {
    await cp(depsCache, join(bundleDir, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  } else {
    await copyDependencyClosure(
      REPO_ROOT,
      ['@tufup/client', '@tufup/installer-mac', '@tufup/installer-win'],
      join(bundleDir, 'node_modules'),
    );
  }
}

export interface Release {
  version: string;
  required?: boolean;
  meta?: Record<string, unknown>;
}

export interface PublishedRepo {
  workDir: string;
  repoDir: string;
  keysDir: string;
  bundles: Map<string, string>;
}

/** `tufup init` plus `tufup targets add` for each release, in a fresh dir, with the real binary. */
export async function publishHelloApp(
  workDir: string,
  releases: Release[],
  opts: { patchFormat?: 'native' | 'bsdiff4'; log?: (line: string) => void; extraInitArgs?: string[] } = {},
): Promise<PublishedRepo> {
  const log = opts.log ?? (() => {});
  await mkdir(workDir, { recursive: true });
  const repoDir = join(workDir, 'repository');
  const keysDir = join(workDir, 'keystore');
  await tufup(
    [
      'init',
      '--non-interactive',
      '--app-name',
      APP_NAME,
      '--repo-dir',
      repoDir,
      '--keys-dir',
      keysDir,
      ...(opts.patchFormat ? ['--patch-format', opts.patchFormat] : []),
      ...(opts.extraInitArgs ?? []),
    ],
    { cwd: workDir },
  );
  log(`tufup init: repository in ${repoDir}, keys in ${keysDir}`);
  const depsCache = join(workDir, '.deps', 'node_modules');
  await copyDependencyClosure(
    REPO_ROOT,
    ['@tufup/client', '@tufup/installer-mac', '@tufup/installer-win'],
    depsCache,
  );
  const bundles = new Map<string, string>();
  for (const r of releases) {
    const bundleDir = join(workDir, 'bundles', r.version);
    await makeHelloBundle(bundleDir, r.version, join(repoDir, 'metadata', 'root.json'), depsCache);
    bundles.set(r.version, bundleDir);
    const args = ['targets', 'add', r.version, bundleDir, keysDir];
    if (r.required) args.push('--required');
    if (r.meta) args.push('--meta', JSON.stringify(r.meta));
    await tufup(args, { cwd: workDir });
    log(`tufup targets add ${r.version}${r.required ? ' --required' : ''}: published`);
  }
  return { workDir, repoDir, keysDir, bundles };
}

/** What a user's first install does: the bundle's files in installDir; settings and caches in dataDir. */
export async function installHelloApp(
  pub: PublishedRepo,
  version: string,
  installDir: string,
  dataDir: string,
  settings: { updateUrl: string; pre?: string },
  opts: { cacheArchive?: boolean; appName?: string } = {},
): Promise<void> {
  const bundle = pub.bundles.get(version);
  if (!bundle) throw new Error(`no bundle for ${version}`);
  await cp(bundle, installDir, { recursive: true, verbatimSymlinks: true });
  await mkdir(join(dataDir, 'targets'), { recursive: true });
  await writeFile(join(dataDir, 'settings.json'), JSON.stringify(settings));
  if (opts.cacheArchive !== false) {
    // As with python tufup, the current version's archive in the target cache is what patches apply to.
    const archive = `${opts.appName ?? APP_NAME}-${version}.tar.gz`;
    await cp(join(pub.repoDir, 'targets', archive), join(dataDir, 'targets', archive));
  }
}

export interface AppEvent {
  time: string;
  pid: number;
  version: string;
  event: string;
  detail?: string;
  to?: string;
  code?: string;
}

export async function readEvents(dataDir: string): Promise<AppEvent[]> {
  const text = await readFile(join(dataDir, 'events.log'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AppEvent);
}

/**
 * Poll the app's events.log until `done` holds (the app relaunches itself, so no single process to await).
 * Waits for events, not for time: it gives up when `signal` aborts (a test's `t.signal`, so that the test runner
 * is the only deadline) or after `timeoutMs` when one is given (the demo's), with what the app and installer logged.
 */
export async function waitForEvents(
  dataDir: string,
  done: (events: AppEvent[]) => boolean,
  opts: { timeoutMs?: number; signal?: AbortSignal; onEvent?: (e: AppEvent) => void } = {},
): Promise<AppEvent[]> {
  const deadline = Date.now() + (opts.timeoutMs ?? Number.POSITIVE_INFINITY);
  let seen = 0;
  for (;;) {
    const events = await readEvents(dataDir);
    for (; seen < events.length; seen++) opts.onEvent?.(events[seen]!);
    if (done(events)) return events;
    if (events.some((e) => e.event === 'failed')) {
      const failed = events.filter((e) => e.event === 'failed');
      throw new Error(`the app failed: ${JSON.stringify(failed)}`);
    }
    if (Date.now() > deadline || opts.signal?.aborted) {
      const installerLog = await readFile(join(dataDir, 'installer.log'), 'utf8').catch(() => '(none)');
      const output = await readFile(join(dataDir, 'app-output.log'), 'utf8').catch(() => '(none)');
      throw new Error(
        `${opts.signal?.aborted ? 'aborted' : 'timed out'}; events so far:\n${JSON.stringify(events, null, 1)}\ninstaller log:\n${installerLog}\napp output:\n${output}`,
      );
    }
    await sleep(100);
  }
}

export interface TreeEntry {
  type: 'file' | 'dir' | 'symlink';
  mode?: number;
  sha256?: string;
  target?: string;
}

/** Every path under `dir` with its type, mode bits and content hash (or link target), for exact comparison. */
export async function treeDigest(
  dir: string,
  opts: { ignore?: (rel: string) => boolean } = {},
): Promise<Record<string, TreeEntry>> {
  const out: Record<string, TreeEntry> = {};
  const walk = async (d: string) => {
    for (const name of (await readdir(d)).sort()) {
      const p = join(d, name);
      const rel = relative(dir, p).split('\\').join('/');
      if (opts.ignore?.(rel)) continue;
      const st = await lstat(p);
      if (st.isSymbolicLink()) out[rel] = { type: 'symlink', target: await readlink(p) };
      else if (st.isDirectory()) {
        out[rel] = { type: 'dir' };
        await walk(p);
      } else {
        const sha256 = createHash('sha256')
          .update(await readFile(p))
          .digest('hex');
        out[rel] = {
          type: 'file',
          sha256,
          ...(process.platform === 'win32' ? {} : { mode: st.mode & 0o777 }),
        };
      }
    }
  };
  await walk(dir);
  return out;
}

/**
 * Start the installed app the way a user would, detached, its output appended to `<dataDir>/app-output.log`
 * (a file, not a pipe: the app outlives this call and relaunched versions write there too).
 */
export async function launchHelloApp(
  installDir: string,
  dataDir: string,
  command: string[] = [process.execPath],
): Promise<void> {
  const { openSync, closeSync } = await import('node:fs');
  const out = openSync(join(dataDir, 'app-output.log'), 'a');
  try {
    const [cmd, ...args] = command;
    const child = spawn(cmd!, [...args, join(installDir, 'app.mjs')], {
      env: { ...process.env, HELLO_APP_DATA: dataDir },
      stdio: ['ignore', out, out],
      detached: true,
    });
    child.unref();
  } finally {
    closeSync(out);
  }
}

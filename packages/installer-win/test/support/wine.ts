// Test support: one cached wine prefix (Windows 10 mode), running Windows programs with output to files, finding their pids.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { testCacheDir } from './node-exe.js';

const run = promisify(execFile);

/** Throws (so the test fails, never skips) when wine is missing: CI installs Debian's wine and wine64. */
export function requireWine(): void {
  const probe = spawnSync('wine', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      'wine is not installed: the installer-win tests run node.exe and wscript.exe under wine. ' +
        'Install Debian\'s "wine wine64" packages (.ci/run does this).',
    );
  }
}

/** Linux path → the Z: path wine maps it to. */
export function winPath(linuxPath: string): string {
  return `Z:${linuxPath.replaceAll('/', '\\')}`;
}

export function wineEnv(prefix: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    WINEPREFIX: prefix,
    WINEDEBUG: '-all',
    // No Mono/Gecko installer dialogs during wineboot.
    WINEDLLOVERRIDES: 'mscoree,mshtml=',
    ...extra,
  };
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/**
 * The shared prefix, created once (wineboot, then Windows 10 mode: node.exe refuses the default Windows 7).
 * A mkdir lock keeps parallel test files from booting it twice.
 */
export async function winePrefix(): Promise<string> {
  requireWine();
  const prefix = join(testCacheDir(), 'wineprefix-v1');
  const ready = join(prefix, '.tufup-ready');
  if (existsSync(ready)) return ensureServer(prefix);
  await mkdir(testCacheDir(), { recursive: true });
  const lock = `${prefix}.lock`;
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch {
      if (existsSync(ready)) return ensureServer(prefix);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
      await sleep(500);
    }
  }
  try {
    if (!existsSync(ready)) {
      await rm(prefix, { recursive: true, force: true });
      const env = wineEnv(prefix);
      await run('wineboot', ['-i'], { env, timeout: 170_000 });
      await run(
        'wine',
        ['reg', 'add', 'HKCU\\Software\\Wine', '/v', 'Version', '/t', 'REG_SZ', '/d', 'win10', '/f'],
        {
          env,
          timeout: 60_000,
        },
      );
      await run('wineserver', ['-w'], { env, timeout: 60_000 });
      await writeFile(ready, new Date().toISOString());
    }
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
  return ensureServer(prefix);
}

let serverStarted = false;
/** Keeps one wineserver up for the run (it ends itself 30 s after the last wine process), saving a start per call. */
function ensureServer(prefix: string): string {
  if (!serverStarted) {
    serverStarted = true;
    spawnSync('wineserver', ['-p30'], { env: wineEnv(prefix), stdio: 'ignore' });
  }
  return prefix;
}

export interface WineRun {
  pid: number;
  exited: Promise<number | null>;
}

/** Starts a Windows program under wine; its stdout and stderr go to `outFile` (pipes do not work there). */
export function startWine(
  prefix: string,
  args: string[],
  outFile: string,
  env: Record<string, string> = {},
): WineRun {
  const fd = openSync(outFile, 'a');
  try {
    const child = spawn('wine', args, { env: wineEnv(prefix, env), stdio: ['ignore', fd, fd] });
    const exited = new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => resolve(code));
    });
    return { pid: child.pid ?? 0, exited };
  } finally {
    closeSync(fd);
  }
}

/** Linux pids of wine processes whose command line contains `marker` (a Windows path, e.g. a case's script dir). */
export async function pidsWithCommandLine(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = (await readFile(`/proc/${name}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      if (cmd.includes(marker)) pids.push(Number(name));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** `pids` and all their descendants (from /proc's parent links), so a "crash" takes a whole process tree. */
export async function withDescendants(pids: number[]): Promise<number[]> {
  const parentOf = new Map<number, number>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      // Field 4 (ppid) follows the parenthesised command name, which may itself contain spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parentOf.set(Number(name), ppid);
    } catch {
      // Gone meanwhile.
    }
  }
  const all = new Set(pids);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parentOf) {
      if (!all.has(pid) && all.has(ppid)) {
        all.add(pid);
        grew = true;
      }
    }
  }
  return [...all];
}

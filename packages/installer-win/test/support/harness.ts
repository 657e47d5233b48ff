// Test support: one install case under wine: old and new app trees, the app that asks for the update, and checks.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { windowsNodeExe } from './node-exe.js';
import { pidsWithCommandLine, startWine, winePrefix, winPath, withDescendants } from './wine.js';

const support = dirname(fileURLToPath(import.meta.url));
export const packageDir = join(support, '..', '..');
const distIndex = join(packageDir, 'dist', 'index.js');

export interface WineContext {
  prefix: string;
  nodeExe: string;
  /** The built package as the Windows node imports it. */
  installerUrl: string;
}

/** Prefix, node.exe and the built dist, or a clear failure. */
export async function wineContext(): Promise<WineContext> {
  if (!existsSync(distIndex)) {
    throw new Error(
      `${distIndex} is missing: build first (npx tsc -b packages/installer-win/tsconfig.build.json)`,
    );
  }
  const [prefix, nodeExe] = await Promise.all([winePrefix(), windowsNodeExe()]);
  return { prefix, nodeExe, installerUrl: `file:///Z:${encodeURI(distIndex)}` };
}

export type Tree = Record<string, string>;

/** Every file under `dir` (relative `/` path → sha256), directories as `dir/` entries. */
export async function readTree(dir: string): Promise<Tree> {
  const out: Tree = {};
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const rel = relative(dir, p).split('\\').join('/');
      if (e.isDirectory()) {
        out[`${rel}/`] = '';
        await walk(p);
      } else {
        out[rel] = createHash('sha256')
          .update(await readFile(p))
          .digest('hex');
      }
    }
  };
  await walk(dir);
  return out;
}

export async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const p = join(dir, rel);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, content);
  }
}

export interface CaseOptions {
  /** Name of the case root under `parent` (hostile characters go here). */
  name: string;
  /** Name of the install dir inside the case root. */
  appDirName?: string;
  oldFiles?: Record<string, string>;
  newFiles?: Record<string, string>;
  relaunchArgs?: string[];
  options?: Record<string, unknown>;
  /** Keep the app alive after the installer returned, until this (Linux) file exists. */
  holdUntil?: string;
  relaunch?: false;
}

export interface InstallCase {
  root: string;
  dstDir: string;
  srcDir: string;
  stateDir: string;
  logFile: string;
  scriptParent: string;
  reportFile: string;
  configFile: string;
  expectedOld: Tree;
  expectedNew: Tree;
  ctx: WineContext;
}

/** The old (1.0) and new (2.0) trees; the new one gets the old one's preserved paths copied in by the installer. */
export async function prepareCase(ctx: WineContext, parent: string, o: CaseOptions): Promise<InstallCase> {
  const root = join(parent, o.name);
  const appDirName = o.appDirName ?? 'My App';
  const dstDir = join(root, appDirName);
  const srcDir = join(root, 'staged', '2.0');
  const scriptParent = join(root, 'scripts');
  await mkdir(scriptParent, { recursive: true });
  const app = await readFile(join(support, 'win-app.mjs'));
  const oldFiles = {
    'version.txt': '1.0',
    'lib/core.js': 'old core',
    'only-old.txt': 'gone after update',
    ...o.oldFiles,
  };
  const newFiles = {
    'version.txt': '2.0',
    'lib/core.js': 'new core',
    'lib/extra/new.js': 'new',
    ...o.newFiles,
  };
  await writeTree(dstDir, oldFiles);
  await writeTree(srcDir, newFiles);
  await writeFile(join(dstDir, 'app.mjs'), app);
  await writeFile(join(srcDir, 'app.mjs'), app);
  const reportFile = join(root, 'report.jsonl');
  const configFile = join(root, 'config.json');
  const stateDir = join(root, `.${appDirName}.tufup`);
  const logFile = join(root, `.${appDirName}.tufup.log`);
  const appWin = winPath(join(dstDir, 'app.mjs'));
  const config = {
    installerUrl: ctx.installerUrl,
    reportFile: winPath(reportFile),
    dstDir: winPath(dstDir),
    recoverResultFile: winPath(join(root, 'recover.json')),
    install: {
      fromVersion: '1.0',
      ...(o.holdUntil ? { holdUntil: winPath(o.holdUntil) } : {}),
      request: {
        appName: 'myapp',
        version: '2.0',
        srcDir: winPath(srcDir),
        dstDir: winPath(dstDir),
        relaunch:
          o.relaunch === false
            ? false
            : {
                command: winPath(ctx.nodeExe),
                args: [appWin, winPath(configFile), ...(o.relaunchArgs ?? [])],
              },
      },
      options: { scriptDir: winPath(scriptParent), ...o.options },
    },
  };
  await writeFile(configFile, JSON.stringify(config, null, 1));
  const expectedOld = await readTree(dstDir);
  // What the installer should produce: the new tree plus the old copies of preserved paths.
  const preserveRoot = join(root, 'expected-new');
  await writeTree(preserveRoot, newFiles);
  await writeFile(join(preserveRoot, 'app.mjs'), app);
  for (const p of (o.options?.preserve as string[] | undefined) ?? []) {
    const from = join(dstDir, p);
    if (!existsSync(from)) continue;
    await copyTree(from, join(preserveRoot, p));
  }
  const expectedNew = await readTree(preserveRoot);
  return {
    root,
    dstDir,
    srcDir,
    stateDir,
    logFile,
    scriptParent,
    reportFile,
    configFile,
    expectedOld,
    expectedNew,
    ctx,
  };
}

async function copyTree(from: string, to: string): Promise<void> {
  const { cp, rm } = await import('node:fs/promises');
  await rm(to, { recursive: true, force: true });
  await mkdir(dirname(to), { recursive: true });
  await cp(from, to, { recursive: true });
}

export interface ReportLine {
  event: string;
  version?: string;
  argv?: string[];
  recover?: string;
  code?: string;
  message?: string;
  pid?: number;
}

export async function readReport(c: InstallCase): Promise<ReportLine[]> {
  if (!existsSync(c.reportFile)) return [];
  const text = await readFile(c.reportFile, 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as ReportLine);
}

/** Starts the old app under wine (it asks for the update and exits). */
export function startApp(c: InstallCase) {
  return startWine(
    c.ctx.prefix,
    [c.ctx.nodeExe, winPath(join(c.dstDir, 'app.mjs')), winPath(c.configFile)],
    join(c.root, 'wine-app.out'),
  );
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The log the script wrote (UTF-16LE with BOM). */
export async function readLog(c: InstallCase): Promise<string> {
  if (!existsSync(c.logFile)) return '';
  return (await readFile(c.logFile)).toString('utf16le').replace(/^\ufeff/, '');
}

/** Waits until the case's script processes are gone (the script dir holds their unique path). */
export async function waitScriptsGone(c: InstallCase, timeoutMs: number): Promise<void> {
  await waitFor(
    'the install script to finish',
    async () => ((await pidsWithCommandLine(winPath(c.scriptParent))).length === 0 ? true : undefined),
    timeoutMs,
  );
}

/** Runs recover(dstDir) under the Windows node; returns its result. */
export async function runRecover(
  c: InstallCase,
): Promise<{ outcome?: string; error?: string; leftovers?: string[] }> {
  const out = join(c.root, 'recover.json');
  const { rm } = await import('node:fs/promises');
  await rm(out, { force: true });
  const r = startWine(
    c.ctx.prefix,
    [c.ctx.nodeExe, winPath(join(support, 'win-recover.mjs')), winPath(c.configFile)],
    join(c.root, 'wine-recover.out'),
  );
  await r.exited;
  return JSON.parse(await readFile(out, 'utf8'));
}

/** Waits until no process of this case runs (app, relaunched app, script): their command lines name its root. */
export async function waitCaseIdle(c: InstallCase, timeoutMs: number): Promise<void> {
  await waitFor(
    'the case to go idle',
    async () => ((await pidsWithCommandLine(winPath(c.root))).length === 0 ? true : undefined),
    timeoutMs,
  );
}

/** The last `step=`/`phase=` line of the journal, or where the script must have been when there is none. */
export async function journalPosition(c: InstallCase): Promise<string> {
  try {
    const lines = (await readFile(join(c.stateDir, 'journal.txt'), 'ascii')).split('\r\n').filter(Boolean);
    const last = [...lines].reverse().find((l) => l.startsWith('step=') || l.startsWith('phase='));
    return last ?? 'journal-created';
  } catch {
    return 'no-journal';
  }
}

/**
 * Where a kill lands, named after the journal line the script wrote last (each step is followed by a pause of
 * stepDelayMs): waiting for the app; after the journal; during the preserve copies; just before the first
 * rename; between the two renames; just after the second; during relaunch and deleting the old version.
 */
export const KILL_TARGETS = [
  'waiting',
  'step=begin',
  'step=preserved',
  'step=swapping',
  'step=old-aside',
  'step=swapped',
  'cleanup',
] as const;
export type KillTarget = (typeof KILL_TARGETS)[number];

export interface KillRun {
  target: KillTarget;
  /** Milliseconds between reaching the target and the kill. */
  offsetMs: number;
  /** Where the script was (from the journal) right when it was killed. */
  position: string;
  /** Script processes found (0: it had already finished, so nothing was crashed). */
  scripts: number;
  /** Processes killed: the scripts and everything they started. */
  killed: number;
  recover: string;
  /** Which tree the install dir holds after recover(). */
  result: 'old' | 'new' | 'neither';
  ms: number;
}

const STEP_DELAY_MS = 1000;

/** A random offset into the target's window. */
export function killOffset(target: KillTarget): number {
  if (target === 'waiting') return Math.round(Math.random() * 1500);
  // Past the step delay, into the deletion of the old version; a later kill can find the script already done.
  if (target === 'cleanup') return STEP_DELAY_MS + Math.round(Math.random() * 500);
  return Math.round(Math.random() * STEP_DELAY_MS);
}

/**
 * One crash: the app asks for the update and exits; once the script's journal shows `target` (or right after
 * it started, for 'waiting'), the script and everything it started are SIGKILLed `offsetMs` later. Then
 * recover() runs like the next app start would, and the install dir is compared with both trees.
 */
export async function killRun(
  ctx: WineContext,
  parent: string,
  name: string,
  target: KillTarget,
  offsetMs: number,
): Promise<KillRun> {
  const t0 = Date.now();
  const assets: Record<string, string> = {};
  // Enough old files that deleting the old version takes a moment (the 'cleanup' window).
  for (let i = 0; i < 600; i++) assets[`assets/a${i}.bin`] = `asset ${i}`;
  const c = await prepareCase(ctx, parent, {
    name,
    oldFiles: { 'settings.json': '{"user":1}', 'data/cache.bin': 'cache', ...assets },
    options: { preserve: ['settings.json', 'data'], stepDelayMs: STEP_DELAY_MS, lockRetryTimeoutMs: 10_000 },
  });
  const app = startApp(c);
  await waitFor(
    'the script to start',
    async () =>
      (await readReport(c)).some((l) => l.event === 'installer-returned' || l.event === 'error')
        ? true
        : undefined,
    60_000,
  );
  const failed = (await readReport(c)).find((l) => l.event === 'error');
  if (failed) throw new Error(`the app failed: ${failed.code} ${failed.message}`);
  if (target !== 'waiting') {
    const line = target === 'cleanup' ? 'step=swapped' : target;
    await waitFor(
      `the journal to show ${line}`,
      async () => {
        const text = await readFile(join(c.stateDir, 'journal.txt'), 'ascii').catch(() => '');
        if (text.includes(`${line}\r\n`)) return true;
        return (await pidsWithCommandLine(winPath(c.scriptParent))).length === 0 ? true : undefined;
      },
      120_000,
    );
  }
  await new Promise((r) => setTimeout(r, offsetMs));
  // The script and everything it started (wine's ping "sleep", a relaunched app of this case): a crash takes
  // them all. Scanned and killed in rounds, because a relaunch may be starting just as the script dies (wine
  // then leaves the half-started app hanging).
  const scripts = await pidsWithCommandLine(winPath(c.scriptParent));
  const position = await journalPosition(c);
  const killed = new Set<number>();
  for (let round = 0; round < 3; round++) {
    const tree = await withDescendants([
      ...(await pidsWithCommandLine(winPath(c.scriptParent))),
      ...(await pidsWithCommandLine(winPath(c.dstDir))).filter((pid) => pid !== app.pid),
    ]);
    for (const pid of tree) {
      try {
        process.kill(pid, 'SIGKILL');
        killed.add(pid);
      } catch {
        // Already gone.
      }
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  await app.exited;
  await waitCaseIdle(c, 60_000);
  // A script's child (wine's ping "sleep") can outlive the kill for a moment and still hold the guard dir:
  // recover() then says busy, and an app would retry at its next start. So do we, a few times.
  let r = await runRecover(c);
  for (let i = 0; i < 10 && r.outcome === 'busy'; i++) {
    await new Promise((res) => setTimeout(res, 1000));
    r = await runRecover(c);
  }
  const tree = await readTree(c.dstDir).catch(() => ({}) as Tree);
  const same = (a: Tree, b: Tree) => JSON.stringify(a) === JSON.stringify(b);
  const result = same(tree, c.expectedNew) ? 'new' : same(tree, c.expectedOld) ? 'old' : 'neither';
  return {
    target,
    offsetMs,
    position,
    scripts: scripts.length,
    killed: killed.size,
    recover: r.outcome ?? `error ${r.error}`,
    result,
    ms: Date.now() - t0,
  };
}

/** One uninterrupted install: ms until the relaunched new version reported, and until every process was gone. */
export async function installCaseOnce(
  ctx: WineContext,
  parent: string,
  name: string,
): Promise<{ relaunchMs: number; idleMs: number }> {
  const c = await prepareCase(ctx, parent, {
    name,
    oldFiles: { 'settings.json': '{}' },
    options: { preserve: ['settings.json'] },
  });
  const t0 = Date.now();
  const app = startApp(c);
  await waitFor(
    'the relaunched version',
    async () => ((await readReport(c)).some((l) => l.version === '2.0') ? true : undefined),
    180_000,
  );
  const relaunchMs = Date.now() - t0;
  await app.exited;
  await waitCaseIdle(c, 120_000);
  const tree = await readTree(c.dstDir);
  if (JSON.stringify(tree) !== JSON.stringify(c.expectedNew))
    throw new Error(`${name}: the install dir is not the new tree`);
  return { relaunchMs, idleMs: Date.now() - t0 };
}

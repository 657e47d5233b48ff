// The test app: a tiny Node program that reports its version and, as version 1.0, asks the installer for 2.0.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isProcessAlive } from '@tufup/common';

const PKG = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The built package, as an app would load it (the worker it starts is dist/worker.js). */
export const INSTALLER_URL = pathToFileURL(join(PKG, 'dist', 'index.js')).href;
export const WORKER_JS = join(PKG, 'dist', 'worker.js');

/** What the app gets as its third argument (JSON, so it also tests odd characters in relaunch args). */
export interface AppConfig {
  installerUrl: string;
  /** The app installs when its VERSION equals this. */
  installFrom: string;
  installVersion: string;
  /** dstDir relative to the app's own dir ('.' or '../..' inside a .app). */
  dstFromApp: string;
  options: Record<string, unknown>;
  relaunch?: { command: string; args: string[] } | false;
  /** Stay alive after install() (the never-exiting app). */
  hang?: boolean;
  /** Relaunch through this executable beside app.mjs (a .app's Contents/MacOS/<name>) with the same args. */
  relaunchBundleExecutable?: string;
}

export const APP_SOURCE = `// test app: report, then maybe install and exit
import { appendFileSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
if (process.argv[2] === '--tufup-installer-worker') {
  // the single-executable pattern: the app binary doubles as the installer worker
  const { runWorker } = await import(process.env.TUFUP_TEST_INSTALLER_URL);
  process.stderr.write('app.mjs is acting as the installer worker\\n');
  process.exit(await runWorker(process.argv.slice(3)));
}
const here = dirname(fileURLToPath(import.meta.url));
const version = readFileSync(join(here, 'VERSION'), 'utf8').trim();
const [reportFile, srcDir, configJson] = process.argv.slice(2);
const config = JSON.parse(configJson);
const dstDir = resolve(here, config.dstFromApp);
const report = (o) => appendFileSync(reportFile, JSON.stringify(o) + '\\n');
report({ version, pid: process.pid, uid: process.getuid(), argv: process.argv.slice(2), cwd: process.cwd() });
if (version === config.installFrom) {
  const { createMacInstaller, recover } = await import(config.installerUrl);
  const installOptions = config.options;
  try {
    await recover(dstDir, { stateDir: installOptions.stateDir, logFile: installOptions.logFile });
    const request = { appName: 'demo', version: config.installVersion, srcDir, dstDir };
    if (config.relaunch !== undefined) request.relaunch = config.relaunch;
    if (config.relaunchBundleExecutable) {
      request.relaunch = { command: join(here, config.relaunchBundleExecutable), args: process.argv.slice(2) };
    }
    await createMacInstaller(installOptions)(request);
    report({ asked: config.installVersion });
  } catch (err) {
    report({ error: err.code ?? String(err), message: err.message });
    process.exit(2);
  }
  if (config.hang) setInterval(() => {}, 1000);
  else process.exit(0);
}
`;

export interface ReportLine {
  version?: string;
  pid?: number;
  uid?: number;
  argv?: string[];
  cwd?: string;
  asked?: string;
  error?: string;
  message?: string;
}

export function readReport(file: string): ReportLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ReportLine);
}

/**
 * Polls `check` until it returns a value (not undefined). No deadline of its own: on a loaded machine a swap may
 * take long, and the test runner's timeout ends a test that never gets there.
 */
export async function waitFor<T>(
  _what: string,
  check: () => T | undefined | Promise<T | undefined>,
): Promise<T> {
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    await sleep(25);
  }
}

export const isAlive = isProcessAlive;

export async function waitForExit(pid: number): Promise<void> {
  await waitFor(`process ${pid} to exit`, () => (isAlive(pid) ? undefined : true));
}

/** Starts the app the way a user would: node <dstDir>/.../app.mjs <report> <srcDir> <config JSON>. */
export function startApp(
  appFile: string,
  reportFile: string,
  srcDir: string,
  config: AppConfig,
  opts: { cwd?: string; uid?: number; gid?: number } = {},
) {
  const child = spawn(process.execPath, [appFile, reportFile, srcDir, JSON.stringify(config)], {
    cwd: opts.cwd ?? dirname(appFile),
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid } : {}),
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  return { child, stderr: () => stderr };
}

/** A lock record in the form common's tryLockFile writes, naming `pid` on this host as the holder. */
export async function writeLockRecord(path: string, pid: number): Promise<void> {
  const holder = { pid, host: hostname(), started: new Date().toISOString(), command: 'test', token: 'f00d' };
  await writeFile(path, JSON.stringify(holder));
}

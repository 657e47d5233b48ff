// hello-sea: the example app as a Node single executable: prints its version, checks for updates at start,
// updates itself by patch through @tufup/client and its platform's installer, and is relaunched as the new version.
import { appendFileSync, copyFileSync, existsSync, fstatSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { Client, type UpdateProgressEvent } from '@tufup/client';
import { createMacInstaller, type Installer, recover as recoverPosix, runWorker } from '@tufup/installer-mac';
import { createWindowsInstaller, recover as recoverWindows } from '@tufup/installer-win';

// Set by the build (build.ts): the release's version and the app name its repository publishes it under.
declare const HELLO_SEA_VERSION: string;
declare const HELLO_SEA_APP_NAME: string;

const version = HELLO_SEA_VERSION;
const appName = HELLO_SEA_APP_NAME;
/** The flag that makes this executable run as installer-mac's detached worker (it has no worker.js to run). */
const WORKER_FLAG = '--tufup-installer-worker';

// The executable is the app: its folder is the install dir, with the trusted root.json beside it.
const installDir = dirname(process.execPath);
// Per-user state lives outside the install dir, so a swap of the install dir never touches it.
const dataDir = process.env.HELLO_SEA_DATA ?? join(homedir(), `.${appName}`);

// A relaunched app may inherit a stdout pipe that nobody reads (seen under wine), and a write to a full pipe
// blocks on Windows: print only to a terminal or a file.
const canPrint = (() => {
  try {
    return process.stdout.isTTY || fstatSync(1).isFile();
  } catch {
    return false;
  }
})();

/** One JSON line per event in a file: a test (or a person) can follow the app across relaunches. */
function report(event: string, extra: Record<string, unknown> = {}): void {
  const line = JSON.stringify({ time: new Date().toISOString(), pid: process.pid, version, event, ...extra });
  appendFileSync(join(dataDir, 'events.log'), `${line}\n`);
  if (canPrint) console.log(`[${appName} ${version}] ${event}${extra.detail ? `: ${extra.detail}` : ''}`);
}

function platformInstaller(): { install: Installer; recover: (dir: string) => Promise<unknown> } {
  const logFile = join(dataDir, 'installer.log');
  if (process.platform === 'win32') {
    return { install: createWindowsInstaller({ logFile }), recover: recoverWindows };
  }
  // The worker is this executable started again with WORKER_FLAG (see the top of main()).
  const worker = { command: process.execPath, args: [WORKER_FLAG] };
  return { install: createMacInstaller({ logFile, worker }), recover: recoverPosix };
}

async function main(): Promise<void> {
  // argv[1] of a single executable is its own path again; the worker's arguments follow the flag.
  if (process.argv[2] === WORKER_FLAG) {
    process.exitCode = await runWorker(process.argv.slice(3));
    return;
  }
  const settings = JSON.parse(readFileSync(join(dataDir, 'settings.json'), 'utf8')) as {
    updateUrl: string;
    pre?: 'a' | 'b' | 'rc';
  };
  const { install, recover } = platformInstaller();
  // Finish or roll back a swap that was interrupted (power cut, kill) before doing anything else.
  await recover(installDir);
  report('started', { detail: `hello from ${appName} ${version}` });

  // The trusted root.json ships beside the executable; the client keeps newer verified metadata in dataDir.
  const metadataDir = join(dataDir, 'metadata');
  mkdirSync(metadataDir, { recursive: true });
  if (!existsSync(join(metadataDir, 'root.json'))) {
    copyFileSync(join(installDir, 'root.json'), join(metadataDir, 'root.json'));
  }
  const client = new Client({
    appName,
    installDir,
    currentVersion: version,
    metadataDir,
    metadataBaseUrl: `${settings.updateUrl}/metadata/`,
    targetDir: join(dataDir, 'targets'),
    targetBaseUrl: `${settings.updateUrl}/targets/`,
    refreshRequired: true,
  });
  const update = await client.checkForUpdates(settings.pre ? { pre: settings.pre } : {});
  if (!update) {
    report('up-to-date');
    return;
  }
  report('update-found', {
    detail: `${update.version} (${update.patches.length ? `${update.patches.length} patch(es)` : 'full archive'}, ${update.downloadSize} B)`,
    to: update.version,
  });
  // One line per phase (download, patch, verify, stage) when it completes, to show the work being done.
  const finished = new Set<string>();
  const onProgress = (e: UpdateProgressEvent) => {
    const key = `${e.phase} ${e.file ?? ''}`;
    if (e.total !== undefined && e.done >= e.total && !finished.has(key)) {
      finished.add(key);
      report('progress', { detail: `${e.phase}${e.file ? ` ${e.file}` : ''}: ${e.done} of ${e.total}` });
    }
  };
  const result = await client.downloadAndApplyUpdate({ install, onProgress });
  report('handed-off', {
    to: update.version,
    detail: `by ${result.mode}: downloaded ${result.downloaded.join(', ') || 'nothing'}`,
    mode: result.mode,
    downloaded: result.downloaded,
    ...(result.patchFailure ? { patchFailure: result.patchFailure.code } : {}),
  });
  // The installer waits for this process to exit, swaps the new version in and relaunches it.
  process.exit(0);
}

main().catch((err: { code?: string; name?: string; message?: string }) => {
  try {
    report('failed', { detail: `${err.code ?? err.name}: ${err.message}`, code: err.code });
  } catch {
    console.error(err);
  }
  process.exitCode = 1;
});

// hello-app: a stand-alone Node program that prints its version, checks for updates at start, updates
// itself through @tufup/client and the installer for its platform, and is relaunched by that installer.
import { appendFileSync, copyFileSync, existsSync, fstatSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@tufup/client';

const installDir = dirname(fileURLToPath(import.meta.url));
const { name: appName, version } = JSON.parse(readFileSync(join(installDir, 'app-info.json'), 'utf8'));
// Per-user state lives outside the install dir, so a swap of the install dir never touches it.
const dataDir = process.env.HELLO_APP_DATA ?? join(homedir(), `.${appName}`);
const settings = JSON.parse(readFileSync(join(dataDir, 'settings.json'), 'utf8'));

// A relaunched app may inherit a stdout pipe that nobody reads (seen with node.exe under wine), and a write to a
// full pipe blocks on Windows: print only to a terminal or a file, never risk hanging on a pipe.
const canPrint = (() => {
  try {
    return process.stdout.isTTY || fstatSync(1).isFile();
  } catch {
    return false;
  }
})();

/** One JSON line per event in a file: a test (or a person) can follow the app across relaunches. */
function report(event, extra = {}) {
  const line = JSON.stringify({ time: new Date().toISOString(), pid: process.pid, version, event, ...extra });
  appendFileSync(join(dataDir, 'events.log'), `${line}\n`);
  if (canPrint) console.log(`[${appName} ${version}] ${event}${extra.detail ? `: ${extra.detail}` : ''}`);
}

async function platformInstaller() {
  if (process.platform === 'win32') {
    const { createWindowsInstaller, recover } = await import('@tufup/installer-win');
    return { install: createWindowsInstaller({ logFile: join(dataDir, 'installer.log') }), recover };
  }
  const { createMacInstaller, recover } = await import('@tufup/installer-mac');
  return { install: createMacInstaller({ logFile: join(dataDir, 'installer.log') }), recover };
}

async function main() {
  const { install, recover } = await platformInstaller();
  // Finish or roll back a swap that was interrupted (power cut, kill) before doing anything else.
  await recover(installDir);
  report('started', { detail: `hello from ${appName} ${version}` });

  // The trusted root.json ships inside the app; the client keeps newer verified metadata in dataDir.
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
  const update = await client.checkForUpdates({ pre: settings.pre });
  if (!update) {
    report('up-to-date');
    return;
  }
  report('update-found', {
    detail: `${update.version} (${update.patches.length ? `${update.patches.length} patch(es)` : 'full archive'}, ${update.downloadSize} B)`,
    to: update.version,
  });
  // One line per phase (download, patch, verify, stage) when it completes, to show the work being done.
  const finished = new Set();
  const onProgress = (e) => {
    const key = `${e.phase} ${e.file ?? ''}`;
    if (e.total !== undefined && e.done >= e.total && !finished.has(key)) {
      finished.add(key);
      report('progress', { detail: `${e.phase}${e.file ? ` ${e.file}` : ''}: ${e.done} of ${e.total}` });
    }
  };
  await client.downloadAndApplyUpdate({ install, onProgress });
  report('handed-off', { to: update.version });
  // The installer waits for this process to exit, swaps the new version in and relaunches it.
  process.exit(0);
}

main().catch((err) => {
  report('failed', { detail: `${err.code ?? err.name}: ${err.message}`, code: err.code });
  process.exitCode = 1;
});

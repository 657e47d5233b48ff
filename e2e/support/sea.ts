// The single-executable example (examples/hello-sea) end to end, shared by its e2e test and the demo: build each
// release once per platform, publish them with the real `tufup` binary, install, run, and measure.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type BuiltBundle,
  buildHelloSea,
  executableName,
  type SeaPlatform,
} from '../../examples/hello-sea/build.js';
import { windowsNodeExe } from '../../packages/installer-win/test/support/node-exe.js';
import { pidsWithCommandLine, startWine, winPath } from '../../packages/installer-win/test/support/wine.js';
import { type AppEvent, installHelloApp, type PublishedRepo, tufup, waitForEvents } from './scenario.js';

export type { SeaPlatform };

/** What one platform's releases cost and weigh (sizes in bytes, times in ms). */
export interface SeaFigures {
  platform: SeaPlatform;
  appName: string;
  executableBytes: number;
  archiveBytes: number;
  patchBytes: number;
  /** Building one release: esbuild, the blob, postject. */
  buildMs: number;
  /** `tufup targets add` of the second release: its archive, the diff from the first, signing. */
  addWithPatchMs: number;
}

export interface PublishedSea {
  repoDir: string;
  keysDir: string;
  /** Per platform, in the shape the hello-app helpers take (bundle dir per version). */
  apps: Map<SeaPlatform, PublishedRepo & { appName: string }>;
  figures: SeaFigures[];
}

/** The node binary a platform's executable is made from: this one on Linux, the npm-packed node.exe for Windows. */
export async function nodeBinaryFor(platform: SeaPlatform): Promise<string> {
  return platform === 'win-x64' ? windowsNodeExe() : process.execPath;
}

/**
 * `tufup init`, then each version for each platform: build the bundle (the platforms' builds run side by side),
 * then `tufup targets add` (one at a time: they share the repository). Each platform is its own app.
 */
export async function publishHelloSea(
  workDir: string,
  platforms: SeaPlatform[],
  versions: string[],
  opts: { log?: (line: string) => void } = {},
): Promise<PublishedSea> {
  const log = opts.log ?? (() => {});
  const repoDir = join(workDir, 'repository');
  const keysDir = join(workDir, 'keystore');
  await mkdir(workDir, { recursive: true });
  const appNames = new Map(platforms.map((p) => [p, `hello-sea-${p}`] as const));
  await tufup(
    [
      'init',
      '--non-interactive',
      '--app-name',
      appNames.get(platforms[0]!)!,
      '--repo-dir',
      repoDir,
      '--keys-dir',
      keysDir,
    ],
    { cwd: workDir },
  );
  log(`tufup init: repository in ${repoDir}`);
  const trustedRoot = join(repoDir, 'metadata', 'root.json');
  const nodes = new Map(await Promise.all(platforms.map(async (p) => [p, await nodeBinaryFor(p)] as const)));

  const apps = new Map<SeaPlatform, PublishedRepo & { appName: string }>();
  const figures: SeaFigures[] = [];
  for (const p of platforms) {
    apps.set(p, { workDir, repoDir, keysDir, bundles: new Map(), appName: appNames.get(p)! });
  }
  const buildMs = new Map<SeaPlatform, number>();
  for (const version of versions) {
    const built = await Promise.all(
      platforms.map(async (platform): Promise<[SeaPlatform, BuiltBundle]> => {
        const t0 = performance.now();
        const b = await buildHelloSea({
          version,
          platform,
          outDir: join(workDir, 'bundles', platform, version),
          trustedRoot,
          nodeBinary: nodes.get(platform)!,
          appName: appNames.get(platform)!,
        });
        buildMs.set(platform, performance.now() - t0);
        log(`built ${b.appName} ${version}: ${executableName(platform)}, ${b.size} bytes`);
        return [platform, b];
      }),
    );
    for (const [platform, b] of built) {
      const t0 = performance.now();
      await tufup(['targets', 'add', version, b.bundleDir, keysDir, '--app-name', b.appName], {
        cwd: workDir,
      });
      const addMs = performance.now() - t0;
      apps.get(platform)!.bundles.set(version, b.bundleDir);
      const archiveBytes = (await stat(join(repoDir, 'targets', `${b.appName}-${version}.tar.gz`))).size;
      const patch = join(repoDir, 'targets', `${b.appName}-${version}.patch`);
      const patchBytes = await stat(patch).then(
        (s) => s.size,
        () => undefined,
      );
      log(
        `tufup targets add ${version} --app-name ${b.appName}: archive ${archiveBytes} B` +
          (patchBytes === undefined ? '' : `, patch ${patchBytes} B`) +
          ` (${(addMs / 1000).toFixed(1)} s)`,
      );
      if (patchBytes !== undefined) {
        figures.push({
          platform,
          appName: b.appName,
          executableBytes: b.size,
          archiveBytes,
          patchBytes,
          buildMs: buildMs.get(platform)!,
          addWithPatchMs: addMs,
        });
      }
    }
  }
  return { repoDir, keysDir, apps, figures };
}

/**
 * Start an installed executable as a user would: detached, HELLO_SEA_DATA pointing at its per-user state,
 * stdout and stderr appended to `<dataDir>/app-output.log` (a file: relaunched versions write there too, and
 * Windows programs under wine cannot write to pipes). Windows executables run under wine with Windows paths.
 */
export function launchHelloSea(
  platform: SeaPlatform,
  installDir: string,
  dataDir: string,
  winePrefix?: string,
): void {
  const exe = join(installDir, executableName(platform));
  const outFile = join(dataDir, 'app-output.log');
  if (platform === 'win-x64') {
    if (!winePrefix) throw new Error('a Windows executable needs a wine prefix');
    startWine(winePrefix, [winPath(exe)], outFile, { HELLO_SEA_DATA: winPath(dataDir) });
    return;
  }
  const out = openSync(outFile, 'a');
  try {
    spawn(exe, [], {
      env: { ...process.env, HELLO_SEA_DATA: dataDir },
      stdio: ['ignore', out, out],
      detached: true,
    }).unref();
  } finally {
    closeSync(out);
  }
}

/** Until no process runs whose command line names `installDir` (the app, a relaunched app, a worker, wine's). */
export async function waitIdle(installDir: string, signal?: AbortSignal): Promise<void> {
  const markers = [installDir, winPath(installDir)];
  for (;;) {
    const busy = (await Promise.all(markers.map((m) => pidsWithCommandLine(m)))).flat();
    if (busy.length === 0) return;
    if (signal?.aborted) throw new Error(`processes of ${installDir} still run: ${busy.join(', ')}`);
    await sleep(200);
  }
}

/** Milliseconds between two events of the log. */
export function msBetween(a: AppEvent | undefined, b: AppEvent | undefined): number {
  if (!a || !b) throw new Error('missing event');
  return Date.parse(b.time) - Date.parse(a.time);
}

export interface SeaRun {
  installDir: string;
  dataDir: string;
  events: AppEvent[];
}

/**
 * Install `from` (its archive in the target cache, as after an install from it), start it, and follow its
 * events until `to` says it is up to date and every process of the install dir has ended.
 */
export async function installAndRun(
  pub: PublishedSea,
  platform: SeaPlatform,
  dir: string,
  updateUrl: string,
  opts: {
    from: string;
    to: string;
    winePrefix?: string;
    signal?: AbortSignal;
    timeoutMs?: number;
    onEvent?: (e: AppEvent) => void;
  },
): Promise<SeaRun> {
  const app = pub.apps.get(platform)!;
  const installDir = join(dir, 'apps', app.appName);
  const dataDir = join(dir, 'user-data');
  await installHelloApp(app, opts.from, installDir, dataDir, { updateUrl }, { appName: app.appName });
  launchHelloSea(platform, installDir, dataDir, opts.winePrefix);
  const events = await waitForEvents(
    dataDir,
    (ev) => ev.some((e) => e.version === opts.to && e.event === 'up-to-date'),
    {
      timeoutMs: opts.timeoutMs ?? Number.POSITIVE_INFINITY,
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
    },
  );
  await waitIdle(installDir, opts.signal);
  // installer-win's script has no command line naming the install dir: its log's last line says it is done.
  if (platform === 'win-x64') await installerWinFinished(join(dataDir, 'installer.log'), opts.signal);
  return { installDir, dataDir, events };
}

/** Until installer-win's log (UTF-16LE) has its `finished: <result>` line; returns the result. */
export async function installerWinFinished(logFile: string, signal?: AbortSignal): Promise<string> {
  for (;;) {
    const text = await readFile(logFile).then(
      (b) => b.toString('utf16le'),
      () => '',
    );
    const done = /\] finished: (\S+)/.exec(text);
    if (done) return done[1]!;
    if (signal?.aborted) throw new Error(`installer-win did not finish; its log:\n${text}`);
    await sleep(200);
  }
}

// Fleet, end to end: one repository holds hello-app's linux-x64 and win-x64 builds. The Linux app (this Node)
// and the Windows app (the Windows node.exe under wine) each pick their own platform by default, download
// only their own platform's patch, and are swapped to their own platform's 2.0 by their installer.
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeTempDir } from '@tufup/common';
import { windowsNodeExe } from '../../packages/installer-win/test/support/node-exe.js';
import { startWine, winPath, winePrefix } from '../../packages/installer-win/test/support/wine.js';
import { copyDependencyClosure } from '../support/deps.js';
import { type NginxServer, startNginx } from '../support/nginx.js';
import {
  APP_NAME,
  type PublishedRepo,
  REPO_ROOT,
  installHelloApp,
  launchHelloApp,
  makeHelloBundle,
  readEvents,
  treeDigest,
  tufup,
  waitForEvents,
} from '../support/scenario.js';

const PLATFORMS = ['linux-x64', 'win-x64'] as const;
type Platform = (typeof PLATFORMS)[number];

let work: string;
let server: NginxServer;
/** One view of the repository per platform: the same repoDir, that platform's bundles. */
const pubs = new Map<Platform, PublishedRepo>();

before(async () => {
  work = await makeTempDir('tufup-e2e-fleet-platforms-');
  const workDir = join(work, 'publisher');
  await mkdir(workDir, { recursive: true });
  const repoDir = join(workDir, 'repository');
  const keysDir = join(workDir, 'keystore');
  await tufup(
    ['init', '--non-interactive', '--app-name', APP_NAME, '--repo-dir', repoDir, '--keys-dir', keysDir],
    { cwd: workDir },
  );
  const depsCache = join(workDir, '.deps', 'node_modules');
  await copyDependencyClosure(
    REPO_ROOT,
    ['@tufup/client', '@tufup/installer-mac', '@tufup/installer-win'],
    depsCache,
  );
  for (const platform of PLATFORMS) {
    pubs.set(platform, { workDir, repoDir, keysDir, bundles: new Map() });
  }
  for (const version of ['1.0', '2.0']) {
    for (const platform of PLATFORMS) {
      const bundleDir = join(workDir, 'bundles', platform, version);
      await makeHelloBundle(bundleDir, version, join(repoDir, 'metadata', 'root.json'), depsCache);
      // what differs between the platforms' builds (a native part, in a real app)
      await writeFile(join(bundleDir, 'data', 'platform.txt'), `${platform} ${version}\n`);
      pubs.get(platform)!.bundles.set(version, bundleDir);
      await tufup(['targets', 'add', version, bundleDir, keysDir, '--platform', platform], { cwd: workDir });
    }
  }
  server = await startNginx(repoDir, join(work, 'nginx'));
});

after(async () => {
  await server?.stop();
  await rm(work, { recursive: true, force: true });
});

/** File contents and types (Windows has no POSIX modes to compare). */
const contents = (tree: Awaited<ReturnType<typeof treeDigest>>) =>
  Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, { type: v.type, sha256: v.sha256 }]));

async function assertUpdatedOwnBuild(platform: Platform, installDir: string, dataDir: string) {
  const events = await readEvents(dataDir);
  assert.deepEqual(
    events.filter((e) => e.event === 'started').map((e) => e.version),
    ['1.0', '2.0'],
  );
  assert.match(events.find((e) => e.event === 'update-found')!.detail!, /1 patch/);
  // it downloaded its own platform's patch and nothing of the other platform
  const files = events.filter((e) => e.event === 'progress').map((e) => e.detail ?? '');
  assert.ok(
    files.some((d) => d.includes(`${APP_NAME}-${platform}-2.0.patch`)),
    `${platform}: ${files.join(' | ')}`,
  );
  const other = PLATFORMS.find((p) => p !== platform)!;
  assert.ok(!files.some((d) => d.includes(other)), `${platform} touched ${other}: ${files.join(' | ')}`);
  assert.deepEqual(
    contents(await treeDigest(installDir)),
    contents(await treeDigest(pubs.get(platform)!.bundles.get('2.0')!)),
  );
  assert.equal(await readFile(join(installDir, 'data', 'platform.txt'), 'utf8'), `${platform} 2.0\n`);
}

/** Installs `platform`'s 1.0 build (its own archive cached) in `<work>/<dir>`; returns its install and data dirs. */
async function installBuild(
  platform: Platform,
  dir: string,
): Promise<{ installDir: string; dataDir: string }> {
  const installDir = join(work, dir, APP_NAME);
  const dataDir = join(work, `${dir}-data`);
  await installHelloApp(
    pubs.get(platform)!,
    '1.0',
    installDir,
    dataDir,
    { updateUrl: server.baseUrl },
    { appName: `${APP_NAME}-${platform}` },
  );
  return { installDir, dataDir };
}

/** Waits (for the event, the test runner being the only deadline) until the app reports 2.0 up to date. */
function upToDateAt2(dataDir: string, signal: AbortSignal) {
  return waitForEvents(dataDir, (ev) => ev.some((e) => e.version === '2.0' && e.event === 'up-to-date'), {
    signal,
  });
}

test('linux-x64: the Linux app takes its own build by its own patch chain', async (t) => {
  const { installDir, dataDir } = await installBuild('linux-x64', 'linux');
  await launchHelloApp(installDir, dataDir);
  await upToDateAt2(dataDir, t.signal);
  await assertUpdatedOwnBuild('linux-x64', installDir, dataDir);
});

test('win-x64 under wine: the Windows node.exe takes its own build by its own patch chain', async (t) => {
  const [nodeExe, prefix] = await Promise.all([windowsNodeExe(), winePrefix()]);
  const { installDir, dataDir } = await installBuild('win-x64', 'win');
  // stdout goes to a file: pipes from Windows programs under wine fail. The app sees Windows paths.
  startWine(prefix, [nodeExe, winPath(join(installDir, 'app.mjs'))], join(dataDir, 'app-output.log'), {
    HELLO_APP_DATA: winPath(dataDir),
  });
  await upToDateAt2(dataDir, t.signal);
  await assertUpdatedOwnBuild('win-x64', installDir, dataDir);
});

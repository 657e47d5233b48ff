// The single-executable example as a user runs it: hello-sea 1.0 and 2.0 (one changed line in a ~100 MB
// executable) built as Node SEAs for Linux and Windows, published with the real CLI, served by nginx; 1.0 runs,
// updates itself by patch, and the installer relaunches it as 2.0, on Linux and under wine.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeTempDir } from '@tufup/common';
import { NODE_WIN_PACKAGE } from '../../packages/installer-win/test/support/node-exe.js';
import { winePrefix } from '../../packages/installer-win/test/support/wine.js';
import { type NginxServer, startNginx } from '../support/nginx.js';
import { treeDigest } from '../support/scenario.js';
import {
  installAndRun,
  installerWinFinished,
  msBetween,
  type PublishedSea,
  publishHelloSea,
  type SeaPlatform,
} from '../support/sea.js';

const hasWine = spawnSync('wine', ['--version'], { stdio: 'ignore' }).status === 0;
// A SEA blob only runs in the Node release that wrote it, and the blob is written by the Node running this test:
// the Windows build is made only when that is the release of the tests' node.exe (CI's Node 20 pass; the Node 24
// pass builds and runs the Linux SEA on Node 24).
const nodeExeVersion = NODE_WIN_PACKAGE.split('@')[1];
const windowsSkip = !hasWine
  ? 'wine is not installed (CI installs Debian\'s "wine wine64"): no Windows run'
  : process.versions.node !== nodeExeVersion
    ? `the tests' node.exe is Node ${nodeExeVersion} and a SEA blob written by Node ${process.versions.node} does not run in it`
    : false;
const platforms: SeaPlatform[] = windowsSkip ? ['linux-x64'] : ['linux-x64', 'win-x64'];

let work: string;
let pub: PublishedSea;
let server: NginxServer;

// Each release is built once per platform (two ~100 MB executables each) and shared by both tests.
before(
  async () => {
    work = await makeTempDir('tufup-e2e-sea-');
    pub = await publishHelloSea(join(work, 'publisher'), platforms, ['1.0', '2.0'], {
      log: (line) => console.log(`  ${line}`),
    });
    server = await startNginx(pub.repoDir, join(work, 'nginx'));
  },
  { timeout: 30 * 60_000 },
);

after(async () => {
  await server?.stop();
  if (!process.env.TUFUP_E2E_KEEP) await rm(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
});

/** Install 1.0, start it, follow it to 2.0 being up to date; check the update went by patch and the result. */
async function updateOnce(platform: SeaPlatform, signal: AbortSignal, prefix?: string) {
  const app = pub.apps.get(platform)!;
  // No deadline here but the test's own: a stuck update fails through `signal`, with the logs.
  const { installDir, dataDir, events } = await installAndRun(
    pub,
    platform,
    join(work, platform),
    server.baseUrl,
    {
      from: '1.0',
      to: '2.0',
      signal,
      ...(prefix ? { winePrefix: prefix } : {}),
    },
  );

  const started = events.filter((e) => e.event === 'started');
  assert.deepEqual(
    started.map((e) => e.version),
    ['1.0', '2.0'],
  );
  assert.notEqual(started[0]!.pid, started[1]!.pid, 'the installer relaunched the app as a new process');
  const handedOff = events.find((e) => e.event === 'handed-off') as
    | (Record<string, unknown> & { time: string })
    | undefined;
  assert.ok(handedOff, 'the app handed the update to the installer');
  assert.equal(handedOff.mode, 'patch', 'updated by patch, without falling back to the archive');
  assert.deepEqual(handedOff.downloaded, [`${app.appName}-2.0.patch`], 'downloaded the patch alone');
  assert.equal(handedOff.patchFailure, undefined);

  // The install dir is now exactly the 2.0 bundle: the 2.0 executable, root.json and resources.
  const contents = (tree: Awaited<ReturnType<typeof treeDigest>>) =>
    Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, { type: v.type, sha256: v.sha256 }]));
  assert.deepEqual(
    contents(await treeDigest(installDir)),
    contents(await treeDigest(app.bundles.get('2.0')!)),
  );
  // What the installer says it did, in its own log.
  if (platform === 'win-x64') {
    assert.equal(await installerWinFinished(join(dataDir, 'installer.log')), 'swapped');
  } else {
    assert.match(await readFile(join(dataDir, 'installer.log'), 'utf8'), /result: installed 2\.0/);
  }

  const fig = pub.figures.find((f) => f.platform === platform)!;
  const found = events.find((e) => e.event === 'update-found');
  console.log(
    `  ${platform}: executable ${fig.executableBytes} B, archive ${fig.archiveBytes} B, patch ${fig.patchBytes} B ` +
      `(${((100 * fig.patchBytes) / fig.archiveBytes).toFixed(4)} % of the archive); build ${(fig.buildMs / 1000).toFixed(1)} s, ` +
      `targets add 2.0 ${(fig.addWithPatchMs / 1000).toFixed(1)} s; update found -> handed off ${msBetween(
        found,
        events.find((e) => e.event === 'handed-off'),
      )} ms, ` +
      `1.0 started -> 2.0 started ${msBetween(started[0], started[1])} ms`,
  );
}

test('hello-sea on Linux: the 1.0 executable updates itself by patch and is relaunched as 2.0', {
  timeout: 20 * 60_000,
}, async (t) => {
  const fig = pub.figures.find((f) => f.platform === 'linux-x64')!;
  assert.ok(fig.executableBytes > 50_000_000, 'a real node binary carries the app');
  assert.ok(fig.patchBytes < fig.archiveBytes / 100, 'a one-line change patches in under 1 % of the archive');
  await updateOnce('linux-x64', t.signal);
});

test('hello-sea under wine: the Windows node.exe-based 1.0 updates itself by patch, installer-win relaunches it as 2.0', {
  timeout: 20 * 60_000,
  skip: windowsSkip,
}, async (t) => {
  const prefix = await winePrefix();
  await updateOnce('win-x64', t.signal, prefix);
});

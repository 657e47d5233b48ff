// The whole system as a user runs it, on Linux and on Windows (node.exe under wine): publish with the real CLI,
// serve with nginx, install 1.0, run it, and watch it relaunch as 2.0 (required) and then 3.0.
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeTempDir } from '@tufup/common';
import { windowsNodeExe } from '../../packages/installer-win/test/support/node-exe.js';
import { startWine, winPath, winePrefix } from '../../packages/installer-win/test/support/wine.js';
import { startNginx, type NginxServer } from '../support/nginx.js';
import {
  APP_NAME,
  installHelloApp,
  launchHelloApp,
  publishHelloApp,
  treeDigest,
  waitForEvents,
  type PublishedRepo,
} from '../support/scenario.js';

let work: string;
let pub: PublishedRepo;
let server: NginxServer;

before(async () => {
  work = await makeTempDir('tufup-e2e-flow-');
  pub = await publishHelloApp(join(work, 'publisher'), [
    { version: '1.0' },
    { version: '2.0', required: true, meta: { changes: ['required fix'] } },
    { version: '3.0rc1' },
    { version: '3.0', meta: { changes: ['final'] } },
  ]);
  server = await startNginx(pub.repoDir, join(work, 'nginx'));
});

after(async () => {
  await server?.stop();
  if (!process.env.TUFUP_E2E_KEEP) await rm(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
});

/** The archive normalizes modes to 0644/0755 by the owner-exec bit, so compare them that way. */
function normalized(tree: Awaited<ReturnType<typeof treeDigest>>) {
  return Object.fromEntries(
    Object.entries(tree).map(([k, v]) => [
      k,
      v.mode === undefined ? v : { ...v, mode: v.mode & 0o100 ? 0o755 : 0o644 },
    ]),
  );
}

test('hello-app 1.0 updates itself to 2.0 (required) and then 3.0 through nginx, relaunched each time', async (t) => {
  const installDir = join(work, 'apps', APP_NAME);
  const dataDir = join(work, 'user-data');
  await installHelloApp(pub, '1.0', installDir, dataDir, { updateUrl: server.baseUrl });

  await launchHelloApp(installDir, dataDir);

  const events = await waitForEvents(
    dataDir,
    (ev) => ev.some((e) => e.version === '3.0' && e.event === 'up-to-date'),
    { signal: t.signal },
  );
  const starts = events.filter((e) => e.event === 'started').map((e) => e.version);
  assert.deepEqual(starts, ['1.0', '2.0', '3.0'], 'each version started once, in order');
  const found = events.filter((e) => e.event === 'update-found').map((e) => e.to);
  assert.deepEqual(found, ['2.0', '3.0'], 'stops at the required 2.0 first, skips the rc without pre');
  assert.match(events.find((e) => e.to === '2.0')!.detail!, /patch/, '1.0 -> 2.0 by patch');
  // Three different processes: the installer relaunched the app each time.
  assert.equal(new Set(events.filter((e) => e.event === 'started').map((e) => e.pid)).size, 3);

  assert.deepEqual(
    normalized(await treeDigest(installDir)),
    normalized(await treeDigest(pub.bundles.get('3.0')!)),
  );
  assert.ok((await readFile(join(dataDir, 'installer.log'), 'utf8')).length > 0, 'installer log exists');
});

test('under wine, Windows node.exe runs hello-app 1.0, installer-win swaps in 2.0 then 3.0 and relaunches it', async (t) => {
  const [nodeExe, prefix] = await Promise.all([windowsNodeExe(), winePrefix()]);
  const installDir = join(work, 'win-apps', APP_NAME);
  const dataDir = join(work, 'win-user-data');
  await installHelloApp(pub, '1.0', installDir, dataDir, { updateUrl: server.baseUrl });

  // stdout goes to a file: pipes from Windows programs under wine fail. The app sees Windows paths.
  startWine(prefix, [nodeExe, winPath(join(installDir, 'app.mjs'))], join(dataDir, 'app-output.log'), {
    HELLO_APP_DATA: winPath(dataDir),
  });

  const events = await waitForEvents(
    dataDir,
    (ev) => ev.some((e) => e.version === '3.0' && e.event === 'up-to-date'),
    { signal: t.signal },
  );
  assert.deepEqual(
    events.filter((e) => e.event === 'started').map((e) => e.version),
    ['1.0', '2.0', '3.0'],
  );
  assert.deepEqual(
    events.filter((e) => e.event === 'update-found').map((e) => e.to),
    ['2.0', '3.0'],
  );
  // File contents and types match the 3.0 bundle (Windows has no POSIX modes to compare).
  const contents = (tree: Awaited<ReturnType<typeof treeDigest>>) =>
    Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, { type: v.type, sha256: v.sha256 }]));
  assert.deepEqual(
    contents(await treeDigest(installDir)),
    contents(await treeDigest(pub.bundles.get('3.0')!)),
  );
});

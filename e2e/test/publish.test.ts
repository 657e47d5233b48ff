// `tufup publish` as a user hosts updates: to an S3-compatible server (s3rver) and to a directory nginx serves; the
// real hello-app (the client and the installer) then updates itself 1.0 → 2.0 (required) → 3.0 from there.
import assert from 'node:assert/strict';
import { copyFile, cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from '@tufup/client';
import { makeTempDir } from '@tufup/common';
import { type S3Server, startS3Server } from '../../test-support/s3-server.js';
import { startNginx } from '../support/nginx.js';
import {
  APP_NAME,
  installHelloApp,
  launchHelloApp,
  type PublishedRepo,
  publishHelloApp,
  treeDigest,
  runTufup,
  tufup,
  waitForEvents,
} from '../support/scenario.js';

let work: string;
let pub: PublishedRepo;

before(async () => {
  work = await makeTempDir('tufup-e2e-publish-');
  pub = await publishHelloApp(join(work, 'publisher'), [
    { version: '1.0' },
    { version: '2.0', required: true },
    { version: '3.0' },
  ]);
});

after(async () => {
  if (!process.env.TUFUP_E2E_KEEP) await rm(work, { recursive: true, force: true });
});

/** Installs 1.0 pointed at `updateUrl`, runs it, and waits for it to report 3.0 up to date. */
async function updatesTo3(updateUrl: string, name: string, signal: AbortSignal): Promise<void> {
  const installDir = join(work, name, APP_NAME);
  const dataDir = join(work, name, 'user-data');
  await installHelloApp(pub, '1.0', installDir, dataDir, { updateUrl });
  await launchHelloApp(installDir, dataDir);
  const events = await waitForEvents(
    dataDir,
    (ev) => ev.some((e) => e.version === '3.0' && e.event === 'up-to-date'),
    { signal },
  );
  assert.deepEqual(
    events.filter((e) => e.event === 'started').map((e) => e.version),
    ['1.0', '2.0', '3.0'],
  );
  const digest = async (dir: string) =>
    Object.fromEntries(Object.entries(await treeDigest(dir)).map(([k, v]) => [k, v.sha256 ?? v.type]));
  assert.deepEqual(await digest(installDir), await digest(pub.bundles.get('3.0') as string));
}

test('publish to s3rver; hello-app 1.0 updates itself to 3.0 reading the bucket over plain HTTP', async (t) => {
  const s3: S3Server = await startS3Server();
  try {
    const args = ['publish', `s3://${s3.bucket}/hello`, '--endpoint', s3.endpoint, '--json'];
    const r = await tufup(args, { cwd: pub.workDir, env: { ...process.env, ...s3.env } });
    const report = JSON.parse(r.stdout) as { uploaded: unknown[]; skipped: unknown[] };
    assert.equal(report.uploaded.length, 10); // 3 archives, 2 patches, 1.root, root, targets, snapshot, timestamp
    await updatesTo3(`${s3.bucketUrl}/hello`, 's3', t.signal);
  } finally {
    await s3.stop();
  }
});

test('publish to a directory served by nginx; hello-app updates from it; a re-publish copies nothing', async (t) => {
  const webRoot = join(work, 'www');
  await mkdir(webRoot);
  const r = await tufup(['publish', join(webRoot, 'updates'), '--json'], { cwd: pub.workDir }).catch(
    (e) => e,
  );
  assert.match(String(r), /REMOTE_NOT_FOUND/, 'a missing web root is not created by guesswork');
  await mkdir(join(webRoot, 'updates'));
  const first = JSON.parse(
    (await tufup(['publish', join(webRoot, 'updates'), '--json'], { cwd: pub.workDir })).stdout,
  );
  assert.equal(first.uploaded.length, 10);
  const again = JSON.parse(
    (await tufup(['publish', join(webRoot, 'updates'), '--json'], { cwd: pub.workDir })).stdout,
  );
  assert.deepEqual(again.uploaded, []);
  const nginx = await startNginx(webRoot, join(work, 'nginx'));
  try {
    await updatesTo3(`${nginx.baseUrl}/updates`, 'nginx', t.signal);
  } finally {
    await nginx.stop();
  }
});

// python tufup's layout has fixed names: while `tufup publish` uploads a new state, a client can read the old
// timestamp.json beside the new snapshot.json for a moment. Our client reads the repository again when it meets
// exactly that, so apps polling during a publish see the old or the new release and never a failure.
test('our client polling a python-layout bucket during three publishes: no failure, the old or the new release', async () => {
  const s3: S3Server = await startS3Server();
  try {
    const poll = await publishHelloApp(join(work, 'poll'), [{ version: '1.0' }]);
    const dest = `s3://${s3.bucket}/poll`;
    const env = { ...process.env, ...s3.env };
    await tufup(['publish', dest, '--endpoint', s3.endpoint], { cwd: poll.workDir, env });
    const base = `${s3.bucketUrl}/poll`;
    let checks = 0;
    const failures: string[] = [];
    // A fresh install each time: one with cached metadata would keep reading its own copies.
    const check = async (): Promise<string | undefined> => {
      const dir = join(work, 'poll-clients', String(checks++));
      await mkdir(join(dir, 'metadata'), { recursive: true });
      await copyFile(join(poll.repoDir, 'metadata', '1.root.json'), join(dir, 'metadata', 'root.json'));
      const client = new Client({
        appName: APP_NAME,
        currentVersion: '1.0',
        installDir: join(dir, 'app'),
        metadataDir: join(dir, 'metadata'),
        targetDir: join(dir, 'targets'),
        metadataBaseUrl: `${base}/metadata/`,
        targetBaseUrl: `${base}/targets/`,
        refreshRequired: true,
      });
      return (await client.checkForUpdates())?.version;
    };
    for (const [previous, version] of [
      [undefined, '2.0'],
      ['2.0', '3.0'],
      ['3.0', '4.0'],
    ] as const) {
      const bundle = join(poll.workDir, 'bundles', version);
      await cp(poll.bundles.get('1.0') as string, bundle, { recursive: true, verbatimSymlinks: true });
      await writeFile(join(bundle, `notes-${version}.txt`), `release ${version}\n`.repeat(1000));
      await tufup(['targets', 'add', version, bundle, poll.keysDir], { cwd: poll.workDir });
      let done = false;
      const publishing = runTufup(['publish', dest, '--endpoint', s3.endpoint, '--concurrency', '1'], {
        cwd: poll.workDir,
        env,
      }).finally(() => {
        done = true;
      });
      while (!done) {
        try {
          const seen = await check();
          if (seen !== previous && seen !== version)
            failures.push(`saw ${seen} during the ${version} publish`);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
      assert.equal((await publishing).code, 0);
      assert.equal(await check(), version, 'after the publish, the new release');
    }
    assert.deepEqual(failures, []);
    assert.ok(checks >= 6, `only ${checks} checks ran`);
  } finally {
    await s3.stop();
  }
});

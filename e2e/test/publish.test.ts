// `tufup publish` as a user hosts updates: to an S3-compatible server (s3rver) and to a directory nginx serves; the
// real hello-app (the client and the installer) then updates itself 1.0 → 2.0 (required) → 3.0 from there.
import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
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
async function updatesTo3(updateUrl: string, name: string): Promise<void> {
  const installDir = join(work, name, APP_NAME);
  const dataDir = join(work, name, 'user-data');
  await installHelloApp(pub, '1.0', installDir, dataDir, { updateUrl });
  await launchHelloApp(installDir, dataDir);
  const events = await waitForEvents(
    dataDir,
    (ev) => ev.some((e) => e.version === '3.0' && e.event === 'up-to-date'),
    {
      timeoutMs: 180_000,
    },
  );
  assert.deepEqual(
    events.filter((e) => e.event === 'started').map((e) => e.version),
    ['1.0', '2.0', '3.0'],
  );
  const digest = async (dir: string) =>
    Object.fromEntries(Object.entries(await treeDigest(dir)).map(([k, v]) => [k, v.sha256 ?? v.type]));
  assert.deepEqual(await digest(installDir), await digest(pub.bundles.get('3.0') as string));
}

test('publish to s3rver; hello-app 1.0 updates itself to 3.0 reading the bucket over plain HTTP', async () => {
  const s3: S3Server = await startS3Server();
  try {
    const args = ['publish', `s3://${s3.bucket}/hello`, '--endpoint', s3.endpoint, '--json'];
    const r = await tufup(args, { cwd: pub.workDir, env: { ...process.env, ...s3.env } });
    const report = JSON.parse(r.stdout) as { uploaded: unknown[]; skipped: unknown[] };
    assert.equal(report.uploaded.length, 10); // 3 archives, 2 patches, 1.root, root, targets, snapshot, timestamp
    await updatesTo3(`${s3.bucketUrl}/hello`, 's3');
  } finally {
    await s3.stop();
  }
});

test('publish to a directory served by nginx; hello-app updates from it; a re-publish copies nothing', async () => {
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
    await updatesTo3(`${nginx.baseUrl}/updates`, 'nginx');
  } finally {
    await nginx.stop();
  }
});

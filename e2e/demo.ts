// The main job for a newcomer: make three releases of hello-app with the real `tufup` CLI, `tufup publish` them to
// a local S3-compatible server (s3rver on 127.0.0.1), install 1.0, run it, and watch it update itself to 2.0 and
// then 3.0 reading the bucket over plain HTTP.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startS3Server } from '../test-support/s3-server.js';
import { endDemo, runDemo } from './support/demo.js';
import {
  APP_NAME,
  installHelloApp,
  launchHelloApp,
  publishHelloApp,
  tufup,
  waitForEvents,
} from './support/scenario.js';

const say = (line: string) => console.log(line);

async function main() {
  const work = await mkdtemp(join(tmpdir(), 'tufup-demo-'));
  say(`== tufup demo in ${work}`);
  say('== 1. publish: tufup init, then targets add 1.0, 2.0 (required), 3.0');
  const pub = await publishHelloApp(
    join(work, 'publisher'),
    [
      { version: '1.0' },
      { version: '2.0', required: true, meta: { changes: ['required security fix'] } },
      { version: '3.0', meta: { changes: ['new greeting'] } },
    ],
    { log: (l) => say(`   ${l}`) },
  );

  say(
    '== 2. tufup publish: upload the repository to a local S3-compatible server (targets first, timestamp last)',
  );
  const s3 = await startS3Server('updates');
  const server = { baseUrl: `${s3.bucketUrl}/${APP_NAME}`, kind: 's3rver', stop: s3.stop };
  try {
    const dest = `s3://${s3.bucket}/${APP_NAME}`;
    const published = await tufup(['publish', dest, '--endpoint', s3.endpoint], {
      cwd: pub.workDir,
      env: { ...process.env, ...s3.env },
    });
    say(`   tufup publish ${dest} --endpoint ${s3.endpoint}: ${published.stdout.trim()}`);
    say(`   the app's update URL: ${server.baseUrl} (metadata/ and targets/ below it)`);
    say('== 3. install hello-app 1.0 and run it');
    const installDir = join(work, 'installed', APP_NAME);
    const dataDir = join(work, 'user-data');
    await installHelloApp(pub, '1.0', installDir, dataDir, { updateUrl: server.baseUrl });
    await launchHelloApp(installDir, dataDir);
    say('== 4. the app checks, updates, hands off to the installer and is relaunched (events.log):');
    await waitForEvents(
      dataDir,
      (events) => events.some((e) => e.version === '3.0' && e.event === 'up-to-date'),
      {
        timeoutMs: 120_000,
        onEvent: (e) => say(`   [${e.version}] ${e.event}${e.detail ? `: ${e.detail}` : ''}`),
      },
    );
    say(`== done: ${APP_NAME} went 1.0 -> 2.0 (required) -> 3.0, each relaunched by the installer`);
  } finally {
    await endDemo(work, server);
  }
}

runDemo(main);

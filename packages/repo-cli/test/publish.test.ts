// `tufup publish` against a real S3-compatible server (s3rver on 127.0.0.1) through the real binary, checked by a
// real TUF client (tuf-js over HTTP, reading the bucket anonymously).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { seededRandom } from '../../../test-support/random.js';
import { type S3Server, startS3Server } from '../../../test-support/s3-server.js';
import { CONFIG_FILENAME, type PublishOptions, Repository } from '../src/index.js';
import { MULTIPART_THRESHOLD } from '../src/publish/s3.js';
import { BIN, childEnv, errorLine, makeBundle, ok, treeHash, tufup } from './helpers.js';
import { APP, clientSees, consistentRepo } from './publish-support.js';

interface Report {
  uploaded: Array<{ key: string; size: number; reason: string }>;
  skipped: string[];
  deleted: string[];
  unreferenced: Record<string, string>;
  bytesUploaded: number;
  layout: string;
}

let s3: S3Server;
before(async () => {
  s3 = await startS3Server();
  // For the in-process Repository.publish() re-runs (the SDK reads the default chain from this process's env).
  Object.assign(process.env, s3.env);
});
after(async () => {
  for (const k of Object.keys(s3.env)) delete process.env[k];
  await s3.stop();
});

/** The same publish through the API, in this process (cheaper than a child when only the outcome matters). */
async function publishInProcess(cwd: string, prefix: string, extra: Partial<PublishOptions> = {}) {
  const repo = await Repository.open(join(cwd, CONFIG_FILENAME), { cwd });
  return repo.publish({ dest: `s3://${s3.bucket}/${prefix}`, endpoint: s3.endpoint, ...extra });
}

/** `tufup publish s3://updates/<prefix> --json ...` in `cwd`; returns the report. */
async function publish(cwd: string, prefix: string, extra: string[] = []): Promise<Report> {
  const r = await ok(
    ['publish', `s3://${s3.bucket}/${prefix}`, '--endpoint', s3.endpoint, '--json', ...extra],
    {
      cwd,
      env: s3.env,
    },
  );
  return JSON.parse(r.stdout) as Report;
}

test('plain layout: publish, client reads the bucket, re-publish uploads nothing, a release uploads only what changed', async () => {
  await withTempDir(async (dir) => {
    await ok(['init', '--non-interactive', '--app-name', APP], { cwd: dir });
    for (const v of ['1.0', '2.0']) {
      await ok(['targets', 'add', v, await makeBundle(join(dir, `b${v}`), v), 'keystore'], { cwd: dir });
    }
    const first = await publish(dir, 'plain');
    assert.equal(first.layout, 'plain');
    assert.deepEqual(first.skipped, []);
    // Targets first, timestamp last, versioned roots before root.json.
    const keys = first.uploaded.map((u) => u.key);
    assert.deepEqual(keys, [
      `targets/${APP}-1.0.tar.gz`,
      `targets/${APP}-2.0.patch`,
      `targets/${APP}-2.0.tar.gz`,
      'metadata/targets.json',
      'metadata/snapshot.json',
      'metadata/1.root.json',
      'metadata/root.json',
      'metadata/timestamp.json',
    ]);
    const base = `${s3.bucketUrl}/plain`;
    const trusted = join(dir, 'repository', 'metadata', '1.root.json');
    assert.deepEqual(await clientSees(base, trusted), [
      `${APP}-1.0.tar.gz`,
      `${APP}-2.0.patch`,
      `${APP}-2.0.tar.gz`,
    ]);
    // Headers a CDN can rely on.
    const head = async (key: string) => {
      const r = await fetch(`${base}/${key}`);
      await r.arrayBuffer();
      return [r.status, r.headers.get('cache-control'), r.headers.get('content-type')];
    };
    assert.deepEqual(await head('metadata/timestamp.json'), [200, 'public, max-age=60', 'application/json']);
    assert.deepEqual(await head('metadata/targets.json'), [200, 'public, max-age=60', 'application/json']);
    assert.deepEqual(await head('metadata/1.root.json'), [
      200,
      'public, max-age=31536000, immutable',
      'application/json',
    ]);
    assert.deepEqual(await head(`targets/${APP}-2.0.tar.gz`), [
      200,
      'public, max-age=31536000, immutable',
      'application/gzip',
    ]);
    assert.deepEqual(await head(`targets/${APP}-2.0.patch`), [
      200,
      'public, max-age=31536000, immutable',
      'application/octet-stream',
    ]);

    const again = await publish(dir, 'plain');
    assert.deepEqual(again.uploaded, []);
    assert.equal(again.bytesUploaded, 0);
    assert.equal(again.skipped.length, 8);

    await ok(['targets', 'add', '3.0', await makeBundle(join(dir, 'b3.0'), '3.0'), 'keystore'], { cwd: dir });
    const third = await publish(dir, 'plain');
    assert.deepEqual(
      third.uploaded.map((u) => u.key),
      [
        `targets/${APP}-3.0.patch`,
        `targets/${APP}-3.0.tar.gz`,
        'metadata/targets.json',
        'metadata/snapshot.json',
        'metadata/timestamp.json',
      ],
    );
    assert.deepEqual(
      third.uploaded.map((u) => u.reason),
      ['new', 'new', 'changed', 'changed', 'changed'],
    );
    assert.equal((await clientSees(base, trusted)).length, 5);

    // A dry run plans, changes nothing; a changed max-age re-uploads (headers only) what carries it.
    const dry = await publish(dir, 'plain', ['--dry-run', '--cache-control-mutable', 'no-cache']);
    assert.deepEqual(
      dry.uploaded.map((u) => `${u.key} ${u.reason}`),
      [
        'metadata/targets.json',
        'metadata/snapshot.json',
        'metadata/root.json',
        'metadata/timestamp.json',
      ].map((k) => `${k} headers`),
    );
    assert.deepEqual((await publish(dir, 'plain')).uploaded, []);
  });
});

test('consistent snapshots: versioned metadata and hash-prefixed targets; prune only after the grace period', async () => {
  await withTempDir(async (dir) => {
    const repo = await consistentRepo(dir);
    await repo.release('1.0');
    const first = await publish(dir, 'cs');
    assert.equal(first.layout, 'consistent-snapshot');
    const keys = first.uploaded.map((u) => u.key);
    assert.match(keys[0] as string, new RegExp(`^targets/[0-9a-f]{64}\\.${APP}-1\\.0\\.tar\\.gz$`));
    assert.deepEqual(keys.slice(1), [
      'metadata/2.targets.json',
      'metadata/targets.json',
      'metadata/2.snapshot.json',
      'metadata/snapshot.json',
      'metadata/1.root.json',
      'metadata/root.json',
      'metadata/timestamp.json',
    ]);
    const base = `${s3.bucketUrl}/cs`;
    const trusted = join(repo.repoDir, 'metadata', '1.root.json');
    assert.deepEqual(await clientSees(base, trusted), [`${APP}-1.0.tar.gz`]);

    await repo.release('2.0');
    const second = await publish(dir, 'cs', ['--prune']);
    assert.deepEqual(second.deleted, []);
    assert.deepEqual(Object.keys(second.unreferenced).sort(), [
      'metadata/2.snapshot.json',
      'metadata/2.targets.json',
    ]);
    assert.deepEqual(await clientSees(base, trusted), [`${APP}-1.0.tar.gz`, `${APP}-2.0.tar.gz`]);
    // The grace clock started at the last publish: 0 grace deletes them now, and nothing the live state needs.
    const third = await publish(dir, 'cs', ['--prune', '--prune-grace', '0']);
    assert.deepEqual(third.deleted, ['metadata/2.snapshot.json', 'metadata/2.targets.json']);
    assert.deepEqual(
      third.uploaded.map((u) => u.key),
      ['.tufup-publish-state.json'].slice(0, 0),
    );
    assert.deepEqual(await clientSees(base, trusted), [`${APP}-1.0.tar.gz`, `${APP}-2.0.tar.gz`]);
    assert.deepEqual((await publish(dir, 'cs', ['--prune', '--prune-grace', '0'])).deleted, []);
  });
});

/** Runs `tufup publish` and SIGKILLs it: after the k-th write (hook) or after `delayMs`. */
function killedPublish(cwd: string, prefix: string, kill: { afterWrites: number } | { delayMs: number }) {
  return new Promise<{ signal: NodeJS.Signals | null; code: number | null; stderr: string }>(
    (resolve, reject) => {
      const env = childEnv({
        ...s3.env,
        ...('afterWrites' in kill ? { TUFUP_PUBLISH_KILL_AFTER: String(kill.afterWrites) } : {}),
      });
      const args = [BIN, 'publish', `s3://${s3.bucket}/${prefix}`, '--endpoint', s3.endpoint];
      args.push('--prune', '--prune-grace', '0', '--concurrency', '1');
      const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      const timer = 'delayMs' in kill ? setTimeout(() => child.kill('SIGKILL'), kill.delayMs) : undefined;
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stderr });
      });
    },
  );
}

test('SIGKILL at 50 points (after the k-th write, and at random times): the bucket serves old or new, a re-run completes', async () => {
  await withTempDir(async (dir) => {
    const repo = await consistentRepo(dir);
    await repo.release('1.0');
    await publish(dir, 'kill');
    const base = `${s3.bucketUrl}/kill`;
    const trusted = join(repo.repoDir, 'metadata', '1.root.json');
    const random = seededRandom(15);
    let expected = [`${APP}-1.0.tar.gz`];
    // A whole publish of one release is 9 writes: 1 target, 4 metadata files, timestamp, 2 deletes (--prune-grace 0
    // removes the previous N.targets.json and N.snapshot.json) and the publish state.
    const t0 = Date.now();
    let killedMidway = 0;
    for (let i = 0; i < 50; i++) {
      const version = `${i + 2}.0`;
      await repo.release(version);
      const next = [...expected, `${APP}-${version}.tar.gz`].sort();
      const kill =
        i % 2 === 0 ? { afterWrites: 1 + ((i / 2) % 9) } : { delayMs: Math.floor(random() * 1500) };
      const r = await killedPublish(dir, 'kill', kill);
      if (r.signal === 'SIGKILL') killedMidway++;
      else assert.equal(r.code, 0, r.stderr);
      const seen = await clientSees(base, trusted);
      assert.ok(
        JSON.stringify(seen) === JSON.stringify(expected) || JSON.stringify(seen) === JSON.stringify(next),
        `after kill ${JSON.stringify(kill)} the client sees ${seen.join(', ')}`,
      );
      await publishInProcess(dir, 'kill', { prune: true, pruneGraceMs: 0 });
      assert.deepEqual(await clientSees(base, trusted), next);
      expected = next;
    }
    assert.ok(killedMidway >= 25, `only ${killedMidway} of 50 runs were killed before they finished`);
    console.log(`# 50 kill rounds in ${Date.now() - t0} ms, ${killedMidway} killed mid-publish`);
  });
});

test('clients polling during publishes (consistent snapshots): no failure, each sees the old or the new state', async () => {
  await withTempDir(async (dir) => {
    const repo = await consistentRepo(dir);
    await repo.release('1.0');
    await publish(dir, 'poll');
    const base = `${s3.bucketUrl}/poll`;
    const trusted = join(repo.repoDir, 'metadata', '1.root.json');
    let checks = 0;
    let retries = 0;
    const failures: string[] = [];
    for (let round = 2; round <= 4; round++) {
      await repo.release(`${round}.0`, 256 * 1024);
      const running = publish(dir, 'poll', ['--prune', '--prune-grace', '1h', '--concurrency', '1']);
      let done = false;
      void running.then(
        () => {
          done = true;
        },
        () => {
          done = true;
        },
      );
      while (!done) {
        try {
          const seen = await clientSees(base, trusted, () => retries++);
          if (seen.length !== round - 1 && seen.length !== round) failures.push(`saw ${seen.join(',')}`);
        } catch (err) {
          failures.push((err as Error).message);
        }
        checks++;
      }
      await running;
    }
    assert.deepEqual(failures, []);
    assert.ok(checks >= 3, `only ${checks} checks ran`);
    console.log(
      `# ${checks} client checks during 3 publishes, 0 failures (${retries} retried after a dropped connection)`,
    );
  });
});

/** A port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

test('bad destinations: one-line coded errors, documented exit codes, the local repository untouched', async () => {
  await withTempDir(async (dir) => {
    await ok(['init', '--non-interactive', '--app-name', APP], { cwd: dir });
    await ok(['targets', 'add', '1.0', await makeBundle(join(dir, 'b1'), '1.0'), 'keystore'], { cwd: dir });
    const before = await treeHash(dir);
    const cases: Array<[string, string[], Record<string, string>, string, number, RegExp]> = [
      [
        'unknown scheme',
        ['ftp://host/x'],
        s3.env,
        'DEST_INVALID',
        2,
        /unknown destination scheme "ftp:\/\/"/,
      ],
      ['no bucket', ['s3://'], s3.env, 'DEST_INVALID', 2, /no bucket/],
      [
        'missing bucket',
        ['s3://no-such-bucket', '--endpoint', s3.endpoint],
        s3.env,
        'REMOTE_NOT_FOUND',
        8,
        /no-such-bucket/,
      ],
      // s3rver checks the access key id but not SigV4 signatures: a wrong key id is what it can reject.
      [
        'wrong credentials',
        [`s3://${s3.bucket}`, '--endpoint', s3.endpoint],
        { AWS_ACCESS_KEY_ID: 'NOBODY', AWS_SECRET_ACCESS_KEY: 'not-the-secret', AWS_REGION: 'us-east-1' },
        'REMOTE_ACCESS_DENIED',
        8,
        /access denied: InvalidAccessKeyId/,
      ],
      [
        'no credentials',
        [`s3://${s3.bucket}`, '--endpoint', s3.endpoint],
        { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_REGION: 'us-east-1' },
        'REMOTE_ACCESS_DENIED',
        8,
        /no AWS credentials found/,
      ],
      [
        'endpoint down',
        [`s3://${s3.bucket}`, '--endpoint', `http://127.0.0.1:${await deadPort()}`],
        s3.env,
        'REMOTE_UNREACHABLE',
        8,
        /ECONNREFUSED|connect/,
      ],
      [
        'missing directory',
        [join(dir, 'no', 'such', 'dir')],
        {},
        'REMOTE_NOT_FOUND',
        8,
        /is not a directory/,
      ],
      ['bad grace', [join(dir), '--prune-grace', '7 days'], {}, 'INVALID_ARGUMENT', 2, /--prune-grace/],
    ];
    for (const [what, args, env, code, exit, message] of cases) {
      const r = await tufup(['publish', ...args], { cwd: dir, env: { ...env, HOME: dir } });
      const line = errorLine(r.stderr);
      assert.equal(line?.code, code, `${what}: ${r.stderr}`);
      assert.equal(r.code, exit, `${what}: exit ${r.code}`);
      assert.match(line?.message ?? '', message, what);
      assert.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line, got ${r.stderr}`);
      assert.doesNotMatch(r.stderr + r.stdout, /not-the-secret/);
      assert.deepEqual(await treeHash(dir), before, `${what}: the local repository changed`);
    }
  });
});

test('plain layout: clients polling during publishes fail only by a version mismatch in the metadata window (measured)', async () => {
  await withTempDir(async (dir) => {
    await ok(['init', '--non-interactive', '--app-name', APP], { cwd: dir });
    await ok(['targets', 'add', '1.0', await makeBundle(join(dir, 'b1.0'), '1.0'), 'keystore'], { cwd: dir });
    await publish(dir, 'plainpoll');
    const base = `${s3.bucketUrl}/plainpoll`;
    const trusted = join(dir, 'repository', 'metadata', '1.root.json');
    let checks = 0;
    const failures: string[] = [];
    const windows: number[] = [];
    for (let round = 2; round <= 4; round++) {
      const v = `${round}.0`;
      await ok(['targets', 'add', v, await makeBundle(join(dir, `b${v}`), v), 'keystore'], { cwd: dir });
      const child = spawn(
        process.execPath,
        [BIN, 'publish', `s3://${s3.bucket}/plainpoll`, '--endpoint', s3.endpoint, '--concurrency', '1'],
        {
          cwd: dir,
          env: childEnv({ ...s3.env, TUFUP_PUBLISH_TRACE: '1' }),
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      // When targets.json and timestamp.json were reported written: the window of mismatching fixed names.
      const at: Record<string, number> = {};
      child.stderr.on('data', (d: Buffer) => {
        for (const m of d.toString().matchAll(/^trace: put metadata\/(targets|timestamp)\.json$/gm))
          at[m[1] as string] = performance.now();
      });
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      let done = false;
      void exited.then(() => {
        done = true;
      });
      while (!done) {
        try {
          const seen = await clientSees(base, trusted);
          if (seen.length !== 2 * round - 3 && seen.length !== 2 * round - 1)
            failures.push(`saw ${seen.join(',')}`);
        } catch (err) {
          failures.push((err as Error).message);
        }
        checks++;
      }
      assert.equal(await exited, 0);
      if (at.targets !== undefined && at.timestamp !== undefined) windows.push(at.timestamp - at.targets);
      assert.equal((await clientSees(base, trusted)).length, 2 * round - 1);
    }
    // The only failure the fixed names allow: a snapshot or targets file newer than the timestamp that names it.
    for (const f of failures)
      assert.match(f, /Snapshot version doesn't match timestamp|does not match snapshot version/);
    console.log(
      `# plain layout: ${checks} fresh-client checks during 3 publishes, ${failures.length} failed (version mismatch); targets.json → timestamp.json written ${windows.map((w) => `${w.toFixed(0)} ms`).join(', ')} apart`,
    );
  });
});

test('a target file that is not what its metadata says is refused while it streams: nothing of it lands anywhere', async () => {
  await withTempDir(async (dir) => {
    await ok(['init', '--non-interactive', '--app-name', APP], { cwd: dir });
    // 17 MiB of incompressible data: an archive above the multipart threshold, streamed in parts.
    await ok(['targets', 'add', '1.0', await makeBundle(join(dir, 'b1.0'), '1.0', 17 << 20), 'keystore'], {
      cwd: dir,
    });
    const archive = join(dir, 'repository', 'targets', `${APP}-1.0.tar.gz`);
    const bytes = await readFile(archive);
    bytes[bytes.length - 10] = (bytes[bytes.length - 10] as number) ^ 0xff; // same size, other bytes
    await writeFile(archive, bytes);
    const www = join(dir, 'www');
    await mkdir(www);
    assert.ok(bytes.length >= MULTIPART_THRESHOLD);
    for (const dest of [[`s3://${s3.bucket}/corrupt`, '--endpoint', s3.endpoint], [www]]) {
      const r = await tufup(['publish', ...dest], { cwd: dir, env: s3.env });
      assert.equal(errorLine(r.stderr)?.code, 'HASH_MISMATCH', r.stderr);
      assert.equal(r.code, 3);
    }
    for (const key of [`targets/${APP}-1.0.tar.gz`, 'metadata/timestamp.json']) {
      assert.equal((await fetch(`${s3.bucketUrl}/corrupt/${key}`)).status, 404, key);
    }
    assert.deepEqual(await readdir(join(www, 'targets')), []);
  });
});

test('a destination with a newer timestamp, or with another repository history, is refused and left as it is', async () => {
  await withTempDir(async (dir) => {
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    await mkdir(a);
    await mkdir(b);
    await ok(['init', '--non-interactive', '--app-name', APP], { cwd: a });
    await ok(['init', '--non-interactive', '--app-name', APP], { cwd: b });
    const older = join(dir, 'a-older');
    await cp(a, older, { recursive: true });
    await ok(['sign', 'timestamp', '-e', '1', 'keystore'], { cwd: a });
    await publish(a, 'guard');
    const served = async () => (await fetch(`${s3.bucketUrl}/guard/metadata/timestamp.json`)).text();
    const before = await served();
    const refused = async (cwd: string, code: string) => {
      const r = await tufup(['publish', `s3://${s3.bucket}/guard`, '--endpoint', s3.endpoint], {
        cwd,
        env: s3.env,
      });
      assert.equal(errorLine(r.stderr)?.code, code, r.stderr);
      assert.equal(r.code, 8);
      assert.equal(await served(), before);
    };
    // The same repository one timestamp behind: publishing it would roll clients back.
    await refused(older, 'REMOTE_NEWER');
    // Another repository (other keys, so another 1.root.json) at the same timestamp version.
    await ok(['sign', 'timestamp', '-e', '1', 'keystore'], { cwd: b });
    await refused(b, 'REMOTE_CONFLICT');
  });
});

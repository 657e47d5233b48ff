// The root README's "Release pipeline" workflows, their `tufup` steps run as written (with the built CLI on PATH
// and the secrets' keys copied from a keystore `tufup init` made): a release job twice, then the timestamp job.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { withTempDir } from '@tufup/common';
import { REPO_ROOT } from '../support/packing.js';

const run = promisify(execFile);

/** The `npx tufup ...` run steps of each YAML block in the README's "Release pipeline" section, in order. */
async function workflowSteps(): Promise<string[][]> {
  const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = /^## Release pipeline\n([\s\S]*?)^## /m.exec(readme)?.[1];
  assert.ok(section, 'README has a "Release pipeline" section');
  const blocks = [...section.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1] as string);
  return blocks.map((yaml) =>
    // In the app's project `npx tufup` runs its node_modules/.bin/tufup; here that dir is put on PATH instead
    // (a plain `npx tufup` outside a project would ask the registry for a package named tufup).
    [...yaml.matchAll(/^\s*- run: npx (tufup .*?)(?:\s+#.*)?$/gm)].map((m) => m[1] as string),
  );
}

interface Role {
  signed: { version: number; expires: string };
}

test('README release pipeline: the release job adds 1.0 and 2.0, the timestamp job re-signs the timestamp', async () => {
  const [release = [], timestamp = []] = await workflowSteps();
  assert.ok(
    release.some((s) => s.includes('targets add')),
    `release steps: ${release}`,
  );
  assert.ok(
    timestamp.some((s) => s.includes('sign timestamp')),
    `timestamp steps: ${timestamp}`,
  );

  await withTempDir(async (dir) => {
    // The workflows publish to "$TUFUP_DEST": here a directory, as for a web server (the S3 path is tested in
    // packages/repo-cli/test/publish.test.ts).
    const published = join(dir, 'www');
    await mkdir(published);
    const env = {
      ...process.env,
      TUFUP_DEST: published,
      PATH: `${join(REPO_ROOT, 'node_modules', '.bin')}${delimiter}${process.env.PATH}`,
    };
    const sh = async (line: string, extra: Record<string, string> = {}) => {
      try {
        return await run('bash', ['-c', line], { cwd: dir, env: { ...env, ...extra } });
      } catch (err) {
        const e = err as { stdout?: string; stderr?: string };
        assert.fail(`${line} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
      }
    };
    // What the workflows assume exists: the repository and its config, the keys held as secrets, the app's build.
    await sh('tufup init --non-interactive --app-name my_app');
    await mkdir(join(dir, 'online-keys'), { mode: 0o700 });
    for (const role of ['targets', 'snapshot', 'timestamp']) {
      await copyFile(join(dir, 'keystore', role), join(dir, 'online-keys', role));
    }
    const bundle = join(dir, 'dist', 'my_app');
    await mkdir(bundle, { recursive: true });
    const meta = join(dir, 'repository', 'metadata');
    const role = async (name: string) =>
      JSON.parse(await readFile(join(meta, `${name}.json`), 'utf8')) as Role;

    for (const version of ['1.0', '2.0']) {
      await writeFile(join(bundle, 'app.js'), `console.log('my_app ${version}');\n${'x'.repeat(4096)}\n`);
      for (const step of release) await sh(step, { GITHUB_REF_NAME: `v${version}` });
    }
    const targets = JSON.parse(await readFile(join(meta, 'targets.json'), 'utf8')) as {
      signed: { targets: Record<string, unknown> };
    };
    assert.deepEqual(
      await readFile(join(published, 'metadata', 'timestamp.json')),
      await readFile(join(meta, 'timestamp.json')),
      'the release job published its state',
    );
    assert.deepEqual(Object.keys(targets.signed.targets).sort(), [
      'my_app-1.0.tar.gz',
      'my_app-2.0.patch',
      'my_app-2.0.tar.gz',
    ]);

    // The timestamp job holds only the timestamp key.
    for (const r of ['targets', 'snapshot']) await run('rm', [join(dir, 'online-keys', r)]);
    const before = {
      timestamp: await role('timestamp'),
      snapshot: await readFile(join(meta, 'snapshot.json')),
    };
    const started = Date.now();
    for (const step of timestamp) await sh(step);
    const after = await role('timestamp');
    assert.equal(after.signed.version, before.timestamp.signed.version + 1);
    const expires = Date.parse(after.signed.expires);
    // `-e 1`: one day from when the job ran (expiry has whole seconds).
    assert.ok(
      expires >= started - 1000 + 86_400_000 && expires <= Date.now() + 86_400_000,
      after.signed.expires,
    );
    assert.deepEqual(
      await readFile(join(meta, 'snapshot.json')),
      before.snapshot,
      'only timestamp.json changed',
    );
    assert.deepEqual(
      await readFile(join(published, 'metadata', 'timestamp.json')),
      await readFile(join(meta, 'timestamp.json')),
      'the timestamp job published the new timestamp',
    );
  });
});

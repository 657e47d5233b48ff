// The fleet commands on a plain repository: promote, rollout, yank and unyank re-sign targets metadata only,
// return to the exact bytes of the defaults, show in `targets list`, and refuse the last installable release.
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { makeBundle, ok, tufup } from './helpers.js';

type Targets = { signed: { targets: Record<string, { custom: unknown }> } };

test('promote, rollout, yank, unyank: signed custom fields only, defaults stored as absence, shown by list', async () => {
  await withTempDir(async (tmp) => {
    const dir = join(tmp, 'repo');
    await mkdir(dir);
    await ok(['init', '--non-interactive', '--app-name', 'my_app'], { cwd: dir });
    for (const [i, v] of ['1.0', '2.0'].entries()) {
      await makeBundle(join(dir, `b${i}`), v, 4096);
      await ok(['targets', 'add', v, `b${i}`, 'keystore'], { cwd: dir });
    }
    const targetsPath = join(dir, 'repository', 'metadata', 'targets.json');
    const customs = async () =>
      Object.fromEntries(
        Object.entries((JSON.parse(await readFile(targetsPath, 'utf8')) as Targets).signed.targets).map(
          ([k, v]) => [k, v.custom],
        ),
      );
    const original = await customs();
    const files = await readdir(join(dir, 'repository', 'targets'));

    await ok(['targets', 'promote', '2.0', 'beta', 'keystore'], { cwd: dir });
    await ok(['rollout', '2.0', '--percent', '25', 'keystore'], { cwd: dir });
    await ok(['targets', 'yank', '2.0', '--reason', 'bad build', 'keystore'], { cwd: dir });
    assert.deepEqual((await customs())['my_app-2.0.tar.gz'], {
      user: null,
      tufup: {
        required: false,
        channel: 'beta',
        rollout_percent: 25,
        yanked: true,
        yank_reason: 'bad build',
      },
    });
    const list = JSON.parse((await ok(['targets', 'list', '--json'], { cwd: dir })).stdout) as Array<{
      releases: Array<{ version: string; channel?: string; rolloutPercent?: number; yanked?: boolean }>;
    }>;
    const r2 = list[0]!.releases.find((r) => r.version === '2.0')!;
    assert.deepEqual([r2.channel, r2.rolloutPercent, r2.yanked], ['beta', 25, true]);
    const text = (await ok(['targets', 'list'], { cwd: dir })).stdout;
    assert.match(text, /2\.0.*channel beta, rollout 25 %, yanked: bad build/);
    // 1.0 is now the only installable release: yanking it is refused
    const only = await tufup(['targets', 'yank', '1.0', 'keystore'], { cwd: dir });
    assert.equal(only.code, 5);
    assert.match(only.stderr, /\[ONLY_RELEASE\]/);

    await ok(['targets', 'unyank', '2.0', 'keystore'], { cwd: dir });
    await ok(['rollout', '2.0', '--percent', '100', 'keystore'], { cwd: dir });
    const json = await ok(['targets', 'promote', '2.0', 'stable', 'keystore', '--json'], { cwd: dir });
    const doc = JSON.parse(json.stdout) as {
      ok: boolean;
      command: string;
      published: Array<{ role: string }>;
    };
    assert.equal(doc.command, 'targets promote');
    assert.deepEqual(
      doc.published.map((p) => p.role),
      ['targets', 'snapshot', 'timestamp'],
    );
    // back to exactly python tufup's custom fields, and no target file was added or removed
    assert.deepEqual(await customs(), original);
    assert.deepEqual(await readdir(join(dir, 'repository', 'targets')), files);
    const verify = await tufup(['verify'], { cwd: dir });
    assert.equal(verify.code, 0, verify.stderr);

    // a release can start as a staged rollout in one step; a bad percentage changes nothing
    await makeBundle(join(dir, 'b3'), '3.0', 4096);
    const before = await readFile(targetsPath);
    const bad = await tufup(['targets', 'add', '3.0', 'b3', 'keystore', '--rollout', '150'], { cwd: dir });
    assert.equal(bad.code, 5);
    assert.match(bad.stderr, /\[INVALID_ROLLOUT\].*--rollout/);
    assert.deepEqual(await readFile(targetsPath), before);
    await ok(['targets', 'add', '3.0', 'b3', 'keystore', '--rollout', '5', '--channel', 'beta'], {
      cwd: dir,
    });
    assert.deepEqual((await customs())['my_app-3.0.tar.gz'], {
      user: null,
      tufup: { required: false, channel: 'beta', rollout_percent: 5 },
    });
  });
});

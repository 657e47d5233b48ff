// Acceptance under wine: the Windows node.exe runs an app that calls the installer; wscript.exe runs the script.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, link, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createArchive, extractArchive } from '@tufup/archive';
import { makeTempDir } from '@tufup/common';
import {
  type CaseOptions,
  type InstallCase,
  KILL_TARGETS,
  type KillTarget,
  killOffset,
  killRun,
  prepareCase,
  readLog,
  readReport,
  readTree,
  runRecover,
  startApp,
  waitCaseIdle,
  waitFor,
  type WineContext,
  wineContext,
} from './support/harness.js';
import { startWine, type WineRun, winPath } from './support/wine.js';

/** The character classes the issue names; each goes into the install dir, the staged dir and the relaunch args. */
const CLASSES: Array<[string, string]> = [
  ['spaces', 'a b  c'],
  ['ampersands', 'a&b&&c'],
  ['carets', 'a^b^^c'],
  ['percent signs', '100% %PATH% %OS%'],
  ['exclamation marks', 'hey!PATH!x!'],
  ['parentheses', 'x (86) (y'],
  ['non-ASCII letters', 'Prøgrämm 日本 😀 Привет'],
];
/** Quotes cannot be in Windows file names; they go into the arguments. */
const ARG_EXTRAS = ['say "hi"', '"', 'tail\\', 'a\\"b', ''];

let ctx: WineContext;
let parent: string;

async function install(c: InstallCase, expectVersion: string, started?: WineRun, timeoutMs = 180_000) {
  const app = started ?? startApp(c);
  const report = await waitFor(
    `the relaunched app to report version ${expectVersion}`,
    async () => {
      const r = await readReport(c);
      if (r.some((l) => l.event === 'error')) return r;
      return r.filter((l) => l.event === 'started').length >= 2 ? r : undefined;
    },
    timeoutMs,
  ).catch(async (err) => {
    throw new Error(
      `${(err as Error).message}\nreport: ${JSON.stringify(await readReport(c))}\nlog:\n${await readLog(c)}`,
    );
  });
  await app.exited;
  await waitCaseIdle(c, 60_000);
  const errors = report.filter((l) => l.event === 'error');
  assert.deepEqual(errors, [], 'the app reported an error');
  const relaunched = report.filter((l) => l.event === 'started')[1];
  assert.equal(relaunched?.version, expectVersion, `relaunched version; log:\n${await readLog(c)}`);
  return { report, relaunched, log: await readLog(c), tree: await readTree(c.dstDir) };
}

async function assertCleanAfterSwap(c: InstallCase): Promise<void> {
  assert.ok(!existsSync(c.srcDir), 'the staged dir was moved in');
  const state = existsSync(c.stateDir) ? await readdir(c.stateDir) : [];
  assert.deepEqual(
    state.filter((n) => n !== 'recover.lock'),
    [],
    'no backup, journal or guard is left',
  );
  assert.deepEqual(await readdir(c.scriptParent), [], 'the script deleted its private dir');
}

describe('installer-win under wine', { concurrency: 6, timeout: 600_000 }, () => {
  // A missing wine (or node.exe) must fail every test with its message, not cancel them.
  let setupError: unknown;
  before(async () => {
    try {
      ctx = await wineContext();
      parent = await makeTempDir('tufup-win-e2e-');
    } catch (err) {
      setupError = err;
    }
  });
  const it = (name: string, fn: () => Promise<void>) =>
    test(name, async () => {
      if (setupError) throw setupError;
      await fn();
    });
  after(async () => {
    if (parent && !process.env.TUFUP_KEEP_WINE_CASES) await rm(parent, { recursive: true, force: true });
  });

  for (const [cls, chars] of CLASSES) {
    it(`swaps, relaunches with exact arguments and keeps the log outside when paths contain ${cls}`, async () => {
      const relaunchArgs = [chars, `--name=${chars}`, ...ARG_EXTRAS];
      const c = await prepareCase(ctx, parent, {
        name: `case ${chars}`,
        appDirName: `App ${chars}`,
        relaunchArgs,
      });
      const { relaunched, log, tree } = await install(c, '2.0');
      assert.deepEqual(relaunched?.argv, relaunchArgs);
      assert.deepEqual(tree, c.expectedNew);
      assert.match(log, /finished: swapped/);
      await assertCleanAfterSwap(c);
    });
  }

  it("a version staged as the client stages it (archive extracted into a 0700 dir) lands with the install dir's 755", async () => {
    const c = await prepareCase(ctx, parent, { name: 'mode case' });
    await chmod(c.dstDir, 0o755);
    // Windows has no mode bits; under wine the renames keep the Unix mode of the staged dir, which the
    // archive's root member gives it (it used to stay mkdtemp's 0700).
    const bundle = join(c.root, 'bundle-2.0');
    await rename(c.srcDir, bundle);
    await createArchive(bundle, join(c.root, 'app-2.0.tar.gz'));
    await mkdir(c.srcDir, { mode: 0o700 });
    await chmod(c.srcDir, 0o700);
    await extractArchive(join(c.root, 'app-2.0.tar.gz'), c.srcDir);
    const { tree } = await install(c, '2.0');
    assert.deepEqual(tree, c.expectedNew);
    assert.equal((await stat(c.dstDir)).mode & 0o777, 0o755);
    await assertCleanAfterSwap(c);
  });

  it('keeps preserved files and folders, and starts a relaunch command whose folder has every class at once', async () => {
    const all = ' &^%PATH%!()é日😀';
    const opts: CaseOptions = {
      name: `all${all}`,
      appDirName: `App${all}`,
      oldFiles: {
        'settings.json': '{"theme":"dark"}',
        [`user data${all}/db.sqlite`]: 'rows',
        [`user data${all}/sub/deep.txt`]: 'deep',
        'config/local.ini': 'old local',
      },
      newFiles: {
        'settings.json': '{"theme":"default"}',
        'config/local.ini': 'new default',
        'config/base.ini': 'base',
      },
      relaunchArgs: [all, ...ARG_EXTRAS],
      options: { preserve: ['settings.json', `user data${all}`, 'config/local.ini', 'not/there.txt'] },
    };
    const c = await prepareCase(ctx, parent, opts);
    // The relaunch command itself in a hostile folder (a hard link to node.exe, or a copy across file systems).
    const binDir = join(c.root, `bin${all}`);
    await mkdir(binDir);
    await link(ctx.nodeExe, join(binDir, 'node.exe')).catch(async () => {
      const { copyFile } = await import('node:fs/promises');
      await copyFile(ctx.nodeExe, join(binDir, 'node.exe'));
    });
    const config = JSON.parse(await readFile(c.configFile, 'utf8'));
    config.install.request.relaunch.command = winPath(join(binDir, 'node.exe'));
    await writeFile(c.configFile, JSON.stringify(config));
    const { relaunched, tree, log } = await install(c, '2.0');
    assert.deepEqual(tree, c.expectedNew);
    assert.equal(tree['settings.json'], c.expectedOld['settings.json']);
    assert.equal(tree[`user data${all}/sub/deep.txt`], c.expectedOld[`user data${all}/sub/deep.txt`]);
    assert.equal(tree['config/local.ini'], c.expectedOld['config/local.ini']);
    assert.ok(tree['config/base.ini'], 'new files next to a preserved one stay');
    assert.ok(!('only-old.txt' in tree), 'files only in the old version are gone (purge)');
    assert.match(log, /preserve "not\\there.txt": not in the old version/);
    assert.deepEqual(relaunched?.argv, [all, ...ARG_EXTRAS]);
    await assertCleanAfterSwap(c);
  });

  /** A wine node process that holds dstDir (current dir + unshared open file) until `release()` is called. */
  async function holdInstallDir(c: InstallCase) {
    const marker = join(c.root, 'holder.pid');
    const releaseFile = join(c.root, 'holder.release');
    const holder = startWine(
      ctx.prefix,
      [
        ctx.nodeExe,
        winPath(join(import.meta.dirname, 'support', 'win-holder.mjs')),
        winPath(c.dstDir),
        'lib\\core.js',
        winPath(marker),
        winPath(releaseFile),
        '180000',
      ],
      join(c.root, 'wine-holder.out'),
    );
    await waitFor('the holder to hold', async () => (existsSync(marker) ? true : undefined), 90_000);
    return {
      release: async () => {
        await writeFile(releaseFile, 'go');
        await holder.exited;
      },
    };
  }
  const logShows = (c: InstallCase, re: RegExp) =>
    waitFor(
      `the log to show ${re}`,
      async () => {
        const failed = (await readReport(c)).find((l) => l.event === 'error');
        if (failed) throw new Error(`the app failed: ${failed.code} ${failed.message}`);
        return re.test(await readLog(c)) ? true : undefined;
      },
      120_000,
    );

  it('retries while another process holds the install dir and swaps once it lets go', async () => {
    const c = await prepareCase(ctx, parent, {
      name: 'locked-then-free',
      options: { lockRetryTimeoutMs: 120_000 },
    });
    const holder = await holdInstallDir(c);
    const app = startApp(c);
    try {
      await logShows(c, /move the old version aside: attempt 2 failed/);
    } finally {
      await holder.release();
    }
    const { tree, log } = await install(c, '2.0', app);
    assert.match(log, /move the old version aside: attempt 1 failed/);
    assert.match(log, /move the old version aside: done on attempt \d+/);
    assert.deepEqual(tree, c.expectedNew);
    await assertCleanAfterSwap(c);
  });

  it('gives up when the install dir stays locked: old version untouched and started again', async () => {
    const c = await prepareCase(ctx, parent, {
      name: 'locked-for-good',
      options: { lockRetryTimeoutMs: 3000 },
    });
    const holder = await holdInstallDir(c);
    const app = startApp(c);
    try {
      await logShows(c, /finished: failed/);
    } finally {
      await holder.release();
    }
    const { tree, log } = await install(c, '1.0', app);
    assert.match(log, /move the old version aside: giving up/);
    assert.match(log, /the old version is untouched/);
    assert.deepEqual(tree, c.expectedOld);
    assert.ok(!existsSync(c.srcDir), 'the staged copy was dropped');
    assert.deepEqual(await runRecover(c), { outcome: 'clean' });
  });

  it('changes nothing when the app does not exit in time', async () => {
    const c = await prepareCase(ctx, parent, { name: 'no-exit', options: { waitTimeoutMs: 2000 } });
    const letGo = join(c.root, 'app.exit');
    const config = JSON.parse(await readFile(c.configFile, 'utf8'));
    config.install.holdUntil = winPath(letGo);
    await writeFile(c.configFile, JSON.stringify(config));
    const stagedBefore = await readTree(c.srcDir);
    const app = startApp(c);
    try {
      await logShows(c, /the app did not exit within 2000 ms; nothing was changed/);
    } finally {
      await writeFile(letGo, 'bye');
    }
    await app.exited;
    await waitCaseIdle(c, 120_000);
    assert.equal((await readReport(c)).filter((l) => l.event === 'started').length, 1, 'no relaunch');
    assert.deepEqual(await readTree(c.dstDir), c.expectedOld);
    assert.deepEqual(await readTree(c.srcDir), stagedBefore);
  });

  it("runs the swap through the administrator prompt with elevate: 'always' and relaunches unelevated", async () => {
    const c = await prepareCase(ctx, parent, { name: 'elevated', options: { elevate: 'always' } });
    const { tree, log, relaunched } = await install(c, '2.0');
    assert.match(log, /\[outer\] asking for administrator rights/);
    assert.match(log, /\[inner\] installed myapp 2\.0/);
    assert.match(log, /\[outer\] the elevated step reports: swapped/);
    assert.match(log, /\[outer\] relaunched/);
    assert.equal(relaunched?.version, '2.0');
    assert.deepEqual(tree, c.expectedNew);
    await assertCleanAfterSwap(c);
  });

  it('recover() answers busy while a script swaps, and the swap still completes', async () => {
    // A template hook holds the script right after the swap (guard held) until the test lets it go.
    const template = [
      '/*@tufup-library@*/',
      'tufup.hooks.afterSwap = function () {',
      '  tufup.log("held after the swap");',
      '  while (!tufup.fso.FileExists(tufup.extra.gate)) tufup.sleep(500);',
      '};',
      'tufup.main();',
    ].join('\r\n');
    const c = await prepareCase(ctx, parent, { name: 'busy', options: { scriptTemplate: template } });
    const gate = join(c.root, 'gate');
    const config = JSON.parse(await readFile(c.configFile, 'utf8'));
    config.install.options.scriptData = { gate: winPath(gate) };
    await writeFile(c.configFile, JSON.stringify(config));
    const app = startApp(c);
    try {
      await logShows(c, /held after the swap/);
      assert.equal((await runRecover(c)).outcome, 'busy');
    } finally {
      await writeFile(gate, 'go');
    }
    const { tree } = await install(c, '2.0', app);
    assert.deepEqual(tree, c.expectedNew);
    await assertCleanAfterSwap(c);
  });

  it('runs a custom script template with its own data', async () => {
    const greeting = 'hello & 100% (ok)! "quoted" é';
    const template = [
      '// a custom install script',
      '/*@tufup-library@*/',
      'tufup.hooks.beforeSwap = function () { tufup.log("custom before: " + tufup.extra.greeting); };',
      'tufup.hooks.afterSwap = function () { tufup.log("custom after: " + tufup.request.version); };',
      'tufup.main();',
    ].join('\r\n');
    const c = await prepareCase(ctx, parent, {
      name: 'template',
      options: { scriptTemplate: template, scriptData: { greeting } },
    });
    const { tree, log } = await install(c, '2.0');
    assert.ok(log.includes(`custom before: ${greeting}`), log);
    assert.match(log, /custom after: 2\.0/);
    assert.deepEqual(tree, c.expectedNew);
  });
  // Crash safety: kills spread over the script's life (waiting for the app, journal, preserve copies, both
  // renames, relaunch, cleanup); after recover() the install dir must be exactly one of the two trees.
  const kills = Number(process.env.TUFUP_WINE_KILLS ?? 10);
  for (let i = 0; i < kills; i++) {
    const target = KILL_TARGETS[i % KILL_TARGETS.length] as KillTarget;
    const offsetMs = killOffset(target);
    it(`leaves exactly the old or the new tree after a kill at ${target} +${offsetMs} ms and recover()`, async () => {
      let run = await killRun(ctx, parent, `kill ${i} &%!(`, target, offsetMs);
      // A fast machine can finish the script before a late kill: then try again, earlier in the window.
      for (let retry = 1; run.scripts === 0 && retry <= 2; retry++) {
        run = await killRun(
          ctx,
          parent,
          `kill ${i}.${retry} &%!(`,
          target,
          Math.round(offsetMs / 2 ** retry),
        );
      }
      assert.ok(
        run.scripts > 0,
        `the script had already finished (${target} +${run.offsetMs} ms, after retries): nothing was killed`,
      );
      assert.ok(['clean', 'completed', 'rolled-back'].includes(run.recover), `recover: ${run.recover}`);
      assert.notEqual(run.result, 'neither', `kill at ${run.position}: the install dir is neither tree`);
    });
  }
});

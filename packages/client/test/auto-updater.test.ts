// AutoUpdater against a real HTTP server: events in order, periodic checks on an injected clock, cancel and resume, install on quit.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { InstallRequest } from '@tufup/common';
import {
  AutoUpdater,
  type AutoUpdaterOptions,
  type DownloadProgress,
  type UpdaterClock,
} from '../src/index.js';
import { type AppDirs, makeClient, renameInstaller, treeOf } from './support/app.js';
import type { TestRepo } from './support/repo.js';
import { ServedReleases } from './support/served.js';
import { TestServer } from './support/server.js';

const APP = 'bg_app';
const QUIT_APP = fileURLToPath(new URL('./support/quit-app.ts', import.meta.url));

/** Timers the test fires by hand; `now` is real time (for bytesPerSecond). */
class ManualClock implements UpdaterClock {
  readonly pending = new Map<number, { fn: () => void; ms: number }>();
  #next = 1;
  #waiting: (() => void) | undefined;

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.pending.set(id, { fn, ms });
    this.#waiting?.();
    this.#waiting = undefined;
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  now(): number {
    return performance.now();
  }

  /** Resolves once a timer is pending (at once if one is). */
  async scheduled(): Promise<{ fn: () => void; ms: number }> {
    if (this.pending.size === 0) await new Promise<void>((resolve) => (this.#waiting = resolve));
    return [...this.pending.values()][0]!;
  }

  /** Run the pending timer as if its time had come. */
  fire(): void {
    const [id, timer] = [...this.pending][0]!;
    this.pending.delete(id);
    timer.fn();
  }
}

describe('AutoUpdater', () => {
  let served: ServedReleases;
  let repo: TestRepo;
  let server: TestServer;
  let bundles: Record<string, string>;
  const installed = (version: string) => served.freshInstall(version);

  before(async () => {
    served = await ServedReleases.start(APP, ['1.0', '2.0'], {
      user: (v: string) => ({ notes: `release ${v}` }),
    });
    ({ repo, server, bundles } = served);
  });

  after(() => served.close());

  function updater(dirs: AppDirs, version: string, opts: Partial<AutoUpdaterOptions> = {}): AutoUpdater {
    return new AutoUpdater({
      client: makeClient(dirs, server.url, APP, version),
      install: renameInstaller(),
      ...opts,
    });
  }

  /** Every event's name (and download-progress payloads) in emission order. */
  function record(u: AutoUpdater): { names: string[]; progress: DownloadProgress[]; errors: Error[] } {
    const out = { names: [] as string[], progress: [] as DownloadProgress[], errors: [] as Error[] };
    u.on('checking-for-update', () => out.names.push('checking-for-update'));
    u.on('update-available', () => out.names.push('update-available'));
    u.on('update-not-available', () => out.names.push('update-not-available'));
    u.on('download-progress', (p) => {
      if (out.names.at(-1) !== 'download-progress') out.names.push('download-progress');
      out.progress.push(p);
    });
    u.on('update-downloaded', () => out.names.push('update-downloaded'));
    u.on('error', (e) => {
      out.names.push('error');
      out.errors.push(e);
    });
    return out;
  }

  it('checks at start, downloads with monotonic progress, then checks again when the jittered timer fires', async () => {
    const dirs = await installed('1.0');
    const clock = new ManualClock();
    const hour = 3600_000;
    const u = updater(dirs, '1.0', {
      check: { patch: false }, // the 2 MB archive, so progress has steps
      clock,
      intervalMs: hour,
      jitter: 0.2,
      random: () => 0.75, // → 1 + 0.2 × 0.5
    });
    const seen = record(u);
    const archive = `${APP}-2.0.tar.gz`;
    server.failNext(`/targets/${archive}`, { kind: 'drip', bytes: 64 * 1024, intervalMs: 15 });
    u.start();
    const [downloaded] = await once(u, 'update-downloaded');
    assert.equal(downloaded.info.version, '2.0');
    assert.deepEqual(downloaded.info.custom, { notes: 'release 2.0' });
    assert.deepEqual(seen.names, [
      'checking-for-update',
      'update-available',
      'download-progress',
      'update-downloaded',
    ]);
    const total = (await stat(join(repo.targetsDir, archive))).size;
    assert.ok(seen.progress.length >= 3, `${seen.progress.length} progress events`);
    for (let i = 1; i < seen.progress.length; i++) {
      const [a, b] = [seen.progress[i - 1]!, seen.progress[i]!];
      assert.ok(b.transferred >= a.transferred && b.percent >= a.percent, 'progress went back');
    }
    for (const p of seen.progress) {
      assert.equal(p.total, total);
      assert.ok(p.bytesPerSecond >= 0 && Number.isFinite(p.bytesPerSecond));
    }
    assert.deepEqual(
      { transferred: seen.progress.at(-1)!.transferred, percent: seen.progress.at(-1)!.percent },
      { transferred: total, percent: 100 },
    );
    assert.ok(seen.progress.some((p) => p.bytesPerSecond > 0));
    // Staged beside the install dir, not handed off: the install dir still holds 1.0.
    assert.deepEqual(await treeOf(downloaded.stagingDir), await treeOf(bundles['2.0']!));
    assert.deepEqual(await treeOf(dirs.installDir), await treeOf(bundles['1.0']!));

    // The next check waits intervalMs × (1 + jitter × (2 × 0.75 − 1)).
    const next = await clock.scheduled();
    assert.equal(next.ms, Math.round(hour * 1.1));
    const requests = server.requests.length;
    seen.names.length = 0;
    clock.fire();
    await once(u, 'update-downloaded');
    // Found again and already staged: nothing downloaded a second time.
    assert.deepEqual(seen.names, ['checking-for-update', 'update-available', 'update-downloaded']);
    assert.deepEqual(
      server.requests.slice(requests).filter((r) => r.path.startsWith('/targets/')),
      [],
    );
    await clock.scheduled();
    u.stop();
    assert.equal(clock.pending.size, 0, 'stop() clears the timer');
    await rm(downloaded.stagingDir, { recursive: true, force: true });
  });

  it('says update-not-available when up to date, and error (not "up to date") when the server is unreachable', async () => {
    const dirs = await installed('2.0');
    const upToDate = updater(dirs, '2.0', { clock: new ManualClock() });
    const seen = record(upToDate);
    assert.equal(await upToDate.checkForUpdates(), undefined);
    assert.deepEqual(seen.names, ['checking-for-update', 'update-not-available']);

    const gone = await TestServer.start(served.tmp);
    const deadUrl = gone.url;
    await gone.close();
    const offline = new AutoUpdater({
      client: makeClient(dirs, deadUrl, APP, '2.0', { fetcherOptions: { retries: 1 } }),
      install: renameInstaller(),
    });
    const seenOffline = record(offline);
    await assert.rejects(offline.checkForUpdates(), { code: 'NETWORK_ERROR' });
    assert.deepEqual(seenOffline.names, ['checking-for-update', 'error']);
    assert.equal((seenOffline.errors[0] as { code?: string }).code, 'NETWORK_ERROR');
  });

  it('a download cancelled with an AbortSignal resumes later from its partial file', async () => {
    const dirs = await installed('1.0');
    const installs: InstallRequest[] = [];
    const quits: number[] = [];
    const u = updater(dirs, '1.0', {
      check: { patch: false },
      autoDownload: false,
      install: renameInstaller(installs),
      quit: () => {
        quits.push(1);
      },
      relaunch: false,
    });
    const seen = record(u);
    const info = await u.checkForUpdates();
    assert.equal(info?.version, '2.0');
    assert.deepEqual(seen.names, ['checking-for-update', 'update-available']);
    const archive = `/targets/${APP}-2.0.tar.gz`;
    server.failNext(archive, { kind: 'drip', bytes: 64 * 1024, intervalMs: 15 });
    const controller = new AbortController();
    u.on('download-progress', (p) => {
      if (p.transferred > 0 && p.transferred < p.total) controller.abort();
    });
    const first = server.requestsFor(archive).length;
    await assert.rejects(u.downloadUpdate({ signal: controller.signal }), { name: 'AbortError' });
    assert.ok(!seen.names.includes('error'), 'an abort is not an error event');
    const partials = (await readdir(dirs.targetDir)).filter((f) => f.endsWith('.partial'));
    assert.equal(partials.length, 1);
    const kept = (await stat(join(dirs.targetDir, partials[0]!))).size;
    assert.ok(kept > 0 && kept < info.archive.length, `partial of ${kept} bytes`);

    seen.progress.length = 0;
    const update = await u.downloadUpdate();
    const requests = server.requestsFor(archive).slice(first);
    assert.equal(requests.length, 2);
    assert.equal(requests[0]!.range, undefined);
    assert.equal(requests[1]!.range, `bytes=${kept}-`);
    assert.equal(requests[1]!.status, 206);
    // Resumed bytes count as transferred from the start, and only new bytes towards the speed.
    assert.ok(seen.progress[0]!.transferred >= kept);
    assert.equal(seen.progress.at(-1)!.transferred, info.archive.length);
    assert.equal(update.result.mode, 'full');
    assert.deepEqual(await readdir(dirs.targetDir), [`${APP}-2.0.tar.gz`]);

    // quitAndInstall hands off once (with the relaunch given) and then quits.
    await u.quitAndInstall();
    assert.equal(installs.length, 1);
    assert.equal(installs[0]!.relaunch, false);
    assert.equal(quits.length, 1);
    assert.deepEqual(await treeOf(dirs.installDir), await treeOf(bundles['2.0']!));
    await assert.rejects(u.quitAndInstall(), { code: 'NO_UPDATE_PLANNED' });
  });

  for (const mode of ['beforeExit', 'onQuit']) {
    it(`installOnQuit hands off exactly once when a real app quits (${mode})`, async () => {
      const dirs = await installed('1.0');
      const calls = join(dirs.root, 'installer-calls.log');
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', QUIT_APP, JSON.stringify({ dirs, url: server.url, app: APP, calls, mode })],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d));
      child.stderr.on('data', (d: Buffer) => (output += d));
      const [code] = await once(child, 'exit');
      assert.equal(code, 0, output);
      const lines = (await readFile(calls, 'utf8')).trim().split('\n');
      assert.equal(lines.length, 1, `installer calls: ${lines.join(' | ')}`);
      assert.deepEqual(JSON.parse(lines[0]!), {
        version: '2.0',
        dstDir: dirs.installDir,
        relaunch: false,
      });
      assert.match(output, /update-downloaded 2\.0/);
      // Every onQuit() call says the update was handed off, and the installer still ran once.
      if (mode === 'onQuit') assert.match(output, /onQuit true true true/);
      assert.deepEqual(await treeOf(dirs.installDir), await treeOf(bundles['2.0']!));
    });
  }
});

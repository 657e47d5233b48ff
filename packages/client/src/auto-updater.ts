// The background updater: electron-updater's events and flow (check, download, install on quit) over a Client.
import { EventEmitter } from 'node:events';
import { rm } from 'node:fs/promises';
import type { InstallRequest, Installer, Logger } from '@tufup/common';
import { isAbortError, silentLogger } from '@tufup/common';
import type { Client } from './client.js';
import { ClientError } from './errors.js';
import type { CheckOptions, UpdateInfo, UpdateResult } from './index.js';
import type { UpdateProgressEvent } from './progress.js';

/** The `download-progress` payload, as electron-updater's `ProgressInfo`. */
export interface DownloadProgress {
  /** 0-100 of `total`. */
  percent: number;
  /** Average over this download call; bytes resumed from an earlier call don't count. */
  bytesPerSecond: number;
  /** Bytes of this update's files in the cache (resumed bytes included). */
  transferred: number;
  /** Bytes to download (grows by the full archive if patches fail and it is fetched instead). */
  total: number;
}

/** A downloaded, verified and staged update, waiting to be handed to the installer. */
export interface DownloadedUpdate {
  info: UpdateInfo;
  result: UpdateResult;
  /** The staging dir the installer will swap in. */
  stagingDir: string;
}

/** Events with their arguments (for `on`, `once`, `off`). */
export interface AutoUpdaterEvents {
  'checking-for-update': [];
  'update-available': [info: UpdateInfo];
  'update-not-available': [info: { version: string }];
  'download-progress': [progress: DownloadProgress];
  'update-downloaded': [update: DownloadedUpdate];
  error: [error: Error];
}

/** Timers and clock, injectable so tests (and apps with their own scheduler) drive the periodic check. */
export interface UpdaterClock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Milliseconds, monotonic (for bytesPerSecond). */
  now(): number;
}

/** Node's timers, `unref`'d so a pending check never keeps the process alive. */
export const systemClock: UpdaterClock = {
  setTimeout(fn, ms) {
    const handle = setTimeout(fn, ms);
    handle.unref();
    return handle;
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
  now: () => performance.now(),
};

export interface AutoUpdaterOptions {
  client: Client;
  /** The installer the staged update is handed to (`@tufup/installer-mac`, `-win`, or your own function). */
  install: Installer;
  /** Channel, patches, required releases (as `Client.checkForUpdates`). */
  check?: Omit<CheckOptions, 'signal'>;
  /** Download an update as soon as a check finds it (default true); else call `downloadUpdate()`. */
  autoDownload?: boolean;
  /**
   * Hand a downloaded update to the installer when the app quits (default false): when it calls `onQuit()`,
   * or on the process's `beforeExit` (while `start()`ed). Exactly once, without relaunching the app.
   */
  installOnQuit?: boolean;
  /** Time between periodic checks (default 6 hours). */
  intervalMs?: number;
  /** Each wait is `intervalMs` × (1 ± `jitter`), spread evenly (default 0.1), so a fleet doesn't check in step. */
  jitter?: number;
  /** Ends the app after `quitAndInstall()` handed off (default `process.exit(0)`; Electron: `() => app.quit()`). */
  quit?: () => void | Promise<void>;
  /** Passed on to the installer by `quitAndInstall()` (default: the installer's own, i.e. relaunch). */
  relaunch?: InstallRequest['relaunch'];
  /** Process the installer waits for (default: the installer's, i.e. this one). */
  pid?: number;
  clock?: UpdaterClock;
  /** In [0, 1); default Math.random. */
  random?: () => number;
  /** Where `error` events go when nobody listens for them (default silent). */
  logger?: Logger;
}

export const DEFAULT_CHECK_INTERVAL_MS = 6 * 3600_000;

/**
 * Keeps an app up to date in the background, in the shape electron-updater users know: `start()` checks now
 * and then every `intervalMs` ± jitter; a check emits `checking-for-update`, then `update-available` or
 * `update-not-available` (or `error`); an update is downloaded (patches or the full archive, every byte
 * verified) and staged beside the install dir with `download-progress` events, then `update-downloaded`;
 * `quitAndInstall()` hands it to the installer and ends the app, or with `installOnQuit` the hand-off happens
 * when the app quits. Downloads take an `AbortSignal` and resume from their partial files later.
 *
 * An `error` event without a listener is logged instead of thrown (it must not crash the app from a timer).
 * The calls also reject with the error; an abort rejects with the signal's reason and emits nothing.
 */
export class AutoUpdater extends EventEmitter<AutoUpdaterEvents> {
  readonly client: Client;
  readonly #opts: AutoUpdaterOptions;
  readonly #clock: UpdaterClock;
  readonly #logger: Logger;
  #timer: unknown;
  #running = false;
  /** Aborts what the periodic cycle started when `stop()` is called. */
  #cycle: AbortController | undefined;
  #checking: Promise<UpdateInfo | undefined> | undefined;
  #downloading: Promise<DownloadedUpdate> | undefined;
  #found: UpdateInfo | undefined;
  #downloaded: DownloadedUpdate | undefined;
  #handingOff: Promise<boolean> | undefined;
  #handedOff = false;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #beforeExit = () => {
    void this.onQuit().catch(() => {
      // reported through the error event
    });
  };

  constructor(options: AutoUpdaterOptions) {
    super();
    const interval = options.intervalMs ?? DEFAULT_CHECK_INTERVAL_MS;
    const jitter = options.jitter ?? 0.1;
    if (!(interval > 0) || !(jitter >= 0 && jitter < 1)) {
      throw new ClientError({
        code: 'INVALID_OPTIONS',
        message: `intervalMs must be > 0 and jitter in [0, 1): got ${interval}, ${jitter}`,
      });
    }
    this.client = options.client;
    this.#opts = { ...options, intervalMs: interval, jitter };
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
  }

  /** The update downloaded and staged, waiting for `quitAndInstall()` or the quit. */
  get downloadedUpdate(): DownloadedUpdate | undefined {
    return this.#downloaded;
  }

  /** Check now, then every `intervalMs` ± jitter until `stop()`; with `installOnQuit`, watch `beforeExit`. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#cycle = new AbortController();
    if (this.#opts.installOnQuit) process.on('beforeExit', this.#beforeExit);
    void this.#periodic();
  }

  /** No more periodic checks; a check or download the cycle started is aborted (its partial files stay). */
  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#cycle?.abort();
    this.#cycle = undefined;
    process.off('beforeExit', this.#beforeExit);
  }

  /** The wait before the next periodic check. */
  nextDelayMs(): number {
    const { intervalMs, jitter } = this.#opts as Required<Pick<AutoUpdaterOptions, 'intervalMs' | 'jitter'>>;
    const random = this.#opts.random ?? Math.random;
    return Math.round(intervalMs * (1 + jitter * (2 * random() - 1)));
  }

  /**
   * One check (a call while one runs gets the same promise). With `autoDownload` an update found is downloaded
   * before the promise settles. Resolves with the update found, undefined when up to date.
   */
  checkForUpdates(opts: { signal?: AbortSignal } = {}): Promise<UpdateInfo | undefined> {
    this.#checking ??= this.#check(opts.signal).finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  /**
   * Download, verify and stage the update found by the last check (checking first if there was none), without
   * handing it off. `signal` cancels it; a later call resumes the partial downloads.
   */
  downloadUpdate(opts: { signal?: AbortSignal } = {}): Promise<DownloadedUpdate> {
    this.#downloading ??= this.#download(opts.signal).finally(() => {
      this.#downloading = undefined;
    });
    return this.#downloading;
  }

  /** Hand the downloaded update to the installer now, then end the app with `quit`. */
  async quitAndInstall(): Promise<void> {
    if (!this.#downloaded && (!this.#handingOff || this.#handedOff)) {
      throw this.#report(
        new ClientError({
          code: 'NO_UPDATE_PLANNED',
          message: 'no downloaded update to install: call downloadUpdate() first',
        }),
      );
    }
    await this.#handOff(this.#opts.relaunch);
    this.stop();
    await (this.#opts.quit ?? (() => process.exit(0)))();
  }

  /**
   * Call when the app is about to quit (Electron: `app.on('will-quit')`; a CLI: before `process.exit`). With
   * `installOnQuit` and a downloaded update, hands it to the installer (no relaunch) and resolves true once
   * that is done; every later call resolves the same without a second hand-off.
   */
  async onQuit(): Promise<boolean> {
    if (!this.#opts.installOnQuit) return false;
    if (!this.#downloaded && !this.#handingOff) return false;
    return this.#handOff(false);
  }

  // ---- the periodic cycle -----------------------------------------------------------------------------

  async #periodic(): Promise<void> {
    const signal = this.#cycle?.signal;
    try {
      await this.checkForUpdates(signal ? { signal } : {});
    } catch {
      // emitted as an error event (or an abort by stop())
    }
    if (!this.#running || signal?.aborted) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      void this.#periodic();
    }, this.nextDelayMs());
  }

  // ---- check → download → hand off --------------------------------------------------------------------

  async #check(signal: AbortSignal | undefined): Promise<UpdateInfo | undefined> {
    this.emit('checking-for-update');
    let info: UpdateInfo | undefined;
    try {
      info = await this.#serial(() =>
        this.client.checkForUpdates({ ...this.#opts.check, ...(signal ? { signal } : {}) }),
      );
    } catch (err) {
      throw this.#report(err);
    }
    if (!info) {
      // With refreshRequired false the client says "no update" when it could not look: that is an error here.
      const failure = this.client.lastRefreshError;
      if (failure) throw this.#report(failure);
      this.#found = undefined;
      this.emit('update-not-available', { version: this.client.currentVersion });
      return undefined;
    }
    this.#found = info;
    this.emit('update-available', info);
    if (this.#downloaded?.info.version === info.version) {
      // Already staged: what electron-updater does with a cached download.
      this.emit('update-downloaded', this.#downloaded);
    } else if (this.#opts.autoDownload ?? true) {
      await this.downloadUpdate(signal ? { signal } : {});
    }
    return info;
  }

  #download(signal: AbortSignal | undefined): Promise<DownloadedUpdate> {
    return this.#serial(() => this.#downloadNow(signal));
  }

  async #downloadNow(signal: AbortSignal | undefined): Promise<DownloadedUpdate> {
    if (!this.#found) {
      // The client plans against the metadata of its last check: refresh it.
      this.#found = await this.client
        .checkForUpdates({ ...this.#opts.check, ...(signal ? { signal } : {}) })
        .catch((err: unknown) => {
          throw this.#report(err);
        });
      if (!this.#found) {
        throw this.#report(
          this.client.lastRefreshError ??
            new ClientError({ code: 'NO_UPDATE_PLANNED', message: 'no update to download: up to date' }),
        );
      }
    }
    const info = this.#found;
    if (this.#downloaded?.info.version === info.version) return this.#downloaded;
    let staged: InstallRequest | undefined;
    const speed = new SpeedMeter(this.#clock);
    let result: UpdateResult;
    try {
      result = await this.client.downloadAndApplyUpdate({
        // The client's hand-off only records the staged request: the real one waits for the quit.
        install: async (request) => {
          staged = request;
        },
        onProgress: (e) => this.#progress(e, speed),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      if (!isAbortError(err) && err instanceof ClientError && err.code === 'NO_UPDATE_PLANNED')
        this.#found = undefined;
      throw this.#report(err);
    }
    if (!staged || !result.stagingDir) {
      throw this.#report(new ClientError({ code: 'INSTALL_FAILED', message: 'the update was not staged' }));
    }
    const previous = this.#downloaded;
    const update: DownloadedUpdate = { info, result, stagingDir: staged.srcDir };
    this.#downloaded = update;
    this.#found = undefined;
    // A newer update replaces one staged earlier and never handed off.
    if (previous && !this.#handingOff) await rm(previous.stagingDir, { recursive: true, force: true });
    this.emit('update-downloaded', update);
    return update;
  }

  #progress(e: UpdateProgressEvent, speed: SpeedMeter): void {
    if (e.phase !== 'download-total') return;
    this.emit('download-progress', {
      percent: e.total > 0 ? Math.min(100, (e.done / e.total) * 100) : 100,
      bytesPerSecond: speed.update(e.done),
      transferred: e.done,
      total: e.total,
    });
  }

  /** The one hand-off of the downloaded update; later calls share its outcome. */
  #handOff(relaunch: InstallRequest['relaunch']): Promise<boolean> {
    this.#handingOff ??= (async () => {
      const update = this.#downloaded;
      if (!update) return false;
      this.#downloaded = undefined;
      const request: InstallRequest = {
        appName: this.client.appName,
        version: update.info.version,
        srcDir: update.stagingDir,
        dstDir: this.client.installDir,
        ...(this.#opts.pid !== undefined ? { pid: this.#opts.pid } : {}),
        ...(relaunch !== undefined ? { relaunch } : {}),
      };
      try {
        await this.#opts.install(request);
      } catch (err) {
        await rm(update.stagingDir, { recursive: true, force: true });
        const message = `installing ${update.info.version} failed: ${(err as Error)?.message ?? String(err)}`;
        throw this.#report(
          err instanceof ClientError ? err : new ClientError({ code: 'INSTALL_FAILED', message, cause: err }),
        );
      }
      this.#handedOff = true;
      return true;
    })();
    return this.#handingOff;
  }

  /** Client calls one at a time (a Client is BUSY otherwise), in the order they were asked for. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {
      // the caller gets the failure; the queue only orders
    });
    return run;
  }

  /** Emit `error` (or log it when nobody listens) and give it back for rethrowing; aborts pass silently. */
  #report(err: unknown): Error {
    const error = err instanceof Error ? err : new Error(String(err));
    if (isAbortError(error)) return error;
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else this.#logger.warn(`update failed: ${error.message}`);
    return error;
  }
}

/** Bytes per second since the first figure of one download call. */
class SpeedMeter {
  readonly #clock: UpdaterClock;
  #start: { at: number; bytes: number } | undefined;

  constructor(clock: UpdaterClock) {
    this.#clock = clock;
  }

  update(bytes: number): number {
    const at = this.#clock.now();
    if (!this.#start) {
      this.#start = { at, bytes };
      return 0;
    }
    const seconds = (at - this.#start.at) / 1000;
    return seconds > 0 ? Math.round((bytes - this.#start.bytes) / seconds) : 0;
  }
}

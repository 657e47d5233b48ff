// Typed progress events of an update: bytes per download and overall, patch steps, verification, staging.
import type { ProgressEvent } from '@tufup/common';

/** Bytes of one target in the cache (resumed bytes count as done at the start). */
export interface DownloadProgressEvent extends ProgressEvent {
  phase: 'download';
  file: string;
  done: number;
  total: number;
  unit: 'bytes';
}

/** Bytes of all targets of this update together; the total grows if a patch fails and the archive is needed. */
export interface DownloadTotalProgressEvent extends ProgressEvent {
  phase: 'download-total';
  done: number;
  total: number;
  unit: 'bytes';
}

/** Checking the cached current version against its signed hashes before a patch is applied to it. */
export interface VerifyProgressEvent extends ProgressEvent {
  phase: 'verify';
  file: string;
  done: number;
  total: number;
  unit: 'bytes';
}

/** Applying patch `step` of `steps` (1-based): bytes of that step's new tar written. */
export interface PatchProgressEvent extends ProgressEvent {
  phase: 'patch';
  file: string;
  step: number;
  steps: number;
  done: number;
  total: number;
  unit: 'bytes';
}

/** Extracting the new version into the staging dir: bytes of the (patched .tar or downloaded .tar.gz) file read. */
export interface StageProgressEvent extends ProgressEvent {
  phase: 'stage';
  done: number;
  total: number;
  unit: 'bytes';
}

export type UpdateProgressEvent =
  | DownloadProgressEvent
  | DownloadTotalProgressEvent
  | VerifyProgressEvent
  | PatchProgressEvent
  | StageProgressEvent;

export type OnUpdateProgress = (event: UpdateProgressEvent) => void;

/**
 * Keeps every phase's `done` monotonic (a download that restarts from byte 0 must not make a bar jump
 * back) and rate-limits per phase+file, always passing the first and the final event.
 */
export class ProgressReporter {
  readonly #listener: OnUpdateProgress | undefined;
  readonly #intervalMs: number;
  readonly #sent = new Map<string, { done: number; at: number; final: boolean }>();

  constructor(listener: OnUpdateProgress | undefined, intervalMs = 50) {
    this.#listener = listener;
    this.#intervalMs = intervalMs;
  }

  emit(event: UpdateProgressEvent): void {
    if (!this.#listener) return;
    const key = `${event.phase}\u0000${event.file ?? ''}`;
    const final = event.total !== undefined && event.done >= event.total;
    const now = Date.now();
    const last = this.#sent.get(key);
    if (last) {
      if (event.done < last.done) return;
      if (last.final && event.done === last.done) return;
      if (!final && (event.done === last.done || now - last.at < this.#intervalMs)) return;
    }
    this.#sent.set(key, { done: event.done, at: now, final });
    this.#listener(event);
  }
}

/** Download progress per file and overall; after a patch failure the archive is added to the total. */
export class DownloadTracker {
  readonly #progress: ProgressReporter;
  #total: number;
  /** Bytes of files finished (or given up on), counted into the overall figure. */
  #base = 0;
  #shown = 0;

  constructor(progress: ProgressReporter, total: number) {
    this.#progress = progress;
    this.#total = total;
  }

  bytes(target: { filename: string; length: number }, bytes: number): void {
    this.#progress.emit({
      phase: 'download',
      file: target.filename,
      done: bytes,
      total: target.length,
      unit: 'bytes',
    });
    this.#overall(this.#base + bytes);
  }

  finished(target: { filename: string; length: number }): void {
    this.bytes(target, target.length);
    this.#base += target.length;
  }

  /** What was fetched for the failed patches stays done; the archive comes on top. */
  fallBackTo(archiveLength: number): void {
    this.#base = this.#shown;
    this.#total = this.#shown + archiveLength;
  }

  #overall(done: number): void {
    if (done > this.#shown) this.#shown = done;
    this.#progress.emit({ phase: 'download-total', done, total: this.#total, unit: 'bytes' });
  }
}

// Terminal output: colours (off under NO_COLOR or when not a TTY), a progress bar on stderr, size formatting.
import type { OnProgress, ProgressEvent } from '@tufup/common';

export interface Style {
  red(s: string): string;
  yellow(s: string): string;
  green(s: string): string;
  bold(s: string): string;
  dim(s: string): string;
}

/** Colour only on a TTY, and never when NO_COLOR is set to anything non-empty (https://no-color.org). */
export function useColor(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return Boolean(stream.isTTY);
}

export function makeStyle(enabled: boolean): Style {
  const wrap = (open: number, close: number) => (s: string) =>
    enabled ? `\x1b[${open}m${s}\x1b[${close}m` : s;
  return {
    red: wrap(31, 39),
    yellow: wrap(33, 39),
    green: wrap(32, 39),
    bold: wrap(1, 22),
    dim: wrap(2, 22),
  };
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

function amount(e: ProgressEvent, v: number): string {
  return e.unit === undefined || e.unit === 'bytes' ? formatBytes(v) : `${v} ${e.unit}`;
}

export interface ProgressDisplay {
  onProgress: OnProgress;
  /**
   * Ends the display (call once the operation is over, also on failure). `completed`: the operation succeeded,
   * so its last phase is shown as finished (a bar at 100 %, a done line) even when no final event came.
   */
  done(completed?: boolean): void;
}

export interface ProgressDisplayOptions {
  /** Draw bars (default: the stream is a TTY). */
  tty?: boolean;
  label?: (phase: string) => string;
  /** Without a TTY: a line at least this often while a phase runs (default 3 s). */
  intervalMs?: number;
  now?: () => number;
}

/** Without a TTY, a phase prints a line at least this often (the issue's bound is 5 s; timers may run late). */
export const DEFAULT_PROGRESS_INTERVAL_MS = 3000;

/**
 * Progress for long phases (archive, gunzip, diff, encode) on `stream`. On a TTY: one bar redrawn in place,
 * drawn at 100 % when its phase ends. Elsewhere (CI logs): a line when a phase starts, a line with the
 * percentage and elapsed time every `intervalMs` while it runs, and a line when it ends. Lines come from the
 * progress events (a computation that blocks the event loop still reports) and from a timer (a phase whose
 * events stall still shows it is alive).
 */
export function progressDisplay(
  stream: NodeJS.WriteStream,
  opts: ProgressDisplayOptions = {},
): ProgressDisplay {
  const tty = opts.tty ?? Boolean(stream.isTTY);
  const label = opts.label ?? ((p: string) => p);
  const intervalMs = opts.intervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS;
  const now = opts.now ?? Date.now;
  let last: ProgressEvent | undefined;
  let phaseStart = 0;
  let lastLine = 0;
  let lastDraw = Number.NEGATIVE_INFINITY;
  let lineOpen = false;
  let finished = false;
  let timer: NodeJS.Timeout | undefined;

  const endLine = () => {
    if (lineOpen) stream.write('\n');
    lineOpen = false;
  };
  const draw = (e: ProgressEvent) => {
    const width = 28;
    const frac = e.total ? Math.min(1, e.done / e.total) : 0;
    const filled = Math.round(frac * width);
    const bar = e.total
      ? `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor(frac * 100)).padStart(3)}%`
      : '';
    const size = e.total ? `${amount(e, e.done)} / ${amount(e, e.total)}` : amount(e, e.done);
    stream.write(`\r\x1b[2K${label(e.phase).padEnd(8)} ${bar} ${size}`);
    lineOpen = true;
    lastDraw = now();
  };
  const line = (text: string) => {
    stream.write(`${text}\n`);
    lastLine = now();
  };
  const periodic = () => {
    const e = last;
    if (!e || finished) return;
    const elapsed = `${Math.round((now() - phaseStart) / 1000)} s`;
    const pct = e.total
      ? `${Math.floor(Math.min(1, e.done / e.total) * 100)}% (${amount(e, e.done)} / ${amount(e, e.total)})`
      : amount(e, e.done);
    line(`${label(e.phase)}: ${pct}, ${elapsed}`);
  };
  /** The current phase is over: a bar at 100 %, or a done line. */
  const finishPhase = () => {
    const e = last;
    if (!e || finished) return;
    finished = true;
    const end = e.total !== undefined ? { ...e, done: e.total } : e;
    if (tty) {
      draw(end);
      endLine();
    } else line(`${label(e.phase)}: done (${amount(end, end.done)})`);
  };

  const onProgress: OnProgress = (e) => {
    if (e.phase !== last?.phase) {
      // Phases run one after another: a new one means the previous one completed.
      finishPhase();
      if (tty) endLine();
      phaseStart = now();
      finished = false;
      lastDraw = Number.NEGATIVE_INFINITY;
      last = e;
      if (!tty)
        line(`${label(e.phase)}: ${e.total ? amount(e, e.total) : 'started'}${e.file ? ` (${e.file})` : ''}`);
      if (!tty && timer === undefined && intervalMs > 0) {
        // A quarter of the interval, so a line is never more than 1.25 intervals late.
        timer = setInterval(
          () => {
            if (now() - lastLine >= intervalMs) periodic();
          },
          Math.max(1, Math.floor(intervalMs / 4)),
        );
        timer.unref();
      }
    }
    last = e;
    const isFinal = e.total !== undefined && e.done >= e.total;
    if (finished) return;
    if (tty) {
      if (isFinal) finishPhase();
      else if (now() - lastDraw >= 80) draw(e);
    } else if (isFinal) finishPhase();
    else if (now() - lastLine >= intervalMs) periodic();
  };
  return {
    onProgress,
    done(completed = false) {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      if (completed) finishPhase();
      if (tty) endLine();
      last = undefined;
      finished = false;
    },
  };
}

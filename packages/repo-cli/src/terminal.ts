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
  /** Ends the current line (call once the operation is over, also on failure). */
  done(): void;
}

/**
 * Progress for long phases (archive, diff) on `stream`. On a TTY: one bar redrawn in place. Elsewhere (CI
 * logs): one plain line when a phase starts and one when it ends, never a flood.
 */
export function progressDisplay(
  stream: NodeJS.WriteStream,
  opts: { tty?: boolean; label?: (phase: string) => string } = {},
): ProgressDisplay {
  const tty = opts.tty ?? Boolean(stream.isTTY);
  const label = opts.label ?? ((p: string) => p);
  let phase: string | undefined;
  let lastDraw = 0;
  let lineOpen = false;
  let finished = false;

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
  };

  const onProgress: OnProgress = (e) => {
    const isFinal = e.total !== undefined && e.done >= e.total;
    if (e.phase !== phase) {
      if (tty) endLine();
      else if (phase !== undefined && !finished) stream.write(`${label(phase)}: done\n`);
      phase = e.phase;
      finished = false;
      lastDraw = 0;
      if (!tty)
        stream.write(
          `${label(e.phase)}: ${e.total ? amount(e, e.total) : 'started'}${e.file ? ` (${e.file})` : ''}\n`,
        );
    }
    if (tty) {
      const now = Date.now();
      if (isFinal || now - lastDraw >= 80) {
        lastDraw = now;
        draw(e);
      }
    } else if (isFinal && !finished) {
      finished = true;
      stream.write(`${label(e.phase)}: done (${amount(e, e.done)})\n`);
    }
  };
  return {
    onProgress,
    done() {
      if (tty) endLine();
      phase = undefined;
    },
  };
}

// Progress events and logging: one shape for every long operation in every package.

/** A progress report for one phase of a long operation. `done` never decreases within a phase. */
export interface ProgressEvent {
  /** What is happening, e.g. 'archive', 'gzip', 'diff', 'apply', 'download', 'extract', 'stage'. */
  phase: string;
  /** Units done so far (bytes unless `unit` says otherwise). */
  done: number;
  /** Total units, when known. */
  total?: number;
  unit?: 'bytes' | 'files' | 'steps';
  /** The file or target this event is about, when there is one. */
  file?: string;
}

export type OnProgress = (event: ProgressEvent) => void;

/**
 * Wrap `onProgress` so it fires at most every `intervalMs` (plus always for the first and the final event
 * of a phase, where done === total). Keeps hot loops from flooding listeners.
 */
export function throttleProgress(
  onProgress: OnProgress | undefined,
  intervalMs = 100,
): OnProgress | undefined {
  if (!onProgress) return undefined;
  let last = 0;
  let lastPhase = '';
  return (event) => {
    const now = Date.now();
    const final = event.total !== undefined && event.done >= event.total;
    if (final || event.phase !== lastPhase || now - last >= intervalMs) {
      last = now;
      lastPhase = event.phase;
      onProgress(event);
    }
  };
}

/** The logging interface all packages accept. Messages never contain secrets (passphrases, private keys). */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Logs nothing: the default everywhere, so libraries stay quiet unless the caller passes a logger. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/** Logs to stderr, with debug lines only when `verbose`. */
export function stderrLogger(verbose = false): Logger {
  const write = (level: string, message: string) => process.stderr.write(`${level}: ${message}\n`);
  return {
    debug: (m) => {
      if (verbose) write('debug', m);
    },
    info: (m) => write('info', m),
    warn: (m) => write('warning', m),
    error: (m) => write('error', m),
  };
}

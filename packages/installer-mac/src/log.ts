// The install log: append-only, one timestamped line per event, written synchronously so a kill loses nothing.
import { closeSync, mkdirSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '@tufup/common';

/** Past this size the log is rotated to `<file>.1` when opened, so years of updates don't pile up. */
const ROTATE_BYTES = 1 << 20;

/** One log line: ISO time, level, message with control characters escaped (paths may contain newlines). */
export function formatLogLine(level: string, message: string, now = new Date()): string {
  const safe = message.replace(/[\u0000-\u001f\u007f]/g, (c) =>
    c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return `${now.toISOString()} [${level}] ${safe}\n`;
}

/** A path quoted for a log message, so spaces, quotes and newlines stay unambiguous. */
export function q(path: string): string {
  return JSON.stringify(path);
}

/** A Logger that appends formatted lines to a file descriptor (a log file, or stdout for the elevated step). */
export class LineLog implements Logger {
  readonly #fd: number;
  readonly #owned: boolean;
  #closed = false;

  private constructor(fd: number, owned: boolean) {
    this.#fd = fd;
    this.#owned = owned;
  }

  /** Opens (creating, and rotating when large) an append-only log file. */
  static open(path: string): LineLog {
    mkdirSync(dirname(path), { recursive: true });
    try {
      if (statSync(path).size > ROTATE_BYTES) renameSync(path, `${path}.1`);
    } catch {
      // No log yet (or it cannot be rotated): appending below reports real problems.
    }
    return new LineLog(openSync(path, 'a', 0o644), true);
  }

  /** Writes to an already open descriptor that the caller keeps owning. */
  static onFd(fd: number): LineLog {
    return new LineLog(fd, false);
  }

  /** Appends lines that are already formatted (e.g. the elevated step's output), one per line. */
  raw(text: string): void {
    for (const line of text.split('\n')) if (line.trim() !== '') this.#write(`${line}\n`);
  }

  debug(message: string): void {
    this.#write(formatLogLine('debug', message));
  }
  info(message: string): void {
    this.#write(formatLogLine('info', message));
  }
  warn(message: string): void {
    this.#write(formatLogLine('warn', message));
  }
  error(message: string): void {
    this.#write(formatLogLine('error', message));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) closeSync(this.#fd);
  }

  #write(line: string): void {
    if (this.#closed) return;
    try {
      writeSync(this.#fd, line);
    } catch {
      // A full disk must not turn a finished swap into a failed one; the swap itself reports its own errors.
    }
  }
}

/** Sends every message to each of `loggers`. */
export function teeLogger(...loggers: Logger[]): Logger {
  const each = (level: keyof Logger) => (message: string) => {
    for (const l of loggers) l[level](message);
  };
  return { debug: each('debug'), info: each('info'), warn: each('warn'), error: each('error') };
}

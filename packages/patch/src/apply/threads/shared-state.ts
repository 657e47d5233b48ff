// What the threads of one native apply share: the stop flag, the next segment to claim, and how many bytes of
// each segment are written (so the hashing worker can follow the decoders); and how a worker reports failure.
import { PatchError } from '../../errors.js';

const STOP = 0;
const NEXT = 1;
/** Bumped on every write and on a stop, so a waiting hasher wakes for either. */
const VERSION = 2;
/** Set when even the old file's hash must stop (an abort, or an old file found wrong). */
const STOP_ALL = 3;
const CONTROL_BYTES = 16;

export class DecodeProgress {
  readonly buffer: SharedArrayBuffer;
  readonly #control: Int32Array;
  readonly #written: BigInt64Array;

  /** A fresh state for `segments` segments, or (given `buffer`) another thread's view of one. */
  constructor(segments: number, buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(CONTROL_BYTES + 8 * segments);
    this.#control = new Int32Array(this.buffer, 0, CONTROL_BYTES / 4);
    this.#written = new BigInt64Array(this.buffer, CONTROL_BYTES, segments);
  }

  /**
   * Asks the decoders and the new file's hashing to stop at their next check (and wakes a waiting hasher).
   * The old file's hash goes on: when a decoder fails on a wrong base, that hash names the real cause.
   */
  stop(): void {
    Atomics.store(this.#control, STOP, 1);
    this.#bump();
  }

  /** Asks every thread to stop, the old file's hash too. */
  stopAll(): void {
    Atomics.store(this.#control, STOP_ALL, 1);
    this.stop();
  }

  stopped(): boolean {
    return Atomics.load(this.#control, STOP) !== 0;
  }

  allStopped(): boolean {
    return Atomics.load(this.#control, STOP_ALL) !== 0;
  }

  /** The index of the next segment to decode (at least the segment count once all are taken). */
  claim(): number {
    return Atomics.add(this.#control, NEXT, 1);
  }

  /** Records that the first `bytes` bytes of a segment are in the output file. */
  markWritten(segment: number, bytes: number): void {
    Atomics.store(this.#written, segment, BigInt(bytes));
    this.#bump();
  }

  written(segment: number): number {
    return Number(Atomics.load(this.#written, segment));
  }

  version(): number {
    return Atomics.load(this.#control, VERSION);
  }

  /** Blocks (workers only) until the version moves on from `seen`, for at most a second. */
  waitForChange(seen: number): void {
    Atomics.wait(this.#control, VERSION, seen, 1000);
  }

  #bump(): void {
    Atomics.add(this.#control, VERSION, 1);
    Atomics.notify(this.#control, VERSION);
  }
}

/** Thrown inside a worker once the stop flag is seen; reported as `stopped`, not as an error. */
export class StopRequested extends Error {}

/** The reports every apply worker may end with instead of its own last message. */
export type WorkerReport =
  | { type: 'stopped' }
  | { type: 'error'; code: string; message: string; errno?: string };

/** What a worker posts for an error that ended it: its code when it is a PatchError, else IO_ERROR. */
export function failureReport(err: unknown, context: string): WorkerReport {
  if (err instanceof StopRequested) return { type: 'stopped' };
  if (err instanceof PatchError) return { type: 'error', code: err.code, message: err.message };
  const errno = (err as NodeJS.ErrnoException)?.code;
  return {
    type: 'error',
    code: 'IO_ERROR',
    message: `${context}: ${(err as Error)?.message ?? String(err)}`,
    ...(typeof errno === 'string' ? { errno } : {}),
  };
}

// Slow retrieval: the case an idle timeout misses (a server that sends a byte now and then).
import type { Readable } from 'node:stream';
import { type Deadline, DeadlineError, SlowTransferError } from './request.js';

export interface GuardSettings {
  /** 0 turns the rate check off. */
  minBytesPerSecond: number;
  windowMs: number;
  deadline: Deadline | undefined;
}

/**
 * Fails a body that brings fewer than `minBytesPerSecond` over a window, or that is still running at the
 * deadline, by destroying it with the reason, which the reading loop then throws. The reading loop reports
 * what it consumed with `count`.
 */
export class TransferGuard {
  readonly #body: Readable;
  #bytes = 0;
  readonly #timers: NodeJS.Timeout[] = [];

  constructor(body: Readable, { minBytesPerSecond, windowMs, deadline }: GuardSettings) {
    this.#body = body;
    if (minBytesPerSecond > 0 && windowMs > 0) {
      const floor = Math.ceil((minBytesPerSecond * windowMs) / 1000);
      this.#timers.push(
        setInterval(() => {
          const got = this.#bytes;
          this.#bytes = 0;
          if (got < floor) {
            this.#fail(
              new SlowTransferError(
                `too slow: ${got} bytes in ${windowMs} ms, below the minimum of ${minBytesPerSecond} bytes/s`,
              ),
            );
          }
        }, windowMs),
      );
    }
    if (deadline) {
      this.#timers.push(
        setTimeout(
          () => this.#fail(new DeadlineError(`not done within ${deadline.ms} ms`)),
          Math.max(0, deadline.at - Date.now()),
        ),
      );
    }
  }

  count(bytes: number): void {
    this.#bytes += bytes;
  }

  dispose(): void {
    for (const t of this.#timers) clearTimeout(t);
  }

  #fail(reason: Error): void {
    this.dispose();
    this.#body.destroy(reason);
  }
}

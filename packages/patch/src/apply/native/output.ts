// The new file while it is rebuilt: a sibling temp file, flushed as it grows, renamed into place when verified.
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsyncDir, siblingTempPath } from '@tufup/common';
import { PatchError } from '../../errors.js';

/** Dirty output is flushed in the background after each this many new bytes. */
const FLUSH_EVERY = 32 << 20;

/** The new file, written to a sibling temp path (by every decoding thread) and renamed into place when complete. */
export class OutputFile {
  readonly #path: string;
  readonly tmp: string;
  readonly fh: FileHandle;
  readonly #durable: boolean;
  #flushing: Promise<void> | undefined;
  #flushedUpTo = 0;

  private constructor(path: string, tmp: string, fh: FileHandle, durable: boolean) {
    this.#path = path;
    this.tmp = tmp;
    this.fh = fh;
    this.#durable = durable;
  }

  static async create(path: string, durable: boolean): Promise<OutputFile> {
    const tmp = siblingTempPath(path);
    try {
      return new OutputFile(path, tmp, await open(tmp, 'wx+', 0o644), durable);
    } catch (err) {
      throw new PatchError({ code: 'IO_ERROR', message: `cannot create ${tmp}`, cause: err });
    }
  }

  /**
   * Told how many bytes are written so far: every FLUSH_EVERY bytes it starts writing dirty pages out in
   * the background, so the sync before the rename has little left to wait for.
   */
  written(bytes: number): void {
    if (!this.#durable || this.#flushing || bytes - this.#flushedUpTo < FLUSH_EVERY) return;
    this.#flushedUpTo = bytes;
    this.#flushing = this.fh
      .datasync()
      .catch(() => {})
      .finally(() => {
        this.#flushing = undefined;
      });
  }

  async commit(): Promise<void> {
    await this.#flushing;
    if (this.#durable) await this.fh.sync();
    await this.fh.close();
    await rename(this.tmp, this.#path);
    if (this.#durable) await fsyncDir(dirname(this.#path));
  }

  async discard(): Promise<void> {
    await this.#flushing;
    await this.fh.close().catch(() => {});
    await rm(this.tmp, { force: true });
  }
}

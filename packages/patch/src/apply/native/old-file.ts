// The old file as the apply core reads it: through a few windows in the kernel's memory.
import { type PositionalFile, readAt } from './io.js';

export interface OldView {
  bytes: Uint8Array;
  offset: number;
  length: number;
}

interface OldWindow {
  /** Which WINDOW-sized piece of the old file it holds (-1: none yet, or a read that failed). */
  index: number;
  buf: Uint8Array;
  len: number;
  used: number;
}

/**
 * Reads of the old file through 32 windows of 128 KiB, least recently used first to go. Covers mostly move
 * forward through old but often reach back or across for a while (moved code, shared strings): on the node
 * pair of bench/patch, 4 windows of 1 MiB read the 152 MB old file 4 times over, these 1.15 times.
 */
export class OldFile {
  static readonly WINDOW = 128 << 10;
  static readonly SLOTS = 32;
  readonly #file: PositionalFile;
  readonly #size: number;
  readonly #slots: OldWindow[] = [];
  readonly #view: OldView = { bytes: new Uint8Array(0), offset: 0, length: 0 };
  #clock = 0;

  /** `windows`: SLOTS buffers of WINDOW bytes to read into. */
  constructor(file: PositionalFile, size: number, windows: Uint8Array[]) {
    this.#file = file;
    this.#size = size;
    for (const buf of windows.slice(0, OldFile.SLOTS)) this.#slots.push({ index: -1, buf, len: 0, used: 0 });
  }

  /**
   * The old bytes from `position` on, as far as one window holds them (at most n, at least 1): a view
   * into the window, valid until the next call (no copy; later loads use other windows first).
   */
  async view(position: number, n: number): Promise<OldView> {
    const index = Math.floor(position / OldFile.WINDOW);
    const slot = this.#slots.find((s) => s.index === index) ?? (await this.#load(index));
    slot.used = ++this.#clock;
    const offset = position - index * OldFile.WINDOW;
    this.#view.bytes = slot.buf;
    this.#view.offset = offset;
    this.#view.length = Math.min(n, slot.len - offset);
    return this.#view;
  }

  async #load(index: number): Promise<OldWindow> {
    let slot = this.#slots[0] as OldWindow;
    for (const s of this.#slots) if (s.used < slot.used) slot = s;
    const start = index * OldFile.WINDOW;
    const len = Math.min(OldFile.WINDOW, this.#size - start);
    slot.index = -1;
    await readAt(this.#file, slot.buf, 0, len, start);
    slot.index = index;
    slot.len = len;
    return slot;
  }
}

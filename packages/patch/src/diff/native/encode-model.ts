// Encodes covers into the native format's modelled stream (framed); gathers a segment's literal bytes.
import { CHUNK, EntryModel } from '../../format/model.js';
import { FRAME_TARGET_BYTES } from '../../format/native.js';
import type { LiteralRun } from '../../format/x86-filter.js';
import { pushVarint } from '../../format/varint.js';
import type { Cover } from '../engine/cover.js';
import { samePrefix } from '../same-bytes.js';
import { DiffModel } from './diff-model.js';
import { RangeEncoder } from './range-encoder.js';

export interface ModelledStream {
  /** Frames, each already prefixed with its header. */
  frames: Uint8Array[];
  /** Total bytes of the frames. */
  size: number;
}

export interface SegmentLiterals {
  /** The new file's bytes outside every cover, in order. */
  literal: Uint8Array;
  /** Where in the new file the literal bytes come from (for the x86 filter's positions). */
  runs: LiteralRun[];
}

/** The literal bytes of the new-file range [start, end) (one segment; covers all inside it). */
export function gatherLiterals(
  neu: Uint8Array,
  covers: readonly Cover[],
  range: { start: number; end: number },
): SegmentLiterals {
  let literalLength = range.end - range.start;
  for (const c of covers) literalLength -= c.length;
  const literal = new Uint8Array(literalLength);
  const runs: LiteralRun[] = [];
  let at = 0;
  let newPos = range.start;
  for (let i = 0; newPos < range.end; i++) {
    const next = covers[i]?.newPos ?? range.end;
    if (next > newPos) {
      literal.set(neu.subarray(newPos, next), at);
      runs.push({ newPos, length: next - newPos });
      at += next - newPos;
    }
    newPos = next + (covers[i]?.length ?? 0);
  }
  return { literal, runs };
}

export interface EncodeOptions {
  /** The difference-byte model (default 3, compression id 4; 2 writes what ids 2 and 3 decode). */
  model?: 2 | 3;
  onProgress?: (doneNewBytes: number) => void;
  signal?: AbortSignal;
}

/** Diff bytes are coded in pieces of at most this many, so a frame can end inside a long cover. */
const PIECE = 1 << 16;

/**
 * Encodes the new-file range [start, end) (one segment; covers all inside it) with a fresh model, as apply
 * decodes it.
 */
export function encodeModelledStream(
  old: Uint8Array,
  neu: Uint8Array,
  covers: readonly Cover[],
  range: { start: number; end: number },
  opts: EncodeOptions = {},
): ModelledStream {
  const { start, end } = range;
  const zeroAhead = zeroChunkRuns(old, neu, covers);
  const entries = new EntryModel();
  const diffs = new DiffModel(opts.model ?? 3);
  const enc = new RangeEncoder();
  const frames: Uint8Array[] = [];
  let size = 0;
  let frameEntries = 0;
  let frameDiff = 0;
  const endFrame = () => {
    const body = enc.finish();
    const head = frameHeader(body.length, frameEntries, frameDiff);
    const frame = new Uint8Array(head.length + body.length);
    frame.set(head);
    frame.set(body, head.length);
    frames.push(frame);
    size += frame.length;
    frameEntries = 0;
    frameDiff = 0;
  };
  const scratch = { cover: 0, oldPos: 0 };
  let newPos = start;
  let nextReport = start + (1 << 20);
  for (let i = 0; newPos < end; i++) {
    if (frameEntries > 0 && enc.length >= FRAME_TARGET_BYTES) endFrame();
    const c = covers[i];
    const lit = (c ? c.newPos : end) - newPos;
    entries.codeLiteralLength(enc, lit);
    frameEntries++;
    newPos += lit;
    if (!c || newPos === end) break;
    entries.codeCover(enc, c.length, c.oldPos, c.newPos, scratch);
    for (let done = 0; done < c.length; ) {
      if (done > 0 && enc.length >= FRAME_TARGET_BYTES) endFrame();
      const n = Math.min(PIECE, c.length - done);
      diffs.encode(enc, old, c.oldPos + done, neu, c.newPos + done, n, zeroAhead);
      frameDiff += n;
      done += n;
      if (c.newPos + done >= nextReport) {
        nextReport = c.newPos + done + (1 << 20);
        opts.signal?.throwIfAborted();
        opts.onProgress?.(c.newPos + done);
      }
    }
    newPos += c.length;
  }
  if (frameEntries > 0 || frameDiff > 0) endFrame();
  return { frames, size };
}

/** Counts the all-zero chunks of the difference stream starting at a chunk index (the encoder's look-ahead). */
function zeroChunkRuns(
  old: Uint8Array,
  neu: Uint8Array,
  covers: readonly Cover[],
): (chunk: number) => number {
  let total = 0;
  for (const c of covers) total += c.length;
  const chunks = Math.ceil(total / CHUNK);
  const nonzero = new Uint8Array(chunks);
  let pos = 0;
  for (const c of covers) {
    // From each difference on to the end of its chunk nothing more needs to be looked at.
    for (let k = samePrefix(neu, c.newPos, old, c.oldPos, c.length); k < c.length; ) {
      const chunk = Math.floor((pos + k) / CHUNK);
      nonzero[chunk] = 1;
      k = (chunk + 1) * CHUNK - pos;
      if (k < c.length) k += samePrefix(neu, c.newPos + k, old, c.oldPos + k, c.length - k);
    }
    pos += c.length;
  }
  // Asked only where a run starts, so the scans add up to one pass.
  return (chunk) => {
    let k = chunk;
    while (k < chunks && !nonzero[k]) k++;
    return k - chunk;
  };
}

function frameHeader(bytes: number, entries: number, diffBytes: number): Uint8Array {
  const out: number[] = [];
  for (const v of [bytes, entries, diffBytes]) pushVarint(out, v);
  return Uint8Array.from(out);
}

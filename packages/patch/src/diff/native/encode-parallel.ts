// Encoding the segments' modelled streams on several threads. Each segment starts a fresh model
// (FORMAT.md), so a segment's stream is the same bytes whichever thread encodes it: the patch does not
// depend on the thread count.
import { type Cover, coversOf, flattenCovers } from '../engine/types.js';
import { runWorker } from '../run-worker.js';
import { encodeModelledStream, type ModelledStream } from './encode-model.js';

/** What an encoding thread is given: both files in shared memory, the segments, and the shared counters. */
export interface EncodeJob {
  old: Uint8Array;
  neu: Uint8Array;
  /** Segment k rebuilds new[start, end); its covers as flattenCovers' triples. */
  segments: { start: number; end: number; covers: Int32Array }[];
  model: 2 | 3;
  /** Int32 0: the next segment to claim; then one Int32 per segment: its new bytes encoded so far. */
  shared: SharedArrayBuffer;
}

/** A segment's stream as a worker sends it back (the frames' buffers are transferred). */
export interface EncodedSegment {
  index: number;
  stream: ModelledStream;
}

export interface SegmentEncodingOptions {
  /** Threads, the calling one included (more than 1: only with both files in shared memory). */
  threads: number;
  model?: 2 | 3;
  /** New bytes encoded so far, over all segments (reported from this thread). */
  onProgress?: (doneNewBytes: number) => void;
  signal?: AbortSignal;
}

/**
 * Fewest segments whose streams are encoded on more than one thread. A worker takes 50-80 ms to start,
 * about what the modelled stream of one segment (about 40 ms of estimated decoding) takes to encode.
 */
const PARALLEL_MIN_SEGMENTS = 4;

/**
 * Starts encoding the modelled stream of each segment: workers start at once and claim segments as they
 * come up; `finish` encodes on this thread too, claiming segments from the same counter, and resolves to the
 * streams in segment order. Work done between the two calls (the writer hashes both files) overlaps the
 * workers' start-up. `workers`: how many were started.
 */
export function startSegmentEncoding(
  old: Uint8Array,
  neu: Uint8Array,
  segments: readonly { start: number; end: number; covers: Cover[] }[],
  opts: SegmentEncodingOptions,
): { workers: number; finish: () => Promise<ModelledStream[]> } {
  const shared = old.buffer instanceof SharedArrayBuffer && neu.buffer instanceof SharedArrayBuffer;
  const workerCount =
    shared && segments.length >= PARALLEL_MIN_SEGMENTS ? Math.min(opts.threads, segments.length) - 1 : 0;
  const job: EncodeJob = {
    old,
    neu,
    segments: segments.map((s) => ({ start: s.start, end: s.end, covers: flattenCovers(s.covers) })),
    model: opts.model ?? 3,
    shared: new SharedArrayBuffer(4 * (1 + segments.length)),
  };
  const workers = Array.from({ length: Math.max(0, workerCount) }, () =>
    runWorker<EncodedSegment[]>(import.meta.url, 'encode-worker', job, opts.signal),
  );
  const finish = async (): Promise<ModelledStream[]> => {
    try {
      const counters = new Int32Array(job.shared);
      const report = opts.onProgress
        ? () => {
            let done = 0;
            for (let k = 0; k < segments.length; k++) done += Atomics.load(counters, k + 1);
            opts.onProgress?.(done);
          }
        : undefined;
      const streams: ModelledStream[] = new Array(segments.length);
      for (const { index, stream } of encodeClaimed(job, segments, opts.signal, report))
        streams[index] = stream;
      for (const w of workers) for (const { index, stream } of await w.result) streams[index] = stream;
      return streams;
    } finally {
      for (const w of workers) w.stop();
    }
  };
  return { workers: workers.length, finish };
}

/**
 * Claims and encodes segments until none is left (in a worker, and on the calling thread); `covers`: the
 * segments' covers where the caller has them as objects already.
 */
export function encodeClaimed(
  job: EncodeJob,
  covers?: readonly { covers: Cover[] }[],
  signal?: AbortSignal,
  onProgress?: () => void,
): EncodedSegment[] {
  const counters = new Int32Array(job.shared);
  const out: EncodedSegment[] = [];
  for (let k = Atomics.add(counters, 0, 1); k < job.segments.length; k = Atomics.add(counters, 0, 1)) {
    const seg = job.segments[k] as EncodeJob['segments'][number];
    const stream = encodeModelledStream(job.old, job.neu, covers?.[k]?.covers ?? coversOf(seg.covers), seg, {
      model: job.model,
      onProgress: (doneNewBytes) => {
        Atomics.store(counters, k + 1, doneNewBytes - seg.start);
        onProgress?.();
      },
      ...(signal ? { signal } : {}),
    });
    Atomics.store(counters, k + 1, seg.end - seg.start);
    out.push({ index: k, stream });
  }
  return out;
}

// Small stream and file-handle helpers shared by the writer, gunzipToTar and the extractor.
import { type FileHandle, open, rm } from 'node:fs/promises';
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { writeStreamAtomic } from '@tufup/common';
import { io } from './errors.js';

/** A source followed by transforms: the stream stages of one pass over archive bytes. */
export type StreamStages = [Readable, ...Transform[]];

/**
 * Run `stages` and write what comes out of the last one to `path` atomically (common's writeStreamAtomic:
 * temp file, fsync, rename; nothing left behind on failure). A failure anywhere fails both halves; the
 * upstream error, the root cause, wins.
 */
export async function writeStagesAtomic(
  path: string,
  stages: StreamStages,
  signal: AbortSignal | undefined,
): Promise<void> {
  const options = signal ? { signal } : {};
  const output = stages[stages.length - 1] as Readable;
  const feeding = stages.length > 1 ? pipeline(stages, options) : Promise.resolve();
  const writing = writeStreamAtomic(path, output, options);
  const [fed, written] = await Promise.allSettled([feeding, writing]);
  if (fed.status === 'rejected') throw fed.reason;
  if (written.status === 'rejected') throw written.reason;
}

/**
 * Run `stages` into a new file at `path` (created exclusively: never an existing file or a symlink), without
 * fsync: for scratch files that are deleted after use and are worthless after a crash. On failure the file
 * is removed.
 */
export async function writeStagesScratch(
  path: string,
  stages: StreamStages,
  signal: AbortSignal | undefined,
): Promise<void> {
  const fh = await io(`creating ${path}`, () => open(path, 'wx'));
  try {
    // The write stream closes the descriptor when it ends or fails.
    await pipeline([...stages, fh.createWriteStream()], signal ? { signal } : {});
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(path, { force: true });
    throw err;
  }
}

/** Write all of `chunk` at the handle's position (a single write may be partial). */
export async function writeAll(fh: FileHandle, chunk: Buffer, path: string): Promise<void> {
  let written = 0;
  while (written < chunk.length) {
    const { bytesWritten } = await io(`writing ${path}`, () =>
      fh.write(chunk, written, chunk.length - written),
    );
    written += bytesWritten;
  }
}

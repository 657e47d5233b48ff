// Atomic file writes and temp dirs: the only way @tufup packages put files where others will read them.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, mkdtemp, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';

/** A sibling temp path for `path`: same directory, so a rename onto `path` is atomic. */
export function siblingTempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

/** fsync a directory so a rename in it survives a power cut (a no-op where directories can't be opened). */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(dir, constants.O_RDONLY);
    await fh.sync();
  } catch {
    // Windows cannot open directories; rename there is already durable enough.
  } finally {
    await fh?.close();
  }
}

export interface AtomicWriteOptions {
  /** File mode, e.g. 0o600 for private keys. Applied before the file becomes visible. */
  mode?: number;
  /**
   * false: skip the fsyncs that make the file survive a power cut (readers still see the old file or the
   * complete new one). For caches that are verified again before every use. Default true.
   */
  durable?: boolean;
}

/** Write `data` to `path` atomically: temp file in the same dir, fsync, rename. Readers see old or new, never half. */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  opts: AtomicWriteOptions = {},
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = siblingTempPath(path);
  const fh = await open(tmp, 'wx', opts.mode ?? 0o644);
  try {
    await fh.writeFile(data);
    if (opts.mode !== undefined) await fh.chmod(opts.mode);
    if (opts.durable !== false) await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  if (opts.durable !== false) await fsyncDir(dirname(path));
}

/** Stream `source` into `path` atomically (temp file + fsync + rename). Nothing is left behind on failure. */
export async function writeStreamAtomic(
  path: string,
  source: Readable | AsyncIterable<Uint8Array>,
  opts: AtomicWriteOptions & { signal?: AbortSignal } = {},
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = siblingTempPath(path);
  // Create the file before streaming, so it exists (and is ours to remove) whenever the source can fail; the
  // stream writes through this descriptor and closes it, and never opens the path again.
  const fh = await open(tmp, 'wx', opts.mode ?? 0o644);
  try {
    await pipeline(source, fh.createWriteStream(), opts.signal ? { signal: opts.signal } : {});
    const written = await open(tmp, 'r+');
    try {
      if (opts.mode !== undefined) await written.chmod(opts.mode);
      if (opts.durable !== false) await written.sync();
    } finally {
      await written.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
  if (opts.durable !== false) await fsyncDir(dirname(path));
}

/** Make a fresh temp dir under `parent` (default: the OS temp dir) with a recognizable prefix. */
export async function makeTempDir(prefix = 'tufup-', parent?: string): Promise<string> {
  const { tmpdir } = await import('node:os');
  const base = parent ?? tmpdir();
  await mkdir(base, { recursive: true });
  return mkdtemp(join(base, prefix));
}

/** Run `fn` with a fresh temp dir that is removed afterwards, whatever happens. */
export async function withTempDir<T>(
  fn: (dir: string) => Promise<T>,
  prefix = 'tufup-',
  parent?: string,
): Promise<T> {
  const dir = await makeTempDir(prefix, parent);
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

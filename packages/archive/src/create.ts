// createArchive: a bundle directory → reproducible .tar.gz (and optionally the plain .tar), sizes and sha256s in one pass.
import { createHash } from 'node:crypto';
import { type Stats, closeSync, constants as fsConstants, lstatSync, openSync, readSync } from 'node:fs';
import { setImmediate } from 'node:timers/promises';
import { lstat, mkdir, open, readdir, readlink, rename, rm, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { createGzip } from 'node:zlib';
import {
  HashingStream,
  type OnProgress,
  type SizeAndHash,
  fsyncDir,
  siblingTempPath,
  throttleProgress,
  throwIfAborted,
  isInsideOrSame,
  wrapError,
} from '@tufup/common';
import { ArchiveError, io, ioSync } from './errors.js';
import { type StreamStages, writeAll, writeStagesAtomic } from './file-io.js';
import { describeSymlinkProblem, splitMemberName, symlinkTargetProblem } from './paths.js';
import { type MemberHeader, encodeMemberHeader, endOfArchive, paddingAfter } from './tar-format.js';

/** mtime of every member when neither `mtime`, SOURCE_DATE_EPOCH nor `keepMtimes` says otherwise: 2000-01-01T00:00:00Z. */
export const DEFAULT_MTIME = 946684800;
/** gzip level used unless `gzipLevel` is given; README.md has the measurements behind it. */
export const DEFAULT_GZIP_LEVEL = 6;

export interface CreateArchiveOptions {
  /** Also write the plain .tar here (same bytes that were gzipped). */
  tarPath?: string;
  /** zlib level 0-9; default DEFAULT_GZIP_LEVEL. */
  gzipLevel?: number;
  /** mtime of every member (seconds since the epoch, or a Date). Default: SOURCE_DATE_EPOCH, else DEFAULT_MTIME. */
  mtime?: number | Date;
  /** Store each member's real mtime instead (the archive then depends on when files were written). */
  keepMtimes?: boolean;
  /** Store permission bits as they are instead of 0644/0755 by the owner-exec bit. */
  keepModes?: boolean;
  /**
   * Store symlinks whose target is absolute or leaves the bundle (default: refuse with SYMLINK_OUTSIDE_BUNDLE).
   * extractArchive refuses such archives: only for consumers that accept them.
   */
  allowExternalSymlinks?: boolean;
  /** Progress in bytes of tar written, phase 'archive'; total is the exact tar size. */
  onProgress?: OnProgress;
  signal?: AbortSignal;
}

export interface CreateArchiveResult {
  /** Size and sha256 of the uncompressed tar (what patches are made from; tufup's tar_size / tar_hash). */
  tar: SizeAndHash;
  /** Size and sha256 of the .tar.gz file (the TUF target). */
  gzip: SizeAndHash;
  /** Number of members, the root `./` included. */
  members: number;
}

interface BundleMember extends MemberHeader {
  /** Absolute path of a regular file's content. */
  sourcePath?: string;
}

const TAR_CHUNK = 1024 * 1024;
/** Files up to this size are read whole, up to READ_AHEAD_MEMBERS members ahead of the one being written. */
const SMALL_FILE = 256 * 1024;
const READ_AHEAD_MEMBERS = 16;
/** createTar reads small files synchronously, this many between turns of the event loop. */
const SMALL_FILES_PER_TURN = 64;
const GZIP_CHUNK = 64 * 1024;
const STAT_CONCURRENCY = 64;
/** createTar's ring: the chunk being hashed, the one being written, the one being filled. */
const RECYCLED_CHUNKS = 3;

/**
 * Archive the contents of `bundleDir` as `archivePath` (.tar.gz), members named `./...` like python tufup's.
 * The same bundle gives the same bytes whatever the order on disk, mtimes, owners and umask: members are in
 * depth-first order with each directory's entries sorted by the UTF-8 bytes of their names (GNU tar
 * --sort=name and python tufup order), uid/gid 0, no user/group names, one mtime, modes 0644/0755.
 */
export async function createArchive(
  bundleDir: string,
  archivePath: string,
  opts: CreateArchiveOptions = {},
): Promise<CreateArchiveResult> {
  const level = opts.gzipLevel ?? DEFAULT_GZIP_LEVEL;
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new ArchiveError({ code: 'INVALID_OPTION', message: `gzipLevel must be 0-9, got ${level}` });
  }
  const tar = await scanTar(bundleDir, [archivePath, opts.tarPath], opts);

  const tarHash = new HashingStream();
  const gzipHash = new HashingStream();
  const tarCopy = opts.tarPath ? await TarCopy.open(opts.tarPath) : undefined;
  try {
    const stages: StreamStages = [
      tar.stream(),
      tarHash,
      ...(tarCopy ? [tarCopy.stream] : []),
      createGzip({ level, chunkSize: GZIP_CHUNK }),
      new GzipOsNormalizer(),
      gzipHash,
    ];
    await writeStagesAtomic(archivePath, stages, opts.signal);
  } catch (err) {
    await tarCopy?.discard();
    throw wrapError(err, ArchiveError, 'IO_ERROR', `writing ${archivePath}`);
  }
  if (tarCopy) {
    try {
      await tarCopy.commit();
    } catch (err) {
      await tarCopy.discard();
      // Both files or neither: the .tar.gz without its .tar is not the result that was asked for.
      await rm(archivePath, { force: true });
      throw wrapError(err, ArchiveError, 'IO_ERROR', `writing ${opts.tarPath}`);
    }
  }
  const tarDigest = tarHash.digest();
  const gzip = gzipHash.digest();
  return {
    tar: { size: tarDigest.size, sha256: tarDigest.sha256 },
    gzip: { size: gzip.size, sha256: gzip.sha256 },
    members: tar.members,
  };
}

export interface CreateTarOptions
  extends Pick<
    CreateArchiveOptions,
    'mtime' | 'keepMtimes' | 'keepModes' | 'allowExternalSymlinks' | 'onProgress' | 'signal'
  > {
  /**
   * The size the tar must have (e.g. a signed tar_size): when the scanned bundle would make a tar of any
   * other size (tars come in 10 KiB records), fail with TAR_SIZE_MISMATCH before reading any file content.
   */
  expectSize?: number;
  /**
   * false: `tarPath` is a scratch file of the caller's (a fresh name, deleted after use): no fsync and
   * rename; still created exclusively and removed on failure. Default true.
   */
  durable?: boolean;
}

export interface CreateTarResult {
  tar: SizeAndHash;
  members: number;
}

/**
 * The plain tar `createArchive` would make of `bundleDir` (the same bytes, without the gzip pass), with its
 * size and sha256: the client rebuilds the tar of an installed version this way and checks it against the
 * signed tar_hash, so that a fresh install can be patched without its archive.
 */
export async function createTar(
  bundleDir: string,
  tarPath: string,
  opts: CreateTarOptions = {},
): Promise<CreateTarResult> {
  const tar = await scanTar(bundleDir, [tarPath], opts, true);
  if (opts.expectSize !== undefined && tar.size !== opts.expectSize) {
    throw new ArchiveError({
      code: 'TAR_SIZE_MISMATCH',
      message: `${bundleDir} makes a tar of ${tar.size} bytes, not the expected ${opts.expectSize}`,
    });
  }
  const durable = opts.durable !== false;
  const out = durable ? siblingTempPath(tarPath) : tarPath;
  const fh = await io(`creating ${out}`, () => open(out, 'wx', 0o644));
  const hash = createHash('sha256');
  let size = 0;
  try {
    // No stream pipeline: a loop that hashes each chunk and writes it while the next one is read, over three
    // recycled buffers. The client runs this on a fresh install's 150 MB bundle, where a fresh 1 MiB buffer
    // per chunk (page faults, garbage collection) and the stream machinery cost more than hashing.
    let writing: Promise<void> | undefined;
    try {
      for await (const chunk of tar.chunks(RECYCLED_CHUNKS)) {
        hash.update(chunk);
        size += chunk.length;
        await writing;
        writing = writeAll(fh, chunk, out);
      }
      await writing;
    } finally {
      await writing?.catch(() => {
        // the loop's own error is the one thrown
      });
    }
    if (durable) await fh.sync();
    await fh.close();
    if (durable) {
      await rename(out, tarPath);
      await fsyncDir(dirname(tarPath));
    }
  } catch (err) {
    await fh.close().catch(() => {
      // already closed
    });
    await rm(out, { force: true });
    throw wrapError(err, ArchiveError, 'IO_ERROR', `writing ${tarPath}`);
  }
  return { tar: { size, sha256: hash.digest('hex') }, members: tar.members };
}

/** A scanned bundle: what its tar will be, and the tar's bytes, read when consumed. */
interface ScannedTar {
  size: number;
  members: number;
  stream(): Readable;
  /** The bytes in TAR_CHUNK pieces over `ring` recycled buffers (see ChunkBuilder); 1: a fresh one each. */
  chunks(ring: number): AsyncGenerator<Buffer>;
}

async function scanTar(
  bundleDir: string,
  outputs: readonly (string | undefined)[],
  opts: CreateTarOptions,
  syncIo = false,
): Promise<ScannedTar> {
  const root = resolve(bundleDir);
  for (const out of outputs) {
    if (out !== undefined && isInsideOrSame(resolve(out), root)) {
      throw new ArchiveError({
        code: 'INVALID_OPTION',
        message: `output ${out} is inside the bundle ${bundleDir}`,
      });
    }
  }
  const mtime = opts.keepMtimes ? undefined : fixedMtime(opts.mtime);
  const members = await scanBundle(root, {
    mtime,
    keepModes: opts.keepModes ?? false,
    allowExternalSymlinks: opts.allowExternalSymlinks ?? false,
    signal: opts.signal,
    syncIo,
  });
  const size = predictTarSize(members);
  const chunks = (ring: number) =>
    tarBytes(members, size, throttleProgress(opts.onProgress), opts.signal, new ChunkBuilder(ring));
  return {
    size,
    members: members.length,
    stream: () => Readable.from(chunks(1), { objectMode: false }),
    chunks,
  };
}

function fixedMtime(mtime: number | Date | undefined): number {
  if (mtime instanceof Date) return Math.floor(mtime.getTime() / 1000);
  if (typeof mtime === 'number') {
    if (!Number.isSafeInteger(mtime)) {
      throw new ArchiveError({
        code: 'INVALID_OPTION',
        message: `mtime must be whole seconds, got ${mtime}`,
      });
    }
    return mtime;
  }
  const epoch = process.env.SOURCE_DATE_EPOCH;
  if (epoch === undefined || epoch === '') return DEFAULT_MTIME;
  if (!/^\d+$/.test(epoch)) {
    throw new ArchiveError({
      code: 'INVALID_OPTION',
      message: `SOURCE_DATE_EPOCH must be whole seconds since the epoch, got ${JSON.stringify(epoch)}`,
    });
  }
  return Number(epoch);
}

interface ScanOptions {
  mtime: number | undefined;
  keepModes: boolean;
  allowExternalSymlinks: boolean;
  signal: AbortSignal | undefined;
  /** lstat synchronously, as createTar reads small files (see tarBytes). */
  syncIo: boolean;
}

/** lstat of each name, synchronously (no thread-pool hop per entry), a turn of the event loop every 256. */
async function lstatEach(dir: string, names: readonly string[]): Promise<Stats[]> {
  const out: Stats[] = [];
  for (const [i, name] of names.entries()) {
    if (i > 0 && i % 256 === 0) await setImmediate();
    out.push(ioSync(`reading ${join(dir, name)}`, () => lstatSync(join(dir, name))));
  }
  return out;
}

/** Every member of the archive in archive order; refuses what cannot be archived before anything is written. */
async function scanBundle(root: string, opts: ScanOptions): Promise<BundleMember[]> {
  let rootStat: Stats;
  try {
    rootStat = await stat(root);
  } catch (err) {
    throw new ArchiveError({
      code: 'BUNDLE_NOT_DIRECTORY',
      message: `cannot read bundle ${root}`,
      cause: err,
    });
  }
  if (!rootStat.isDirectory()) {
    throw new ArchiveError({ code: 'BUNDLE_NOT_DIRECTORY', message: `bundle ${root} is not a directory` });
  }
  const members: BundleMember[] = [];
  members.push(directoryMember('.', rootStat, opts));
  await scanDirectory(root, [], members, opts);
  return members;
}

async function scanDirectory(
  absDir: string,
  parts: string[],
  members: BundleMember[],
  opts: ScanOptions,
): Promise<void> {
  throwIfAborted(opts.signal);
  const rawNames = await io(`reading directory ${absDir}`, () => readdir(absDir, { encoding: 'buffer' }));
  rawNames.sort(Buffer.compare);
  const names = rawNames.map((raw) => {
    const name = raw.toString('utf8');
    if (!Buffer.from(name, 'utf8').equals(raw)) {
      throw new ArchiveError({
        code: 'UNPORTABLE_NAME',
        message: `a name in ${absDir} is not valid UTF-8 (${JSON.stringify(name)})`,
      });
    }
    return name;
  });
  const stats = opts.syncIo
    ? await lstatEach(absDir, names)
    : await mapLimited(names, STAT_CONCURRENCY, (name) =>
        io(`reading ${join(absDir, name)}`, () => lstat(join(absDir, name))),
      );
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const st = stats[i]!;
    const abs = join(absDir, name);
    const childParts = [...parts, name];
    const relPath = childParts.join('/');
    try {
      splitMemberName(relPath);
    } catch (err) {
      throw new ArchiveError({
        code: 'UNPORTABLE_NAME',
        message: `${abs}: this name cannot be extracted safely everywhere`,
        cause: err,
      });
    }
    const memberName = `./${relPath}`;
    if (st.isDirectory()) {
      members.push(directoryMember(memberName, st, opts));
      await scanDirectory(abs, childParts, members, opts);
    } else if (st.isFile()) {
      if (st.nlink > 1) {
        throw new ArchiveError({
          code: 'HARDLINK_IN_BUNDLE',
          message: `${abs} has ${st.nlink} hard links; copy it so each path is its own file`,
        });
      }
      members.push({
        name: memberName,
        type: 'file',
        mode: opts.keepModes ? st.mode & 0o7777 : st.mode & 0o100 ? 0o755 : 0o644,
        size: st.size,
        mtime: opts.mtime ?? Math.floor(st.mtimeMs / 1000),
        sourcePath: abs,
      });
    } else if (st.isSymbolicLink()) {
      members.push(await symlinkMember(abs, memberName, childParts, st, opts));
    } else {
      throw new ArchiveError({
        code: 'UNSUPPORTED_FILE_TYPE',
        message: `${abs} is a ${describeFileType(st)}; a bundle holds only files, directories and symlinks`,
      });
    }
  }
}

function directoryMember(name: string, st: Stats, opts: ScanOptions): BundleMember {
  return {
    name,
    type: 'directory',
    mode: opts.keepModes ? st.mode & 0o7777 : 0o755,
    size: 0,
    mtime: opts.mtime ?? Math.floor(st.mtimeMs / 1000),
  };
}

async function symlinkMember(
  abs: string,
  memberName: string,
  parts: string[],
  st: Stats,
  opts: ScanOptions,
): Promise<BundleMember> {
  let target = await io(`reading symlink ${abs}`, () => readlink(abs));
  // Windows stores relative targets with backslashes; archives always use `/`.
  if (process.platform === 'win32' && !/^[A-Za-z]:|^\\\\/.test(target)) target = target.replace(/\\/g, '/');
  const problem = symlinkTargetProblem(parts, target);
  if (problem !== undefined) {
    const external = problem === 'absolute' || problem === 'leaves-root';
    if (!(external && opts.allowExternalSymlinks)) {
      throw new ArchiveError({
        code: external ? 'SYMLINK_OUTSIDE_BUNDLE' : 'UNSAFE_SYMLINK_TARGET',
        message: `symlink ${abs} → ${target}: ${describeSymlinkProblem(problem)}`,
      });
    }
  }
  return {
    name: memberName,
    type: 'symlink',
    // Symlink permissions mean nothing on Linux and vary on macOS: always 0777, as Linux reports them.
    mode: 0o777,
    size: 0,
    mtime: opts.mtime ?? Math.floor(st.mtimeMs / 1000),
    linkTarget: target,
  };
}

function describeFileType(st: Stats): string {
  if (st.isSocket()) return 'socket';
  if (st.isFIFO()) return 'FIFO';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  return 'file of unknown type';
}

function predictTarSize(members: readonly BundleMember[]): number {
  let size = 0;
  for (const m of members) {
    size += encodeMemberHeader(m).length;
    if (m.type === 'file') size += m.size + paddingAfter(m.size);
  }
  return size + endOfArchive(size).length;
}

/**
 * The tar as a byte stream of TAR_CHUNK-sized buffers: headers, small files and padding are packed together
 * and large files are read straight into the chunk, so each stage downstream (hash, gzip, write) makes one
 * trip per MiB rather than several per member.
 */
async function* tarBytes(
  members: readonly BundleMember[],
  total: number,
  progress: OnProgress | undefined,
  signal: AbortSignal | undefined,
  out: ChunkBuilder,
): AsyncGenerator<Buffer> {
  const report = () => progress?.({ phase: 'archive', done: out.total, total, unit: 'bytes' });
  // Small files are read a few members ahead, several at once: one by one, the open/read/close round
  // trips of thousands of small files would dominate.
  const readsAhead = new Map<number, Promise<Buffer>>();
  let scheduled = 0;
  const smallSync = out.recycles;
  let smallSinceTurn = 0;
  const readAhead = (from: number) => {
    if (smallSync) return;
    for (; scheduled < members.length && scheduled < from + READ_AHEAD_MEMBERS; scheduled++) {
      const m = members[scheduled]!;
      if (m.type !== 'file' || m.size === 0 || m.size > SMALL_FILE) continue;
      const reading = readSmallFile(m.sourcePath!, m.size);
      // Awaited in order below; if the archive fails first, the read is abandoned.
      reading.catch(() => {});
      readsAhead.set(scheduled, reading);
    }
  };
  report();
  for (let i = 0; i < members.length; i++) {
    throwIfAborted(signal);
    readAhead(i);
    const member = members[i]!;
    yield* out.append(encodeMemberHeader(member));
    if (member.type !== 'file' || member.size === 0) continue;
    const early = smallSync ? undefined : readsAhead.get(i);
    if (smallSync && member.size <= SMALL_FILE) {
      yield* appendSmallFile(out, member.sourcePath!, member.size);
      // Sync reads keep libuv's pool out of thousands of tiny reads; a turn of the event loop now and then
      // keeps the process responsive (a batch blocks it for about a millisecond).
      if (++smallSinceTurn >= SMALL_FILES_PER_TURN) {
        smallSinceTurn = 0;
        await setImmediate();
      }
    } else if (early) {
      readsAhead.delete(i);
      yield* out.append(await early);
    } else {
      for await (const full of readFileInto(out, member.sourcePath!, member.size, signal)) {
        yield full;
        report();
      }
    }
    yield* out.append(Buffer.alloc(paddingAfter(member.size)));
    report();
  }
  yield* out.append(endOfArchive(out.total));
  if (out.length > 0) yield out.take();
  report();
}

/**
 * All of a small file appended to `out` with synchronous reads straight into its chunk (no buffer of its own),
 * checked to still be `size` bytes long; yields each chunk that fills up.
 */
function* appendSmallFile(out: ChunkBuilder, path: string, size: number): Generator<Buffer> {
  const fd = ioSync(`opening ${path}`, () => openSync(path, fsConstants.O_RDONLY));
  try {
    let remaining = size;
    for (;;) {
      // One byte more than is left (when the chunk has room), so a file that grew shows.
      const want = Math.min(out.space, remaining + 1);
      const n = ioSync(`reading ${path}`, () => readSync(fd, out.buffer, out.length, want, null));
      if (n > remaining) {
        throw new ArchiveError({ code: 'FILE_CHANGED', message: `${path} grew while it was archived` });
      }
      if (n === 0) {
        if (remaining === 0) return;
        throw new ArchiveError({
          code: 'FILE_CHANGED',
          message: `${path} became shorter while it was archived`,
        });
      }
      out.grow(n);
      remaining -= n;
      if (out.space === 0) yield out.take();
      // A regular file reads short only at its end.
      if (remaining === 0 && n < want) return;
    }
  } finally {
    closeSync(fd);
  }
}

/** All of a small file, checked to still be `size` bytes long. */
async function readSmallFile(path: string, size: number): Promise<Buffer> {
  const fh = await io(`opening ${path}`, () => open(path, fsConstants.O_RDONLY));
  try {
    // One byte more than expected, to notice a file that grew.
    const buf = Buffer.allocUnsafe(size + 1);
    let filled = 0;
    for (;;) {
      const { bytesRead } = await io(`reading ${path}`, () =>
        fh.read(buf, filled, buf.length - filled, null),
      );
      if (bytesRead === 0) break;
      filled += bytesRead;
      if (filled > size) {
        throw new ArchiveError({ code: 'FILE_CHANGED', message: `${path} grew while it was archived` });
      }
    }
    if (filled < size) {
      throw new ArchiveError({
        code: 'FILE_CHANGED',
        message: `${path} became shorter while it was archived`,
      });
    }
    return buf.subarray(0, size);
  } finally {
    await fh.close();
  }
}

/**
 * Packs bytes into TAR_CHUNK-sized buffers. With a `ring` of n > 1 buffers, a chunk's buffer is filled again
 * n chunks later: the consumer must be done with a chunk by the time it has taken n − 1 more (createTar
 * hashes each chunk at once and has at most one write in flight: n = 3). A ring of 1 allocates each chunk.
 */
class ChunkBuilder {
  readonly #ring: Buffer<ArrayBuffer>[] = [];
  readonly #ringSize: number;
  #next = 0;
  buffer = Buffer.allocUnsafe(TAR_CHUNK);
  length = 0;
  /** Bytes appended so far, over all chunks. */
  total = 0;

  /** Whether buffers are recycled (the caller consumes chunks in step: createTar). */
  get recycles(): boolean {
    return this.#ringSize > 1;
  }

  constructor(ring = 1) {
    this.#ringSize = ring;
    if (ring > 1) this.#ring.push(this.buffer);
  }

  get space(): number {
    return TAR_CHUNK - this.length;
  }

  *append(bytes: Buffer): Generator<Buffer> {
    let offset = 0;
    while (offset < bytes.length) {
      const n = Math.min(this.space, bytes.length - offset);
      bytes.copy(this.buffer, this.length, offset, offset + n);
      this.grow(n);
      offset += n;
      if (this.space === 0) yield this.take();
    }
  }

  grow(n: number): void {
    this.length += n;
    this.total += n;
  }

  take(): Buffer {
    const full = this.buffer.subarray(0, this.length);
    if (this.#ringSize > 1) {
      this.#next = (this.#next + 1) % this.#ringSize;
      this.buffer = this.#ring[this.#next] ??= Buffer.allocUnsafe(TAR_CHUNK);
    } else {
      this.buffer = Buffer.allocUnsafe(TAR_CHUNK);
    }
    this.length = 0;
    return full;
  }
}

/**
 * Read exactly `size` bytes of a file into `out`, yielding each chunk that fills up. FILE_CHANGED when the
 * file turns out shorter or longer than when it was scanned: each read asks for one byte more than is left
 * (when the chunk has room), so a longer file shows without an extra read.
 */
async function* readFileInto(
  out: ChunkBuilder,
  path: string,
  size: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<Buffer> {
  const fh = await io(`opening ${path}`, () => open(path, fsConstants.O_RDONLY));
  try {
    let remaining = size;
    let sawEnd = false;
    while (remaining > 0) {
      throwIfAborted(signal);
      const want = Math.min(out.space, remaining + 1);
      const { bytesRead } = await io(`reading ${path}`, () => fh.read(out.buffer, out.length, want, null));
      if (bytesRead === 0) {
        throw new ArchiveError({
          code: 'FILE_CHANGED',
          message: `${path} became shorter while it was archived`,
        });
      }
      if (bytesRead > remaining) {
        throw new ArchiveError({ code: 'FILE_CHANGED', message: `${path} grew while it was archived` });
      }
      // A regular file reads short only at its end.
      sawEnd = bytesRead < want;
      out.grow(bytesRead);
      remaining -= bytesRead;
      if (out.space === 0) yield out.take();
    }
    if (!sawEnd) {
      const { bytesRead } = await io(`reading ${path}`, () => fh.read(Buffer.alloc(1), 0, 1, null));
      if (bytesRead !== 0) {
        throw new ArchiveError({ code: 'FILE_CHANGED', message: `${path} grew while it was archived` });
      }
    }
  } finally {
    await fh.close();
  }
}

/** Writes the tar bytes passing through to a temp file beside `tarPath`, renamed into place on commit. */
class TarCopy {
  private constructor(
    private readonly target: string,
    private readonly tempPath: string,
    private readonly fh: FileHandle,
    readonly stream: Transform,
  ) {}

  static async open(target: string): Promise<TarCopy> {
    await io(`creating ${dirname(target)}`, () => mkdir(dirname(target), { recursive: true }));
    const tempPath = siblingTempPath(target);
    const fh = await io(`creating ${tempPath}`, () => open(tempPath, 'wx', 0o644));
    const stream = new Transform({
      transform(chunk: Buffer, _enc, cb: TransformCallback) {
        writeAll(fh, chunk, tempPath).then(() => cb(null, chunk), cb);
      },
    });
    return new TarCopy(target, tempPath, fh, stream);
  }

  async commit(): Promise<void> {
    await this.fh.sync();
    await this.fh.close();
    await rename(this.tempPath, this.target);
    await fsyncDir(dirname(this.target));
  }

  async discard(): Promise<void> {
    await this.fh.close().catch(() => {
      // already closed by commit(); the temp file is removed below either way
    });
    await rm(this.tempPath, { force: true });
  }
}

/**
 * zlib writes the build's operating system into byte 9 of the gzip header (3 on Unix, 10/19 on Windows/macOS
 * builds); set it to 3 (Unix) so the same deflate output gives the same file everywhere.
 */
class GzipOsNormalizer extends Transform {
  #offset = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.#offset <= 9 && this.#offset + chunk.length > 9) chunk[9 - this.#offset] = 3;
    this.#offset += chunk.length;
    cb(null, chunk);
  }
}

async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

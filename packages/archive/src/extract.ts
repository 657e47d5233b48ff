// extractArchive: a .tar or .tar.gz into an empty directory, refusing every member that could reach outside it.
//
// How nothing lands outside `dest`:
// - every member name is checked (splitMemberName) before anything is done with it;
// - files are created with O_CREAT|O_EXCL|O_NOFOLLOW, directories with a plain mkdir: nothing existing is
//   ever opened, replaced or followed;
// - symlinks are only recorded while the archive streams by and created after its last member, so no file
//   or directory can be written through one; a member below a recorded symlink is refused;
// - a parent that already exists on disk but was not recorded (a case- or normalization-insensitive file
//   system folding two names into one) is lstat'ed: a real directory is fine, anything else is refused;
// - on any failure everything written is removed (dest had to be empty).
import { constants as fsConstants } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, realpath, rm, stat, symlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errnoCode, isNotFound, type OnProgress, throwIfAborted } from '@tufup/common';
import { ArchiveError, type ArchiveErrorCode, io } from './errors.js';
import { type NamePlatform, describeSymlinkProblem, splitMemberName, symlinkTargetProblem } from './paths.js';
import { writeAll } from './file-io.js';
import { type SmallFile, type SmallFileFailure, SmallFileWorker } from './small-file-worker.js';
import { TaskPool } from './task-pool.js';
import {
  FileByteSource,
  asReadError,
  checkMaxBytes,
  isGzipFile,
  streamByteSource,
  tarByteStages,
} from './read.js';
import { type TarMember, TarReader } from './tar-reader.js';

export interface ExtractArchiveOptions {
  /**
   * Refuse (SIZE_LIMIT_EXCEEDED) once the tar grows past this many bytes, counted after decompression.
   * The client passes the signed tar size: a gzip bomb stops there.
   */
  maxBytes?: number;
  /** Progress in bytes of the archive file read, phase 'extract'. */
  onProgress?: OnProgress;
  signal?: AbortSignal;
}

export interface ExtractArchiveResult {
  /** Regular files written. */
  files: number;
  /** Directories created (explicit members and implied parents; not dest itself). */
  directories: number;
  symlinks: number;
  /** Bytes of file content written. */
  bytes: number;
}

/**
 * Extract `archivePath` (gzip detected by its magic bytes, else plain tar) into `destDir`, which must be
 * empty or missing. Files, directories, symlinks and exec bits are restored; modes are reduced to
 * `(mode & 0o755) | owner rw(x)`; the root member's (`./`) mode is applied to `destDir` itself. Refuses unsafe members with a coded ArchiveError and then removes
 * everything it wrote.
 */
export async function extractArchive(
  archivePath: string,
  destDir: string,
  opts: ExtractArchiveOptions = {},
): Promise<ExtractArchiveResult> {
  checkMaxBytes(opts.maxBytes);
  throwIfAborted(opts.signal);
  const gzip = await isGzipFile(archivePath);
  const total = (await io(`reading ${archivePath}`, () => stat(archivePath))).size;
  const dest = await prepareDestination(destDir);
  const writer = new MemberWriter(dest.root, process.platform);
  try {
    await forEachMember(archivePath, { gzip, total, ...opts }, (member, content) =>
      writer.write(member, content),
    );
    await writer.settle(false);
    throwIfAborted(opts.signal);
    await writer.createSymlinks();
    return writer.result();
  } catch (err) {
    // Nothing may still be writing when the partial extraction is removed.
    await writer.settle(true);
    const failure = asReadError(err, archivePath);
    await removeExtracted(dest, failure);
    throw failure;
  }
}

interface Destination {
  root: string;
  /** We made dest, so a failure removes it entirely. */
  created: boolean;
}

async function prepareDestination(destDir: string): Promise<Destination> {
  let created = false;
  try {
    const st = await stat(destDir);
    if (!st.isDirectory()) {
      throw new ArchiveError({ code: 'DEST_NOT_EMPTY', message: `${destDir} exists and is not a directory` });
    }
    const names = await io(`reading ${destDir}`, () => readdir(destDir));
    if (names.length > 0) {
      throw new ArchiveError({
        code: 'DEST_NOT_EMPTY',
        message: `${destDir} is not empty (${names.length} entries); extract into an empty or new directory`,
      });
    }
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await io(`creating ${destDir}`, () => mkdir(destDir, { recursive: true }));
    created = true;
  }
  return { root: await io(`resolving ${destDir}`, () => realpath(destDir)), created };
}

/** Undo a failed extraction. If that fails too, say so in the error that is thrown (same code). */
async function removeExtracted(dest: Destination, failure: unknown): Promise<void> {
  try {
    if (dest.created) {
      await rm(dest.root, { recursive: true, force: true });
    } else {
      for (const name of await readdir(dest.root)) {
        await rm(join(dest.root, name), { recursive: true, force: true });
      }
    }
  } catch (cleanupErr) {
    const code: ArchiveErrorCode = failure instanceof ArchiveError ? failure.code : 'IO_ERROR';
    throw new ArchiveError({
      code,
      message: `${(failure as Error).message} (removing the partial extraction in ${dest.root} failed too: ${
        (cleanupErr as Error).message
      })`,
      cause: failure,
    });
  }
}

interface MemberStreamOptions {
  gzip: boolean;
  total: number;
  maxBytes?: number;
  onProgress?: OnProgress;
  signal?: AbortSignal;
}

/**
 * Read the archive's members and hand each to `onMember`, which reads its content (or leaves it to be
 * skipped) before it resolves. A plain tar is read through reused buffers; a gzipped one through the
 * gunzip stages.
 */
async function forEachMember(
  archivePath: string,
  opts: MemberStreamOptions,
  onMember: (member: TarMember, content: TarReader) => Promise<void>,
): Promise<void> {
  const byteOptions = {
    total: opts.total,
    phase: 'extract',
    maxBytes: opts.maxBytes,
    onProgress: opts.onProgress,
  };
  if (!opts.gzip) {
    const source = await FileByteSource.open(archivePath, { ...byteOptions, signal: opts.signal });
    try {
      await readMembers(new TarReader(source), opts.signal, onMember);
    } finally {
      await source.close();
    }
    return;
  }
  const stop = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  const stages = tarByteStages(archivePath, { gzip: true, ...byteOptions });
  let pipelineError: unknown;
  const piping = pipeline(stages, { signal }).catch((err: unknown) => {
    pipelineError = err;
  });
  const output = stages[stages.length - 1] as Readable;
  try {
    await readMembers(new TarReader(streamByteSource(output)), opts.signal, onMember);
  } catch (err) {
    stop.abort();
    await piping;
    // The pipeline's own failure (limit, gzip, I/O) is the cause when the reader merely saw its stream die.
    throw err instanceof ArchiveError || pipelineError === undefined || isAbortOf(pipelineError, stop)
      ? err
      : pipelineError;
  }
  await piping;
  if (pipelineError !== undefined) throw pipelineError;
}

async function readMembers(
  reader: TarReader,
  signal: AbortSignal | undefined,
  onMember: (member: TarMember, content: TarReader) => Promise<void>,
): Promise<void> {
  for (;;) {
    throwIfAborted(signal);
    const member = await reader.next();
    if (!member) return;
    await onMember(member, reader);
  }
}

function isAbortOf(err: unknown, stop: AbortController): boolean {
  return stop.signal.aborted && err instanceof Error && err.name === 'AbortError';
}

type Recorded = 'directory' | 'implied-directory' | 'symlink' | 'file';

interface PlannedSymlink {
  path: string;
  abs: string;
  target: string;
}

const O_NOFOLLOW = fsConstants.O_NOFOLLOW ?? 0;
/** Files up to this size are buffered and written PARALLEL_SMALL_FILES at a time. */
const SMALL_FILE = 256 * 1024;
const PARALLEL_SMALL_FILES = 8;
/**
 * The first this many small files go through libuv's pool; the rest to a SmallFileWorker (starting a
 * thread costs tens of milliseconds, which only an archive with many files wins back).
 */
const SMALL_FILES_BEFORE_WORKER = 64;
const CREATE_FILE = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | O_NOFOLLOW;

/** Writes members below `root`, remembering the path and kind of each (keys: `a/b/c`). */
class MemberWriter {
  readonly #recorded = new Map<string, Recorded>();
  readonly #symlinks: PlannedSymlink[] = [];
  readonly #pending = new TaskPool(PARALLEL_SMALL_FILES);
  readonly #worker = new SmallFileWorker((file, failure) => this.describeWorkerFailure(file, failure));
  #smallFiles = 0;
  /** Whether small files go to the worker: once enough have been seen, if a thread can be started. */
  #useWorker = false;
  #umaskKeeps755: boolean | undefined;
  #files = 0;
  #directories = 0;
  #bytes = 0;

  constructor(
    private readonly root: string,
    private readonly platform: NamePlatform,
  ) {}

  result(): ExtractArchiveResult {
    return {
      files: this.#files,
      directories: this.#directories,
      symlinks: this.#symlinks.length,
      bytes: this.#bytes,
    };
  }

  /** Write one member; a file's content is read from `content` (the reader skips anything left unread). */
  async write(header: TarMember, content: TarReader): Promise<void> {
    const name = header.name;
    const type = memberType(header);
    const size = header.size;
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new ArchiveError({
        code: 'CORRUPT_ARCHIVE',
        message: `member ${name} has an invalid size ${size}`,
      });
    }
    if (type !== 'file' && size !== 0) {
      // Other readers skip such data or read it as members: refuse instead of guessing.
      throw new ArchiveError({
        code: 'CORRUPT_ARCHIVE',
        message: `${type} member ${name} carries ${size} bytes of data`,
      });
    }
    const parts = splitMemberName(name, this.platform);
    if (parts.length === 0) {
      if (type !== 'directory') {
        throw new ArchiveError({ code: 'UNSAFE_PATH', message: `member ${name} (the root) is a ${type}` });
      }
      // The root member (`./`) carries the bundle dir's mode: dest gets it like any other directory.
      const rootMode = (header.mode & 0o755) | 0o700;
      await io(`setting the mode of ${this.root}`, () => chmod(this.root, rootMode));
      return;
    }
    const target = header.linkname;
    if (type === 'symlink') checkSymlinkTarget(parts, target, name);
    await this.makeParents(parts, name);
    if (type === 'file') {
      await this.writeFile(parts, header, content);
    } else if (type === 'directory') {
      await this.makeDirectory(parts, header.mode, name);
    } else {
      this.planSymlink(parts, target, name);
    }
  }

  private async makeParents(parts: readonly string[], name: string): Promise<void> {
    for (let i = 1; i < parts.length; i++) {
      const path = parts.slice(0, i).join('/');
      const recorded = this.#recorded.get(path);
      if (recorded === 'directory' || recorded === 'implied-directory') continue;
      if (recorded === 'symlink') {
        throw new ArchiveError({
          code: 'ENTRY_THROUGH_SYMLINK',
          message: `member ${name} lies below ${path}, which is a symlink in this archive`,
        });
      }
      if (recorded === 'file') {
        throw new ArchiveError({
          code: 'PARENT_NOT_DIRECTORY',
          message: `member ${name} lies below ${path}, which is a file in this archive`,
        });
      }
      const abs = join(this.root, ...parts.slice(0, i));
      try {
        await mkdir(abs, 0o755);
        await this.applyDirMode(abs, 0o755);
        this.#directories++;
      } catch (err) {
        const onDisk = await this.existing(err, abs, name);
        if (onDisk === 'symlink') {
          throw new ArchiveError({
            code: 'ENTRY_THROUGH_SYMLINK',
            message: `member ${name} lies below ${path}, which is a symlink`,
          });
        }
        if (onDisk !== 'directory') {
          throw new ArchiveError({
            code: 'PARENT_NOT_DIRECTORY',
            message: `member ${name} lies below ${path}, which is a file in this archive`,
          });
        }
        // A real directory we made under another spelling (case-insensitive file system): safe to use.
      }
      this.#recorded.set(path, 'implied-directory');
    }
  }

  private async makeDirectory(parts: readonly string[], mode: number, name: string): Promise<void> {
    const path = parts.join('/');
    const recorded = this.#recorded.get(path);
    const abs = join(this.root, ...parts);
    const dirMode = (mode & 0o755) | 0o700;
    if (recorded === 'implied-directory') {
      this.#recorded.set(path, 'directory');
      if (dirMode !== 0o755) await io(`setting the mode of ${abs}`, () => chmod(abs, dirMode));
      return;
    }
    if (recorded !== undefined) {
      throw new ArchiveError({
        code: 'DUPLICATE_ENTRY',
        message: `member ${name} appears twice in the archive`,
      });
    }
    try {
      await mkdir(abs, dirMode);
    } catch (err) {
      await this.existing(err, abs, name);
      throw new ArchiveError({
        code: 'DUPLICATE_ENTRY',
        message: `member ${name} appears twice in the archive`,
      });
    }
    await this.applyDirMode(abs, dirMode);
    this.#recorded.set(path, 'directory');
    this.#directories++;
  }

  /**
   * mkdir applies the umask. A chmod per directory is only needed when the umask takes bits of 0o755: the
   * first directory made with 0o755 tells (without reading the process-wide umask, which is racy).
   */
  private async applyDirMode(abs: string, mode: number): Promise<void> {
    if (this.#umaskKeeps755) return;
    if (this.#umaskKeeps755 === undefined && mode === 0o755) {
      const st = await io(`checking ${abs}`, () => lstat(abs));
      this.#umaskKeeps755 = (st.mode & 0o777) === 0o755;
      if (this.#umaskKeeps755) return;
    }
    await io(`setting the mode of ${abs}`, () => chmod(abs, mode));
  }

  private async writeFile(parts: readonly string[], header: TarMember, content: TarReader): Promise<void> {
    const name = header.name;
    const path = parts.join('/');
    const recorded = this.#recorded.get(path);
    if (recorded === 'directory' || recorded === 'implied-directory') {
      throw new ArchiveError({
        code: 'REPLACES_DIRECTORY',
        message: `file member ${name} would replace a directory`,
      });
    }
    if (recorded !== undefined) {
      throw new ArchiveError({
        code: 'DUPLICATE_ENTRY',
        message: `member ${name} appears twice in the archive`,
      });
    }
    this.#recorded.set(path, 'file');
    const abs = join(this.root, ...parts);
    const mode = (header.mode & 0o755) | 0o600;
    const size = header.size;
    if (size <= SMALL_FILE && ++this.#smallFiles === SMALL_FILES_BEFORE_WORKER + 1) {
      this.#useWorker = this.#worker.start();
    }
    if (size <= SMALL_FILE && this.#useWorker) {
      // Copied into the worker's slab now (the reader reuses its buffers), created there in a batch.
      await this.#worker.add({ abs, name, mode, mtime: header.mtime, size }, (into) =>
        content.readContentInto(into),
      );
    } else if (size <= SMALL_FILE) {
      // Copied out now (the reader reuses its buffers), written alongside the next members.
      const data = await content.readContent();
      await this.#pending.add(() =>
        this.createFile(abs, name, mode, header.mtime, (fh) => writeAll(fh, data, abs)),
      );
    } else {
      await this.createFile(abs, name, mode, header.mtime, (fh) =>
        content.streamContent((piece) => writeAll(fh, piece, abs)),
      );
    }
    this.#files++;
    this.#bytes += size;
  }

  /** Create a new file (never an existing one, never through a symlink), fill it, then set mode and mtime. */
  private async createFile(
    abs: string,
    name: string,
    mode: number,
    mtime: Date,
    fill: (fh: FileHandle) => Promise<void>,
  ): Promise<void> {
    let fh: FileHandle;
    try {
      fh = await open(abs, CREATE_FILE, 0o600);
    } catch (err) {
      const onDisk = await this.existing(err, abs, name);
      throw new ArchiveError(
        onDisk === 'directory'
          ? { code: 'REPLACES_DIRECTORY', message: `file member ${name} would replace a directory` }
          : { code: 'DUPLICATE_ENTRY', message: `member ${name} appears twice in the archive` },
      );
    }
    try {
      await fill(fh);
      // Modes are set after the content is written, so nothing half-written is ever executable.
      await io(`setting the mode of ${abs}`, () => fh.chmod(mode));
      await io(`setting the mtime of ${abs}`, () => fh.utimes(mtime, mtime));
    } finally {
      await fh.close();
    }
  }

  /** Wait for the small files still being written; `failed`: after an error, ignore theirs. Ends the worker. */
  async settle(failed: boolean): Promise<void> {
    try {
      if (failed) {
        await this.#pending.settle();
      } else {
        await this.#pending.drain();
        await this.#worker.drain();
      }
    } finally {
      // The thread ends with nothing in flight, so nothing is written after this returns.
      await this.#worker.settle();
      await this.#worker.close();
    }
  }

  /** The same errors createFile gives, for a file the worker could not create or fill. */
  private async describeWorkerFailure(file: SmallFile, failure: SmallFileFailure): Promise<unknown> {
    if (failure.step === 'write') {
      return new ArchiveError({
        code: 'IO_ERROR',
        message: `writing ${file.abs}: ${failure.error.message}`,
        cause: failure.error,
      });
    }
    try {
      const onDisk = await this.existing(failure.error, file.abs, file.name);
      return new ArchiveError(
        onDisk === 'directory'
          ? { code: 'REPLACES_DIRECTORY', message: `file member ${file.name} would replace a directory` }
          : { code: 'DUPLICATE_ENTRY', message: `member ${file.name} appears twice in the archive` },
      );
    } catch (err) {
      return err;
    }
  }

  private planSymlink(parts: readonly string[], target: string, name: string): void {
    const path = parts.join('/');
    const recorded = this.#recorded.get(path);
    if (recorded !== undefined) {
      throw new ArchiveError(
        recorded === 'directory' || recorded === 'implied-directory'
          ? { code: 'REPLACES_DIRECTORY', message: `symlink member ${name} would replace a directory` }
          : { code: 'DUPLICATE_ENTRY', message: `member ${name} appears twice in the archive` },
      );
    }
    this.#recorded.set(path, 'symlink');
    this.#symlinks.push({ path, abs: join(this.root, ...parts), target });
  }

  /** Create the recorded symlinks, now that no other member can be written through them. */
  async createSymlinks(): Promise<void> {
    for (const link of this.#symlinks) {
      let target = link.target;
      let kind: 'file' | 'dir' | undefined;
      if (this.platform === 'win32') {
        // Windows needs to know whether the link is to a directory, and wants backslashes.
        kind = await stat(resolve(dirname(link.abs), target)).then(
          (st) => (st.isDirectory() ? 'dir' : 'file'),
          () => 'file' as const,
        );
        target = target.replace(/\//g, '\\');
      }
      try {
        await symlink(target, link.abs, kind);
      } catch (err) {
        if (errnoCode(err) === 'EPERM' && this.platform === 'win32') {
          throw new ArchiveError({
            code: 'SYMLINK_NOT_PERMITTED',
            message:
              `cannot create symlink ${link.path}: Windows allows symlinks only with Developer Mode on ` +
              'or the "Create symbolic links" privilege (run elevated)',
            cause: err,
          });
        }
        const onDisk = await this.existing(err, link.abs, link.path);
        throw new ArchiveError(
          onDisk === 'directory'
            ? { code: 'REPLACES_DIRECTORY', message: `symlink member ${link.path} would replace a directory` }
            : { code: 'DUPLICATE_ENTRY', message: `member ${link.path} appears twice in the archive` },
        );
      }
    }
  }

  /** After an EEXIST, what is on disk at `abs`; any other error is rethrown as IO_ERROR. */
  private async existing(
    err: unknown,
    abs: string,
    name: string,
  ): Promise<'directory' | 'symlink' | 'other'> {
    const code = errnoCode(err);
    // ELOOP: O_NOFOLLOW met a symlink; ENOTDIR: a parent is not a directory.
    if (code === 'ELOOP') return 'symlink';
    if (code === 'ENOTDIR') return 'other';
    if (code !== 'EEXIST') {
      throw new ArchiveError({
        code: 'IO_ERROR',
        message: `extracting ${name}: ${(err as Error).message}`,
        cause: err,
      });
    }
    const st = await io(`checking ${abs}`, () => lstat(abs));
    if (st.isSymbolicLink()) return 'symlink';
    return st.isDirectory() ? 'directory' : 'other';
  }
}

function checkSymlinkTarget(parts: readonly string[], target: string, name: string): void {
  const problem = symlinkTargetProblem(parts, target);
  if (problem !== undefined) {
    throw new ArchiveError({
      code: 'UNSAFE_SYMLINK_TARGET',
      message: `symlink member ${name} → ${target}: ${describeSymlinkProblem(problem)}`,
    });
  }
}

function memberType(header: TarMember): 'file' | 'directory' | 'symlink' {
  const name = header.name;
  switch (header.type) {
    case 'file':
    case 'directory':
    case 'symlink':
      return header.type;
    case 'link':
      throw new ArchiveError({
        code: 'HARDLINK_ENTRY',
        message: `member ${name} is a hard link (to ${header.linkname}); bundles may not contain hard links`,
      });
    case 'character-device':
    case 'block-device':
    case 'fifo':
      throw new ArchiveError({ code: 'SPECIAL_FILE_ENTRY', message: `member ${name} is a ${header.type}` });
    default:
      throw new ArchiveError({
        code: 'UNSUPPORTED_ENTRY',
        message: `member ${name} has an unsupported type (typeflag ${JSON.stringify(header.typeflag)})`,
      });
  }
}

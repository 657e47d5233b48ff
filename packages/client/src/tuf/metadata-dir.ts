// Crash-safe trusted metadata: tuf-js works on a scratch copy; what it changed is moved in by atomic renames.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { type Logger, fsyncDir, isNotFound, isProcessAlive } from '@tufup/common';
import { ClientError, asClientError } from '../errors.js';

const SCRATCH = /^\.tuf-refresh-(\d+)-[0-9a-f]{12}$/;
/** Moved in first: once a new root is in place, files signed by its keys may follow. */
const COMMIT_ORDER = ['root.json', 'timestamp.json', 'snapshot.json', 'targets.json'];

/**
 * tuf-js persists each verified metadata file with `writeFileSync` onto the file it replaces: a crash or a
 * power cut in the middle of that leaves a torn `root.json`, and an app that can never update again. So
 * tuf-js never writes into `metadataDir`: it gets a scratch copy (`.tuf-refresh-<pid>-<random>` inside it,
 * same volume), and afterwards every file it changed is fsynced and renamed over the trusted one, root
 * first. Any moment's state of `metadataDir` is then a set of whole files tuf-js verified, which it accepts
 * (or re-fetches) at the next start. Scratch dirs of processes that died are removed.
 *
 * The files are a few KB, so they are read and written synchronously, as tuf-js does: a thread-pool round
 * trip per file would cost the no-update check more than the copying itself.
 */
export class MetadataScratch {
  readonly dir: string;
  readonly #trustedDir: string;
  readonly #originals: Map<string, Buffer>;

  private constructor(trustedDir: string, dir: string, originals: Map<string, Buffer>) {
    this.#trustedDir = trustedDir;
    this.dir = dir;
    this.#originals = originals;
  }

  /**
   * The trusted metadata files (`*.json` in `trustedDir`), read once; scratch dirs of refreshes whose process died
   * are removed on the way. TRUSTED_ROOT_MISSING without a root.json.
   */
  static readTrusted(trustedDir: string, logger: Logger): Map<string, Buffer> {
    const originals = new Map<string, Buffer>();
    try {
      for (const entry of readdirSync(trustedDir, { withFileTypes: true })) {
        const { name } = entry;
        const stale = SCRATCH.exec(name);
        if (stale && entry.isDirectory() && !isProcessAlive(Number(stale[1]))) {
          rmSync(join(trustedDir, name), { recursive: true, force: true });
          logger.debug(`removed ${name}, left by a refresh that did not finish`);
        } else if (entry.isFile() && isMetadataFileName(name)) {
          originals.set(name, readFileSync(join(trustedDir, name)));
        }
      }
    } catch (err) {
      throw isNotFound(err)
        ? missingRoot(trustedDir, err)
        : asClientError(err, 'CACHE_IO_FAILED', `cannot read the trusted metadata in ${trustedDir}`);
    }
    if (!originals.has('root.json')) throw missingRoot(trustedDir, undefined);
    return originals;
  }

  /** A scratch copy of the trusted files (`originals`, as readTrusted read them). */
  static async create(
    trustedDir: string,
    logger: Logger,
    originals: Map<string, Buffer> = MetadataScratch.readTrusted(trustedDir, logger),
  ): Promise<MetadataScratch> {
    const dir = join(trustedDir, `.tuf-refresh-${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      mkdirSync(dir);
      for (const [name, bytes] of originals) writeFileSync(join(dir, name), bytes);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw asClientError(err, 'CACHE_IO_FAILED', `cannot prepare the metadata refresh in ${trustedDir}`);
    }
    return new MetadataScratch(trustedDir, dir, originals);
  }

  /** Every metadata file in the scratch dir as tuf-js left it: what the trusted dir holds after commit(). */
  readAll(): Map<string, Buffer> {
    const files = new Map<string, Buffer>();
    for (const name of readdirSync(this.dir)) {
      if (isMetadataFileName(name)) files.set(name, readFileSync(join(this.dir, name)));
    }
    return files;
  }

  /** A file as tuf-js left it in the scratch dir (undefined when it has none). */
  async read(name: string): Promise<Buffer | undefined> {
    try {
      return readFileSync(join(this.dir, name));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Move every file tuf-js wrote (changed or new) over the trusted one, durably, root first. Returns their names. */
  async commit(): Promise<string[]> {
    const names = readdirSync(this.dir).filter((n) => n.endsWith('.json'));
    const rank = (n: string) => (COMMIT_ORDER.includes(n) ? COMMIT_ORDER.indexOf(n) : COMMIT_ORDER.length);
    names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    const moved: string[] = [];
    try {
      for (const name of names) {
        const path = join(this.dir, name);
        const bytes = readFileSync(path);
        if (this.#originals.get(name)?.equals(bytes)) continue;
        const fd = openSync(path, 'r+');
        try {
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        renameSync(path, join(this.#trustedDir, name));
        moved.push(name);
      }
      if (moved.length) await fsyncDir(this.#trustedDir);
    } catch (err) {
      throw asClientError(
        err,
        'CACHE_IO_FAILED',
        `cannot store the refreshed metadata in ${this.#trustedDir}`,
      );
    }
    return moved;
  }

  async discard(): Promise<void> {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function isMetadataFileName(name: string): boolean {
  return name.endsWith('.json') && !name.startsWith('.');
}

function missingRoot(dir: string, cause: unknown): ClientError {
  return new ClientError({
    code: 'TRUSTED_ROOT_MISSING',
    message: `no trusted root.json in ${dir}: ship the repository's root.json with the app`,
    cause,
  });
}

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
import {
  type LockFile,
  type Logger,
  describeLockHolder,
  fsyncDir,
  isNotFound,
  isProcessAlive,
  tryLockFile,
} from '@tufup/common';
import { ClientError, asClientError } from '../errors.js';

const SCRATCH = /^\.tuf-refresh-(\d+)-[0-9a-f]{12}$/;
/** Moved in first: once a new root is in place, files signed by its keys may follow. */
const COMMIT_ORDER = ['root.json', 'timestamp.json', 'snapshot.json', 'targets.json'];
/** Held while a refresh moves its files in, so two processes' commits never interleave. */
const COMMIT_LOCK = '.tuf-commit.lock';
/**
 * A commit takes milliseconds: a lock older than this was left by a process that stopped (its pid reused, or
 * its host named otherwise since), and is taken over well before a waiting commit would give up.
 */
const COMMIT_LOCK_STALE_MS = 10_000;
/** How often a commit looks again at a held lock, and how long it waits in all before it gives up. */
const COMMIT_LOCK_POLL_MS = 10;
const COMMIT_LOCK_WAIT_MS = 30_000;

/**
 * tuf-js persists each verified metadata file with `writeFileSync` onto the file it replaces: a crash or a
 * power cut in the middle of that leaves a torn `root.json`, and an app that can never update again. So
 * tuf-js never writes into `metadataDir`: it gets a scratch copy (`.tuf-refresh-<pid>-<random>` inside it,
 * same volume), and afterwards every file it changed is fsynced and renamed over the trusted one, root
 * first. Any moment's state of `metadataDir` is then a set of whole files tuf-js verified, which it accepts
 * (or re-fetches) at the next start. Scratch dirs of processes that died are removed.
 *
 * Two processes of an app may refresh at once (two instances, or the app beside its background check). Their
 * commits take turns under a lock file, and a commit never puts back an older version of a file than the one
 * it finds in place, nor anything at all once another refresh has trusted a newer root: a slower refresh that
 * fetched timestamp v5 must not roll back the v6 a faster one stored meanwhile.
 *
 * The files are a few KB, so they are read and written synchronously, as tuf-js does: a thread-pool round
 * trip per file would cost the no-update check more than the copying itself.
 */
export class MetadataScratch {
  readonly dir: string;
  readonly #trustedDir: string;
  readonly #originals: Map<string, Buffer>;
  readonly #logger: Logger;

  private constructor(trustedDir: string, dir: string, originals: Map<string, Buffer>, logger: Logger) {
    this.#trustedDir = trustedDir;
    this.dir = dir;
    this.#originals = originals;
    this.#logger = logger;
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
    return new MetadataScratch(trustedDir, dir, originals, logger);
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
    return readIfExists(join(this.dir, name));
  }

  /**
   * Move every file tuf-js wrote (changed or new) over the trusted one, durably, root first; under the commit
   * lock, and never over a newer version (see the class). Returns the names of the files moved. Once `signal`
   * is aborted it does not wait for the lock: a held lock then means nothing is stored (the next refresh
   * fetches the files again).
   */
  async commit(signal?: AbortSignal): Promise<string[]> {
    const rank = (n: string) => (COMMIT_ORDER.includes(n) ? COMMIT_ORDER.indexOf(n) : COMMIT_ORDER.length);
    const moved: string[] = [];
    try {
      const changed = new Map<string, Buffer>();
      for (const name of readdirSync(this.dir).filter((n) => n.endsWith('.json'))) {
        const bytes = readFileSync(join(this.dir, name));
        if (!this.#originals.get(name)?.equals(bytes)) changed.set(name, bytes);
      }
      if (changed.size === 0) return moved;
      const names = [...changed.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
      const lock = await this.#lockCommits(signal);
      if (!lock) {
        this.#logger.debug('refresh aborted while another process stored its metadata: nothing stored');
        return moved;
      }
      try {
        const trustedRoot = versionOf(readIfExists(join(this.#trustedDir, 'root.json')));
        const myRoot = versionOf(readIfExists(join(this.dir, 'root.json')));
        if (trustedRoot !== undefined && myRoot !== undefined && trustedRoot > myRoot) {
          this.#logger.debug(
            `kept the trusted metadata: another refresh trusted root v${trustedRoot} meanwhile (this one v${myRoot})`,
          );
          return moved;
        }
        for (const name of names) {
          const path = join(this.dir, name);
          const theirs = versionOf(readIfExists(join(this.#trustedDir, name)));
          const mine = versionOf(changed.get(name));
          if (theirs !== undefined && mine !== undefined && theirs > mine) {
            this.#logger.debug(
              `kept ${name} v${theirs}, stored by another refresh meanwhile (this one: v${mine})`,
            );
            continue;
          }
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
      } finally {
        await lock.release();
      }
    } catch (err) {
      throw asClientError(
        err,
        'CACHE_IO_FAILED',
        `cannot store the refreshed metadata in ${this.#trustedDir}`,
      );
    }
    return moved;
  }

  /**
   * The commit lock, once no other live process holds it (CACHE_IO_FAILED after COMMIT_LOCK_WAIT_MS);
   * undefined when it is held and `signal` is aborted.
   */
  async #lockCommits(signal: AbortSignal | undefined): Promise<LockFile | undefined> {
    const path = join(this.#trustedDir, COMMIT_LOCK);
    for (let waited = 0; ; waited += COMMIT_LOCK_POLL_MS) {
      const attempt = await tryLockFile(path, {
        command: 'storing refreshed metadata',
        staleAfterMs: COMMIT_LOCK_STALE_MS,
      });
      if (!attempt.held) return attempt.lock;
      if (signal?.aborted) return undefined;
      const holder = describeLockHolder(attempt.holder);
      if (waited >= COMMIT_LOCK_WAIT_MS) {
        throw new ClientError({
          code: 'CACHE_IO_FAILED',
          message: `cannot store the refreshed metadata in ${this.#trustedDir}: ${holder} has held ${COMMIT_LOCK} for ${COMMIT_LOCK_WAIT_MS / 1000} s`,
        });
      }
      if (waited === 0) this.#logger.debug(`waiting for ${holder} to finish storing its metadata`);
      await new Promise((resolve) => setTimeout(resolve, COMMIT_LOCK_POLL_MS));
    }
  }

  async discard(): Promise<void> {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A file's bytes; undefined when there is none. */
function readIfExists(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** The `signed.version` of a metadata file's bytes; undefined for none, or bytes that are not such a file. */
function versionOf(bytes: Buffer | undefined): number | undefined {
  if (bytes === undefined) return undefined;
  try {
    const version = (JSON.parse(bytes.toString('utf8')) as { signed?: { version?: unknown } })?.signed
      ?.version;
    return Number.isSafeInteger(version) ? (version as number) : undefined;
  } catch {
    return undefined;
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

// The target cache (targetDir): names of what it holds, verifying the current version's archive, pruning.
import { createReadStream } from 'node:fs';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipToTar } from '@tufup/archive';
import {
  hashFile,
  isAbortError,
  isNoSpace,
  type Logger,
  readdirOrEmpty,
  type SizeAndHash,
  sameDigest,
  siblingTempPath,
} from '@tufup/common';
import { type TargetName, compareVersions, formatTargetName, tryParseTargetName } from '@tufup/metadata';
import { ClientError, asClientError } from './errors.js';
import { type InstalledBundle, rebuildInstalledTar } from './first-install.js';
import type { SignedTarget } from './targets.js';

/** What a cache entry is, found from its name alone. */
interface CacheEntry {
  name: string;
  target: TargetName;
  kind: 'target' | 'tar' | 'failed' | 'partial' | 'temp';
}

/** A verified uncompressed tar of the current version, ready to patch; `temporary` ones are deleted after use. */
export interface CurrentTar {
  path: string;
  temporary: boolean;
  /**
   * Set when these exact bytes were just hashed and matched the signed tar size and sha256 (the version's
   * patch metadata): the first patch may take them as its checked base instead of hashing the file again.
   * Unset when only the .tar.gz could be checked (against the signed archive hashes).
   */
  verified?: SizeAndHash;
}

/**
 * Layout of `targetDir` (flat, like python tufup's cache):
 * - `<app>-<v>.tar.gz`, `<app>-<v>.patch`: verified downloads (the names tuf-js gives them, as in python tufup);
 * - `<app>-<v>.tar`: the uncompressed tar a patch chain produced, checked against the signed tar_hash;
 * - `<app>-<v>.patch.failed`: marker of a patch that failed (python tufup's convention), so later checks plan
 *   the full archive;
 * - `.<target>.<sha256 prefix>.partial`: an interrupted download, resumed by the next attempt;
 * - `.<name>.<random>.tmp`: atomic-write temp files, garbage if found later.
 */
export class UpdateCache {
  readonly dir: string;
  readonly appName: string;
  readonly #logger: Logger;
  /** The running version's install dir: the patch base of last resort (a fresh install has no cache). */
  readonly #installed: InstalledBundle | undefined;

  constructor(dir: string, appName: string, logger: Logger, installed?: InstalledBundle) {
    this.dir = dir;
    this.appName = appName;
    this.#logger = logger;
    this.#installed = installed;
  }

  targetPath(filename: string): string {
    return join(this.dir, filename);
  }

  archivePath(version: string): string {
    return join(this.dir, formatTargetName(this.appName, version, 'archive'));
  }

  tarPath(version: string): string {
    return this.archivePath(version).slice(0, -'.gz'.length);
  }

  /** Keyed by the signed hash, so a partial of an older file with the same name is never resumed. */
  partialPath(target: SignedTarget): string {
    const digest = Object.values(target.info.hashes)[0] ?? 'nohash';
    return join(this.dir, `.${target.filename}.${digest.slice(0, 16)}.partial`);
  }

  async ensureDir(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
    } catch (err) {
      throw asClientError(err, 'CACHE_IO_FAILED', `cannot create the target cache ${this.dir}`);
    }
  }

  /** File names of patches that failed before (`<patch>.failed` exists). */
  async failedPatches(): Promise<Set<string>> {
    const out = new Set<string>();
    for (const e of await this.#entries()) if (e.kind === 'failed') out.add(e.target.filename);
    return out;
  }

  async markFailed(filenames: Iterable<string>): Promise<void> {
    for (const f of filenames) {
      try {
        await writeFile(join(this.dir, `${f}.failed`), '');
      } catch (err) {
        this.#logger.warn(`cannot mark ${f} as failed: ${(err as Error).message}`);
      }
    }
  }

  /**
   * Cheap check (no hashing) that there is something for patches to apply to: a `.tar` whose signed hash is
   * known, a `.tar.gz` that is either the signed archive or can be checked via the signed tar hash, or an
   * install dir that can be rebuilt into the signed tar.
   */
  async hasCurrentBase(version: string, targets: readonly SignedTarget[]): Promise<boolean> {
    const { patch, archive, fileVersion } = signedOf(version, targets);
    if (patch && (await isFile(this.tarPath(fileVersion)))) return true;
    if ((patch !== undefined || archive !== undefined) && (await isFile(this.archivePath(fileVersion))))
      return true;
    return hasSignedTar(patch) && this.#installed !== undefined && (await isDirectory(this.#installed.dir));
  }

  /**
   * The current version's uncompressed tar, verified against signed data before anything is applied to it:
   * the cached `.tar` against the signed tar size/sha256 (known when the version was published with a
   * patch); else the `.tar.gz`, unpacked and checked against that tar hash (so a `.tar.gz` python tufup
   * rebuilt after a patch update is fine too) or, without one, against the signed archive hashes; else (a
   * fresh install, nothing cached) the install dir, archived again and checked against that tar hash.
   * Throws CACHE_INVALID when none verifies; a cached file that fails is deleted.
   */
  async currentTar(
    version: string,
    targets: readonly SignedTarget[],
    opts: { signal?: AbortSignal; onVerify?: (done: number, total: number, file: string) => void } = {},
  ): Promise<CurrentTar> {
    const { patch, archive, fileVersion } = signedOf(version, targets);
    const tar = this.tarPath(fileVersion);
    const gz = this.archivePath(fileVersion);
    const reasons: string[] = [];
    if (patch?.tarSize !== undefined && patch.tarHash && (await isFile(tar))) {
      const got = await hashFile(tar, opts.signal ? { signal: opts.signal } : {}).catch((err: unknown) => {
        throw asClientError(err, 'CACHE_IO_FAILED', `cannot read ${tar}`);
      });
      opts.onVerify?.(got.size, got.size, basename(tar));
      if (got.size === patch.tarSize && sameDigest(got.sha256, patch.tarHash))
        return { path: tar, temporary: false, verified: { size: got.size, sha256: patch.tarHash } };
      reasons.push(`${basename(tar)} does not match its signed tar hash`);
      await rm(tar, { force: true });
    }
    if ((await isFile(gz)) && (patch?.tarHash !== undefined || archive)) {
      // With a signed tar hash the unpacked tar is checked directly (which also accepts a .tar.gz that python
      // tufup rebuilt after a patch update); without one the .tar.gz must be the signed archive. The check
      // and the unpacking read the file side by side.
      const out = siblingTempPath(tar);
      const [unpacked, archiveCheck] = await Promise.allSettled([
        // A scratch tar, deleted after this update: durability would only cost flushing it to disk.
        gunzipToTar(gz, out, {
          durable: false,
          ...(patch?.tarSize !== undefined ? { maxBytes: patch.tarSize } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
        }),
        patch?.tarHash !== undefined ? Promise.resolve() : archive!.info.verify(createReadStream(gz)),
      ]);
      for (const r of [unpacked, archiveCheck]) {
        if (r.status === 'rejected' && (isAbortError(r.reason) || isNoSpace(r.reason))) {
          await rm(out, { force: true });
          throw asClientError(r.reason, 'CACHE_IO_FAILED', `cannot unpack ${gz}`);
        }
      }
      if (archiveCheck.status === 'rejected') {
        reasons.push(`${basename(gz)} does not match the signed archive`);
      } else if (unpacked.status === 'rejected') {
        reasons.push(`${basename(gz)} does not unpack: ${(unpacked.reason as Error).message}`);
      } else if (
        patch?.tarHash !== undefined &&
        (unpacked.value.size !== patch.tarSize || !sameDigest(unpacked.value.sha256, patch.tarHash))
      ) {
        reasons.push(`${basename(gz)} unpacks to a tar that does not match its signed tar hash`);
      } else {
        opts.onVerify?.(unpacked.value.size, unpacked.value.size, basename(gz));
        return {
          path: out,
          temporary: true,
          ...(patch?.tarHash !== undefined
            ? { verified: { size: unpacked.value.size, sha256: patch.tarHash } }
            : {}),
        };
      }
      await rm(out, { force: true });
      await rm(gz, { force: true });
    } else if (reasons.length === 0) {
      reasons.push(`neither ${basename(tar)} nor ${basename(gz)} is cached`);
    }
    if (hasSignedTar(patch) && this.#installed) {
      const rebuilt = await rebuildInstalledTar(
        this.#installed,
        tar,
        { size: patch.tarSize, sha256: patch.tarHash },
        opts.signal ? { signal: opts.signal } : {},
      );
      if (rebuilt.ok) {
        opts.onVerify?.(rebuilt.verified.size, rebuilt.verified.size, basename(this.#installed.dir));
        return { path: rebuilt.path, temporary: true, verified: rebuilt.verified };
      }
      reasons.push(rebuilt.reason);
    }
    if (!patch && !archive) reasons.push(`version ${version} is not in the signed targets`);
    throw new ClientError({
      code: 'CACHE_INVALID',
      message: `the cached current version ${version} cannot be verified: ${reasons.join('; ')}`,
    });
  }

  /**
   * Delete every cache entry of this app whose name is not in `keep` (downloads, tars, partials, failed
   * markers, temp files); files of other apps and unknown files are left alone. Returns what was removed.
   */
  async prune(keep: ReadonlySet<string>): Promise<string[]> {
    const removed: string[] = [];
    for (const e of await this.#entries()) {
      if (keep.has(e.name)) continue;
      try {
        await rm(join(this.dir, e.name), { force: true, recursive: true });
        removed.push(e.name);
      } catch (err) {
        this.#logger.warn(`cannot remove ${e.name} from the cache: ${(err as Error).message}`);
      }
    }
    return removed;
  }

  /** The cache names that make up `target` while it downloads or once cached. */
  namesOf(target: SignedTarget): string[] {
    return [target.filename, basename(this.partialPath(target))];
  }

  async #entries(): Promise<CacheEntry[]> {
    let names: string[];
    try {
      names = await readdirOrEmpty(this.dir);
    } catch (err) {
      throw asClientError(err, 'CACHE_IO_FAILED', `cannot list the target cache ${this.dir}`);
    }
    const out: CacheEntry[] = [];
    for (const name of names) {
      const entry = this.#classify(name);
      if (entry) out.push(entry);
    }
    return out;
  }

  #classify(name: string): CacheEntry | undefined {
    const own = (filename: string | undefined): TargetName | undefined => {
      const t = filename === undefined ? undefined : tryParseTargetName(filename);
      return t && t.name === this.appName ? t : undefined;
    };
    const entry = (target: TargetName | undefined, kind: CacheEntry['kind']) =>
      target ? { name, target, kind } : undefined;
    const partial = /^\.(.+)\.[0-9a-z]{1,16}\.partial$/.exec(name)?.[1];
    const temp = /^\.(.+)\.[0-9a-f]{12}\.tmp$/.exec(name)?.[1];
    return (
      entry(own(name), 'target') ??
      (name.endsWith('.tar') ? entry(own(`${name}.gz`), 'tar') : undefined) ??
      (name.endsWith('.failed') ? entry(own(name.slice(0, -'.failed'.length)), 'failed') : undefined) ??
      entry(own(partial), 'partial') ??
      entry(own(temp) ?? (temp?.endsWith('.tar') ? own(`${temp}.gz`) : undefined), 'temp')
    );
  }
}

/**
 * The signed targets of `version` (PEP 440 equality: an app saying 1.0.0 runs the published 1.0) and the
 * version string its cache files are named with (the published one when there is one).
 */
export function signedOf(
  version: string,
  targets: readonly SignedTarget[],
): { patch: SignedTarget | undefined; archive: SignedTarget | undefined; fileVersion: string } {
  const same = (t: SignedTarget) => compareVersions(t.version, version) === 0;
  const patch = targets.find((t) => t.kind === 'patch' && same(t));
  const archive = targets.find((t) => t.kind === 'archive' && same(t));
  return { patch, archive, fileVersion: archive?.version ?? patch?.version ?? version };
}

function basename(path: string): string {
  return path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1);
}

function hasSignedTar(
  patch: SignedTarget | undefined,
): patch is SignedTarget & { tarSize: number; tarHash: string } {
  return patch?.tarSize !== undefined && patch.tarHash !== undefined;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

// Staging dirs: the new version extracted beside the install dir (same volume) for the installer to swap in.
import { readdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { extractArchive } from '@tufup/archive';
import { type Logger, type OnProgress, makeTempDir } from '@tufup/common';
import { compareVersions, isValidVersion } from '@tufup/metadata';
import { asClientError } from './errors.js';

/**
 * Where staging dirs go and how they are named: `<parent>/.<install dir name>.tufup-staging-<version>-<random>`,
 * with `parent` the install dir's parent by default, so the installer can rename instead of copy.
 */
export class StagingArea {
  readonly parent: string;
  readonly #prefix: string;
  readonly #logger: Logger;

  constructor(installDir: string, logger: Logger, parent?: string) {
    this.parent = parent ?? dirname(installDir);
    this.#prefix = `.${basename(installDir)}.tufup-staging-`;
    this.#logger = logger;
  }

  /**
   * Extract `archive` (.tar or .tar.gz) into a fresh staging dir, with `maxBytes` (the signed tar size,
   * when known) as the limit against archive bombs. Earlier staging dirs are removed first: a new update
   * supersedes whatever an interrupted or declined one left. Nothing is left behind on failure.
   */
  async stage(
    archive: string,
    version: string,
    opts: { maxBytes?: number; signal?: AbortSignal; onProgress?: OnProgress } = {},
  ): Promise<string> {
    await this.remove(() => true);
    let dir: string;
    try {
      dir = await makeTempDir(`${this.#prefix}${version}-`, this.parent);
    } catch (err) {
      throw asClientError(err, 'EXTRACT_FAILED', `cannot create a staging dir in ${this.parent}`);
    }
    try {
      await extractArchive(archive, dir, {
        ...(opts.maxBytes !== undefined ? { maxBytes: opts.maxBytes } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      });
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw asClientError(err, 'EXTRACT_FAILED', `cannot extract ${basename(archive)} for staging`);
    }
    return dir;
  }

  /** Remove staging dirs whose version satisfies `which` (unparseable leftovers always go). */
  async remove(which: (version: string) => boolean): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.parent);
    } catch {
      return [];
    }
    const removed: string[] = [];
    for (const name of names) {
      if (!name.startsWith(this.#prefix)) continue;
      const version = name.slice(this.#prefix.length, -7);
      if (isValidVersion(version) && !which(version)) continue;
      try {
        await rm(join(this.parent, name), { recursive: true, force: true });
        removed.push(name);
      } catch (err) {
        this.#logger.warn(`cannot remove the old staging dir ${name}: ${(err as Error).message}`);
      }
    }
    return removed;
  }

  /** Staging dirs of versions up to `current` are done with once the app runs `current`. */
  removeUpTo(current: string): Promise<string[]> {
    return this.remove((v) => compareVersions(v, current) <= 0);
  }
}

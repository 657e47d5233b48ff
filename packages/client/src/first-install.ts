// First install: the running version's tar rebuilt from the install dir, a patch base once it equals the signed tar.
import { rm } from 'node:fs/promises';
import { ArchiveError, DEFAULT_MTIME, createTar } from '@tufup/archive';
import { type SizeAndHash, isAbortError, isNoSpace, sameDigest, siblingTempPath } from '@tufup/common';
import { ClientError } from './errors.js';

/** Where the running version is installed, and how its archive was made. */
export interface InstalledBundle {
  /** The install dir: its contents are the archive's contents (as `tufup export` writes them). */
  dir: string;
  /**
   * The one mtime the release's archive gave every member, in seconds: the repository side's default
   * (`DEFAULT_MTIME`, 2000-01-01) unless it published with SOURCE_DATE_EPOCH or an explicit mtime.
   */
  mtime: number;
}

export type RebuiltTar = { ok: true; path: string; verified: SizeAndHash } | { ok: false; reason: string };

/** What `tufup targets add` gives every member unless SOURCE_DATE_EPOCH says otherwise. */
export const DEFAULT_ARCHIVE_MTIME = DEFAULT_MTIME;

/**
 * Archives are reproducible (fixed order, mtime, owners and modes), so an unmodified install dir turns back
 * into the very tar that was published: the same bytes as the signed `tar_size`/`tar_hash` of the version's
 * patch. The tar is written as a scratch file beside `tarPath` (the caller deletes it after use) and hashed
 * on the way; it is only returned when it matches, so nothing from the install dir is used unverified. A
 * bundle that scans to another tar size (tars grow in 10 KiB records: many files added, one grown a lot, or
 * another tar layout such as python tufup's) is refused before any content is read.
 *
 * A modified or unreadable install is `{ ok: false }` (the caller downloads the full archive instead); an
 * abort or a full disk is thrown, as the archive download would fail the same way.
 */
export async function rebuildInstalledTar(
  installed: InstalledBundle,
  tarPath: string,
  signed: SizeAndHash,
  opts: { signal?: AbortSignal } = {},
): Promise<RebuiltTar> {
  const out = siblingTempPath(tarPath);
  try {
    const made = await createTar(installed.dir, out, {
      mtime: installed.mtime,
      expectSize: signed.size,
      durable: false,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (made.tar.size === signed.size && sameDigest(made.tar.sha256, signed.sha256)) {
      return { ok: true, path: out, verified: { size: signed.size, sha256: signed.sha256 } };
    }
    await rm(out, { force: true });
    return { ok: false, reason: `the install dir ${installed.dir} differs from the signed tar (modified?)` };
  } catch (err) {
    await rm(out, { force: true });
    if (isAbortError(err)) throw err;
    if (isNoSpace(err)) {
      throw new ClientError({
        code: 'NO_SPACE',
        message: `cannot rebuild the tar of ${installed.dir}: the disk is full`,
        cause: err,
      });
    }
    const detail = err instanceof ArchiveError ? `${err.code}: ${err.message}` : (err as Error).message;
    return { ok: false, reason: `the install dir cannot be rebuilt into the signed tar (${detail})` };
  }
}

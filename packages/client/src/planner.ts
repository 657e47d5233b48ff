// The update planner: which version to go to and whether by a patch chain or the full archive (pure).
import { type Channel, compareVersions, versionInChannel } from '@tufup/metadata';

/** One signed target of the app, as the planner needs it (read from verified targets metadata). */
export interface AppTarget {
  filename: string;
  version: string;
  kind: 'archive' | 'patch';
  /** Signed length in bytes. */
  length: number;
  /** Archives: a required release (clients stop at it). */
  required: boolean;
  /** Archives: the app developer's custom metadata (release notes...), null when none. */
  user: unknown;
  /** Patches: size and sha256 of the uncompressed tar the patch produces (signed). */
  tarSize?: number;
  tarHash?: string;
}

/** Why the full archive is used instead of patches. */
export type FullArchiveReason =
  | 'patches-disabled'
  | 'no-patches'
  | 'patches-too-large'
  | 'no-cached-archive'
  | 'patch-failed-before'
  | 'chain-not-contiguous';

export interface PlanInput {
  currentVersion: string;
  /** The app's targets (archives and patches, any version), in any order. */
  targets: readonly AppTarget[];
  /** Channel: undefined → final releases only. */
  pre?: Channel | undefined;
  /** Allow patches (default true). */
  patch?: boolean;
  /** Skip past required releases to the newest one (default false). */
  ignoreRequired?: boolean;
  /** Whether the current version's archive (or tar) is in the cache, so patches have something to apply to. */
  currentArchiveCached: boolean;
  /** File names of patches that failed before (their `.failed` markers). */
  failedPatches?: ReadonlySet<string>;
  /** Patches are used only while their total is at most this fraction of the archive (default 0.8). */
  maxPatchRatio?: number;
}

export interface UpdatePlan {
  version: string;
  archive: AppTarget;
  /** The chain in application order; empty when the full archive is downloaded. */
  patches: AppTarget[];
  /** Set when `patches` is empty: why the full archive. */
  fullArchiveReason?: FullArchiveReason;
  /** Bytes to download: the patches' total, or the archive's length. */
  downloadSize: number;
  required: boolean;
  /** The chosen release's user custom metadata. */
  custom: unknown;
}

export const MAX_PATCH_RATIO = 0.8;

/**
 * python tufup's `check_for_updates`, plus a contiguity check:
 * 1. candidates are archives newer than the current version in the channel (a → a,b,rc; b → b,rc; rc → rc;
 *    finals always); walking them in version order, the first `required` one stops the walk unless
 *    `ignoreRequired`, otherwise the newest wins;
 * 2. the chain is every patch with current < version ≤ chosen, pre-releases included whatever the channel;
 * 3. the full archive instead when patches are off, there are none, they total more than 0.8 × the archive,
 *    the current archive isn't cached, one failed before, or the chain skips a published version (a release
 *    added without a patch, or the current version not published at all): python tufup would try such a
 *    chain, fail its hash check and only fall back on the next run.
 * Returns undefined when there is nothing newer.
 */
export function planUpdate(input: PlanInput): UpdatePlan | undefined {
  const current = input.currentVersion;
  const newer = input.targets
    .filter((t) => compareVersions(t.version, current) > 0)
    .sort((a, b) => compareVersions(a.version, b.version));
  const candidates = newer.filter((t) => t.kind === 'archive' && versionInChannel(t.version, input.pre));
  let chosen: AppTarget | undefined;
  for (const archive of candidates) {
    chosen = archive;
    if (archive.required && !input.ignoreRequired) break;
  }
  if (!chosen) return undefined;
  const target = chosen;

  const chain = newer.filter((t) => t.kind === 'patch' && compareVersions(t.version, target.version) <= 0);
  const base = { version: target.version, archive: target, required: target.required, custom: target.user };
  const full = (reason: FullArchiveReason): UpdatePlan => ({
    ...base,
    patches: [],
    fullArchiveReason: reason,
    downloadSize: target.length,
  });

  if (input.patch === false) return full('patches-disabled');
  const patchTotal = chain.reduce((sum, p) => sum + p.length, 0);
  if (chain.length === 0 || patchTotal === 0) return full('no-patches');
  if (patchTotal > (input.maxPatchRatio ?? MAX_PATCH_RATIO) * target.length) return full('patches-too-large');
  if (!input.currentArchiveCached) return full('no-cached-archive');
  if (chain.some((p) => input.failedPatches?.has(p.filename))) return full('patch-failed-before');
  if (!isContiguous(input.targets, current, target.version, chain)) return full('chain-not-contiguous');
  return { ...base, patches: chain, downloadSize: patchTotal };
}

/**
 * A tufup patch for version v goes from the release published just before v. So the chain reaches `to` from
 * `from` iff `from` itself was published and every published version in (from, to] has a patch, and no
 * version has two patches. Linear after one sort of the targets (a client far behind has a long chain).
 */
export function isContiguous(
  targets: readonly AppTarget[],
  from: string,
  to: string,
  chain: readonly AppTarget[],
): boolean {
  const sorted = [...targets].sort((a, b) => compareVersions(a.version, b.version));
  const published: string[] = [];
  for (const t of sorted) {
    const last = published[published.length - 1];
    if (last === undefined || compareVersions(last, t.version) !== 0) published.push(t.version);
  }
  if (!published.some((v) => compareVersions(v, from) === 0)) return false;
  const between = published.filter((v) => compareVersions(v, from) > 0 && compareVersions(v, to) <= 0);
  if (between.length !== chain.length) return false;
  // Both in version order: each published version has exactly one patch iff they pair up one to one.
  const patches = [...chain].sort((a, b) => compareVersions(a.version, b.version));
  return between.every((v, i) => compareVersions(patches[i]!.version, v) === 0);
}

// The update planner: which version to go to and whether by a patch chain or the full archive (pure).
import { createHash } from 'node:crypto';
import { type Channel, DEFAULT_CHANNEL, compareVersions, versionInChannel } from '@tufup/metadata';

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
  /** Archives: the signed release channel (default `stable`). */
  channel?: string;
  /** Archives: the signed staged-rollout percentage, 0..100 (default 100). */
  rolloutPercent?: number;
  /** Archives: a yanked release (signed): never installed, and its installs are offered a way off it. */
  yanked?: boolean;
  yankReason?: string;
}

/** Why the full archive is used instead of patches. */
export type FullArchiveReason =
  | 'patches-disabled'
  | 'no-patches'
  | 'patches-too-large'
  | 'no-cached-archive'
  | 'patch-failed-before'
  | 'chain-not-contiguous'
  /** Going down from a yanked release: patches never run backwards. */
  | 'downgrade';

/** Why a plan goes to a lower version: the running release was yanked. */
export interface Downgrade {
  /** The running (yanked) version. */
  from: string;
  reason: 'yanked';
  /** The signed yank reason, when the publisher gave one. */
  yankReason?: string;
}

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
  /** The release channel: releases of `stable` and of this channel are eligible (default `stable`). */
  channel?: string;
  /**
   * The install's rollout id and the app name its buckets are keyed with. Without one, releases in a partial
   * rollout (0 < percent < 100) are not eligible.
   */
  rollout?: { installId: string; appName: string };
  /** A client running a yanked release may go down to the newest eligible one (default true). */
  allowDowngrade?: boolean;
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
  /** Set when the plan goes to a lower version (only ever because the running release was yanked). */
  downgrade?: Downgrade;
}

/**
 * The rollout bucket of an install for one release: the first 4 bytes (big-endian) of
 * sha256(`<installId>:<appName>:<version>`) mod 10000. The install is in a rollout of p percent iff its
 * bucket < p × 100, so raising p only ever adds installs.
 */
export function rolloutBucket(installId: string, appName: string, version: string): number {
  const digest = createHash('sha256').update(`${installId}:${appName}:${version}`, 'utf8').digest();
  return digest.readUInt32BE(0) % 10000;
}

/** Whether an install is in the rollout of `archive` (100 %: everyone; 0 %: nobody; else by its bucket). */
export function inRollout(archive: AppTarget, rollout: PlanInput['rollout']): boolean {
  const percent = archive.rolloutPercent ?? 100;
  if (percent >= 100) return true;
  if (percent <= 0 || !rollout) return false;
  return rolloutBucket(rollout.installId, rollout.appName, archive.version) < percent * 100;
}

/** Whether some archive is in a partial rollout, i.e. the install id is needed to decide. */
export function needsInstallId(targets: readonly AppTarget[]): boolean {
  return targets.some(
    (t) => t.kind === 'archive' && (t.rolloutPercent ?? 100) > 0 && (t.rolloutPercent ?? 100) < 100,
  );
}

/** Whether the client may install `archive`: channel, pre-release filter, not yanked, in the rollout. */
export function isEligible(archive: AppTarget, input: PlanInput): boolean {
  const channel = archive.channel ?? DEFAULT_CHANNEL;
  return (
    archive.kind === 'archive' &&
    (channel === DEFAULT_CHANNEL || channel === (input.channel ?? DEFAULT_CHANNEL)) &&
    versionInChannel(archive.version, input.pre) &&
    archive.yanked !== true &&
    inRollout(archive, input.rollout)
  );
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
 * Eligible releases (step 1) are also those of the client's release channel (or `stable`), not yanked, and in
 * the rollout for this install. A client running a yanked release with nothing newer eligible goes down to
 * the newest eligible release by its full archive, unless `allowDowngrade` is false.
 * Returns undefined when there is nothing newer.
 */
export function planUpdate(input: PlanInput): UpdatePlan | undefined {
  const current = input.currentVersion;
  const newer = input.targets
    .filter((t) => compareVersions(t.version, current) > 0)
    .sort((a, b) => compareVersions(a.version, b.version));
  const candidates = newer.filter((t) => isEligible(t, input));
  let chosen: AppTarget | undefined;
  for (const archive of candidates) {
    chosen = archive;
    if (archive.required && !input.ignoreRequired) break;
  }
  if (!chosen) return planDowngrade(input);
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

/** The way off a yanked running release: the newest eligible lower release, by its full archive. */
function planDowngrade(input: PlanInput): UpdatePlan | undefined {
  if (input.allowDowngrade === false) return undefined;
  const current = input.currentVersion;
  const running = input.targets.find(
    (t) => t.kind === 'archive' && compareVersions(t.version, current) === 0,
  );
  if (!running?.yanked) return undefined;
  const lower = input.targets
    .filter((t) => compareVersions(t.version, current) < 0 && isEligible(t, input))
    .sort((a, b) => compareVersions(a.version, b.version))
    .at(-1);
  if (!lower) return undefined;
  return {
    version: lower.version,
    archive: lower,
    patches: [],
    fullArchiveReason: 'downgrade',
    downloadSize: lower.length,
    required: lower.required,
    custom: lower.user,
    downgrade: {
      from: current,
      reason: 'yanked',
      ...(running.yankReason !== undefined ? { yankReason: running.yankReason } : {}),
    },
  };
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

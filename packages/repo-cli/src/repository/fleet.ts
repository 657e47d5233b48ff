// Signed release state: moving a release to another channel, staged rollout, yanking. Each re-signs targets
// metadata only: no file is uploaded or removed.
import {
  type ArchiveFleetFields,
  type MetadataStore,
  assertChannelName,
  assertPlatform,
  assertRolloutPercent,
  compareVersions,
  makeArchiveCustom,
  parseVersion,
  readArchiveCustom,
} from '@tufup/metadata';
import { assertAppName } from '../config.js';
import { RepoError } from '../errors.js';
import type { TargetEntry } from '../reports.js';
import { runChange } from './change.js';
import { targetEntries } from './releases.js';
import type { RepoState } from './state.js';
import type { PublishResult, ReleaseStateOptions } from './types.js';

export type ReleaseStateResult = PublishResult & { app: string; version: string; changed: TargetEntry[] };

/** What one command does to each selected archive, and what it must refuse. */
interface StateEdit {
  command: string;
  summary: string;
  fields: ArchiveFleetFields;
  /** Whether `entry` already is in the wanted state (all of them: NO_CHANGE). */
  already: (entry: TargetEntry) => boolean;
  /** How the wanted state reads in messages, e.g. `in channel beta`. */
  describe: string;
  /** Checks against the whole repository (yank: not the last installable release). */
  check?: (selected: TargetEntry[], all: TargetEntry[]) => void;
}

function buildLabel(e: TargetEntry): string {
  return e.platform === undefined ? e.app : `${e.app} (${e.platform})`;
}

/**
 * Re-sign the archives of `opts.version` (every build, or `opts.platform`'s) with `edit.fields`, keeping their
 * files, hashes, user metadata and unknown fields. RELEASE_NOT_FOUND when the app has no such archive,
 * NO_CHANGE when all of them are in the wanted state already; both before anything is written.
 */
async function editRelease(
  state: RepoState,
  opts: ReleaseStateOptions,
  edit: (app: string, version: string) => StateEdit,
): Promise<ReleaseStateResult> {
  const appName = assertAppName(opts.appName ?? state.config.appName);
  const version = parseVersion(opts.version);
  const platform = opts.platform === undefined ? undefined : assertPlatform(opts.platform);
  const spec = edit(appName, version);
  let selected: TargetEntry[] = [];
  const changed: TargetEntry[] = [];
  const result = await runChange(state, {
    command: spec.command,
    summary: spec.summary,
    keyDirs: opts.keyDirs,
    partial: Boolean(opts.partial),
    roles: ['targets'],
    // Each archive is re-signed by the targets role that holds it (a delegated role's key suffices for its own).
    targetPaths: () => selected.map((e) => e.filename),
    prepare: (store) => {
      const all = targetEntries(store).filter((e) => e.app === appName && e.kind === 'archive');
      selected = all.filter(
        (e) =>
          compareVersions(e.version, version) === 0 && (platform === undefined || e.platform === platform),
      );
      if (selected.length === 0) {
        throw new RepoError({
          code: 'RELEASE_NOT_FOUND',
          message: `${appName}${platform ? ` (${platform})` : ''} has no release ${version}`,
        });
      }
      if (selected.every(spec.already)) {
        throw new RepoError({
          code: 'NO_CHANGE',
          message: `${selected.map((e) => `${buildLabel(e)} ${e.version}`).join(', ')}: already ${spec.describe}`,
        });
      }
      spec.check?.(selected, all);
    },
    apply: async (store) => {
      for (const e of selected) {
        if (spec.already(e)) continue;
        changed.push(resign(store, e, spec.fields));
      }
    },
  });
  return { ...result, app: appName, version, changed };
}

/** Replace an archive's custom metadata, same length and hash (the file is not touched). */
function resign(store: MetadataStore, e: TargetEntry, fields: ArchiveFleetFields): TargetEntry {
  const target = store.getTarget(e.filename);
  const sha256 = target?.hashes.sha256;
  if (!target || !sha256) {
    throw new RepoError({ code: 'METADATA_CORRUPT', message: `${e.filename} has no sha256 in targets.json` });
  }
  const base = readArchiveCustom(target.unrecognizedFields.custom).raw;
  const custom = makeArchiveCustom({ base, ...fields });
  store.addTarget(e.filename, { length: target.length, sha256, custom });
  const now = readArchiveCustom(custom);
  const out: TargetEntry = {
    ...e,
    channel: now.channel,
    rolloutPercent: now.rolloutPercent,
    yanked: now.yanked,
  };
  if (now.yankReason !== undefined) out.yankReason = now.yankReason;
  else delete out.yankReason;
  return out;
}

/** Move a release to another channel (re-signs targets; nothing is uploaded). */
export function promote(
  state: RepoState,
  opts: ReleaseStateOptions & { channel: string },
): Promise<ReleaseStateResult> {
  const channel = assertChannelName(opts.channel);
  return editRelease(state, opts, (app, version) => ({
    command: 'targets promote',
    summary: `targets promote ${app} ${version} ${channel}`,
    fields: { channel },
    already: (e) => e.channel === channel,
    describe: `in channel ${channel}`,
  }));
}

/** Offer a release to `percent` % of installs (0 halts it; 100 to everyone). */
export function rollout(
  state: RepoState,
  opts: ReleaseStateOptions & { percent: number },
): Promise<ReleaseStateResult> {
  const percent = assertRolloutPercent(opts.percent);
  return editRelease(state, opts, (app, version) => ({
    command: 'rollout',
    summary: `rollout ${app} ${version} --percent ${percent}`,
    fields: { rolloutPercent: percent },
    already: (e) => e.rolloutPercent === percent,
    describe: `at ${percent} %`,
  }));
}

/**
 * Yank a release: no client installs it any more, and clients running it go back to the newest release they
 * may install. ONLY_RELEASE when a build would be left with no release that is not yanked.
 */
export function yank(
  state: RepoState,
  opts: ReleaseStateOptions & { reason?: string },
): Promise<ReleaseStateResult> {
  return editRelease(state, opts, (app, version) => ({
    command: 'targets yank',
    summary: `targets yank ${app} ${version}`,
    fields: { yanked: true, yankReason: opts.reason ?? null },
    already: (e) => e.yanked === true && (e.yankReason ?? undefined) === (opts.reason ?? undefined),
    describe: 'yanked',
    check: (selected, all) => {
      for (const e of selected) {
        const others = all.filter(
          (o) => o.platform === e.platform && o.filename !== e.filename && o.yanked !== true,
        );
        if (others.length === 0) {
          throw new RepoError({
            code: 'ONLY_RELEASE',
            message: `${buildLabel(e)} ${e.version} is its only release that is not yanked: publish a fixed release first (tufup targets add), then yank ${e.version}`,
          });
        }
      }
    },
  }));
}

/** Undo a yank. */
export function unyank(state: RepoState, opts: ReleaseStateOptions): Promise<ReleaseStateResult> {
  return editRelease(state, opts, (app, version) => ({
    command: 'targets unyank',
    summary: `targets unyank ${app} ${version}`,
    fields: { yanked: false },
    already: (e) => e.yanked !== true,
    describe: 'not yanked',
  }));
}

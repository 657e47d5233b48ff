// The app's signed targets after a TUF refresh: names from the verified targets metadata, details from tuf-js.
import type { Logger } from '@tufup/common';
import {
  buildTargetName,
  compareVersions,
  readArchiveCustom,
  readPatchCustom,
  tryParseTargetName,
} from '@tufup/metadata';
import type { TargetFile } from 'tuf-js';
import { ClientError } from './errors.js';
import type { AppTarget } from './planner.js';
import type { TrustedMetadata } from './tuf/refresh.js';

/** An app target together with the verified tuf-js TargetFile used to download it. */
export interface SignedTarget extends AppTarget {
  /** The name part of its file name: the app name, or `<app>-<platform>` for a platform build. */
  name: string;
  /** The signed `custom.tufup.platform` of a platform build. */
  platform?: string;
  info: TargetFile;
}

/**
 * Whether a client at `currentVersion` needs releases older than those listed (the top-level targets and the head
 * roles): when the app (or a platform build of it, `<app>-<platform>`) has no archive listed, when the oldest
 * listed is newer than the current version (its patch chain may start in a history role), or when the running
 * release was yanked and nothing older listed is offered to every install (the release to go down to may be in a
 * history role). Then the history roles are fetched too; otherwise a no-update check and a new release cost only
 * the small head roles.
 */
export function needsOlderReleases(
  targets: ReadonlyMap<string, TargetFile>,
  appName: string,
  currentVersion: string,
  platform?: string,
): boolean {
  let oldest: string | undefined;
  for (const path of targets.keys()) {
    const parsed = tryParseTargetName(path);
    if (parsed?.kind !== 'archive') continue;
    if (parsed.name !== appName && !parsed.name.startsWith(`${appName}-`)) continue;
    if (oldest === undefined || compareVersions(parsed.version, oldest) < 0) oldest = parsed.version;
  }
  if (oldest === undefined) return true;
  try {
    return (
      compareVersions(currentVersion, oldest) < 0 ||
      yankedWithoutFallback(targets, appName, currentVersion, platform)
    );
  } catch {
    return true; // a current version we cannot compare: look at everything
  }
}

/** The running release's archive is listed as yanked, and no older listed archive is a plain release (not yanked, fully rolled out, stable). */
function yankedWithoutFallback(
  targets: ReadonlyMap<string, TargetFile>,
  appName: string,
  currentVersion: string,
  platform: string | undefined,
): boolean {
  const builds = new Set([appName, ...(platform === undefined ? [] : [buildTargetName(appName, platform)])]);
  let yanked = false;
  let fallback = false;
  for (const [path, info] of targets) {
    const parsed = tryParseTargetName(path);
    if (parsed?.kind !== 'archive' || !builds.has(parsed.name)) continue;
    let custom: ReturnType<typeof readArchiveCustom>;
    try {
      custom = readArchiveCustom(info.unrecognizedFields.custom);
    } catch {
      continue; // left out by readAppTargets too
    }
    const order = compareVersions(parsed.version, currentVersion);
    if (order === 0 && custom.yanked) yanked = true;
    else if (order < 0 && !custom.yanked && custom.rolloutPercent === 100 && custom.channel === 'stable')
      fallback = true;
  }
  return yanked && !fallback;
}

/**
 * The targets of `appName` in the verified metadata; every length, hash and custom field comes from tuf-js'
 * verified in-memory copy. With `platform`, the app's builds for that platform (file name `<app>-<platform>-…`
 * AND signed `custom.tufup.platform` equal to it) when the metadata has any, else its platform-less releases.
 * APP_NOT_FOUND when there is none: a wrong app name or repository is no "up to date".
 */
export function readAppTargets(
  metadata: TrustedMetadata,
  appName: string,
  logger: Logger,
  platform?: string,
): SignedTarget[] {
  const platformName = platform === undefined ? undefined : buildTargetName(appName, platform);
  const plain: SignedTarget[] = [];
  const forPlatform: SignedTarget[] = [];
  for (const [path, info] of metadata.targets) {
    const parsed = tryParseTargetName(path);
    if (!parsed || (parsed.name !== appName && parsed.name !== platformName)) continue;
    try {
      let target: SignedTarget;
      if (parsed.kind === 'archive') {
        const custom = readArchiveCustom(info.unrecognizedFields.custom);
        target = {
          ...parsed,
          length: info.length,
          required: custom.required,
          user: custom.user,
          channel: custom.channel,
          rolloutPercent: custom.rolloutPercent,
          yanked: custom.yanked,
          ...(custom.yankReason !== undefined ? { yankReason: custom.yankReason } : {}),
          ...(custom.platform !== undefined ? { platform: custom.platform } : {}),
          info,
        };
      } else {
        const custom = readPatchCustom(info.unrecognizedFields.custom);
        target = {
          ...parsed,
          length: info.length,
          required: false,
          user: null,
          tarSize: custom.tarSize,
          tarHash: custom.tarHash,
          ...(custom.platform !== undefined ? { platform: custom.platform } : {}),
          info,
        };
      }
      // The name and the signed platform field must agree: a build is P's only when both say so.
      if (parsed.name === appName && target.platform === undefined) plain.push(target);
      else if (parsed.name === platformName && target.platform === platform) forPlatform.push(target);
      else logger.debug(`ignoring ${path}: its name and its signed platform (${target.platform}) disagree`);
    } catch (err) {
      // A target whose custom metadata we can't read is left out: a patch without its result hash is
      // unusable, and an archive with a malformed `required` (or rollout, channel...) must not be trusted.
      logger.warn(`ignoring target ${path}: ${(err as Error).message}`);
    }
  }
  const out = forPlatform.some((t) => t.kind === 'archive') ? forPlatform : plain;
  if (!out.some((t) => t.kind === 'archive')) {
    throw new ClientError({
      code: 'APP_NOT_FOUND',
      message: `the repository's verified targets metadata has no release of ${JSON.stringify(appName)}${platform ? ` for ${platform} (nor a platform-less one)` : ''}: check appName, platform and the repository URLs`,
    });
  }
  return out;
}

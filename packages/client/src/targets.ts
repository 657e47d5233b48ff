// The app's signed targets after a TUF refresh: names from the verified targets metadata, details from tuf-js.
import type { Logger } from '@tufup/common';
import { compareVersions, readArchiveCustom, readPatchCustom, tryParseTargetName } from '@tufup/metadata';
import type { TargetFile } from 'tuf-js';
import { ClientError } from './errors.js';
import type { AppTarget } from './planner.js';
import type { TrustedMetadata } from './tuf/refresh.js';

/** An app target together with the verified tuf-js TargetFile used to download it. */
export interface SignedTarget extends AppTarget {
  info: TargetFile;
}

/**
 * Whether a client at `currentVersion` needs releases older than those listed (the top-level targets and the head
 * roles): when the app (or a platform build of it, `<app>-<platform>`) has no archive listed, or the oldest listed
 * is newer than the current version (its patch chain may start in a history role). Then the history roles are
 * fetched too; otherwise a no-update check and a new release cost only the small head roles.
 */
export function needsOlderReleases(
  targets: ReadonlyMap<string, TargetFile>,
  appName: string,
  currentVersion: string,
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
    return compareVersions(currentVersion, oldest) < 0;
  } catch {
    return true; // a current version we cannot compare: look at everything
  }
}

/**
 * The targets of `appName` in the verified metadata; every length, hash and custom field comes from tuf-js'
 * verified in-memory copy. APP_NOT_FOUND when there is none: a wrong app name or repository is no "up to date".
 */
export function readAppTargets(metadata: TrustedMetadata, appName: string, logger: Logger): SignedTarget[] {
  const out: SignedTarget[] = [];
  for (const [path, info] of metadata.targets) {
    const parsed = tryParseTargetName(path);
    if (!parsed || parsed.name !== appName) continue;
    try {
      if (parsed.kind === 'archive') {
        const custom = readArchiveCustom(info.unrecognizedFields.custom);
        out.push({ ...parsed, length: info.length, required: custom.required, user: custom.user, info });
      } else {
        const custom = readPatchCustom(info.unrecognizedFields.custom);
        out.push({
          ...parsed,
          length: info.length,
          required: false,
          user: null,
          tarSize: custom.tarSize,
          tarHash: custom.tarHash,
          info,
        });
      }
    } catch (err) {
      // A target whose custom metadata we can't read is left out: a patch without its result hash is
      // unusable, and an archive with a malformed `required` must not be trusted either way.
      logger.warn(`ignoring target ${path}: ${(err as Error).message}`);
    }
  }
  if (!out.some((t) => t.kind === 'archive')) {
    throw new ClientError({
      code: 'APP_NOT_FOUND',
      message: `the repository's verified targets metadata has no release of ${JSON.stringify(appName)}: check appName and the repository URLs`,
    });
  }
  return out;
}

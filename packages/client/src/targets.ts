// The app's signed targets after a TUF refresh: names from the verified targets metadata, details from tuf-js.
import type { Logger } from '@tufup/common';
import { readArchiveCustom, readPatchCustom, tryParseTargetName } from '@tufup/metadata';
import type { TargetFile } from 'tuf-js';
import { ClientError } from './errors.js';
import type { AppTarget } from './planner.js';
import type { TrustedMetadata } from './tuf/refresh.js';

/** An app target together with the verified tuf-js TargetFile used to download it. */
export interface SignedTarget extends AppTarget {
  info: TargetFile;
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

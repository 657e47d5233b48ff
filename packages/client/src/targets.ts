// The app's signed targets after a TUF refresh: names from targets.json, every detail from tuf-js' trusted set.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@tufup/common';
import { readArchiveCustom, readPatchCustom, tryParseTargetName } from '@tufup/metadata';
import type { TargetFile, Updater } from 'tuf-js';
import { ClientError } from './errors.js';
import type { AppTarget } from './planner.js';

/** An app target together with the verified tuf-js TargetFile used to download it. */
export interface SignedTarget extends AppTarget {
  info: TargetFile;
}

/**
 * tuf-js 5 has no call that lists targets. After `refresh()` the verified targets.json is the file in
 * `metadataDir`; its names are only used as lookup keys: every length, hash and custom field comes from
 * `getTargetInfo`, i.e. from the metadata tuf-js verified in memory. A name that isn't there is ignored.
 */
export async function readAppTargets(
  updater: Updater,
  metadataDir: string,
  appName: string,
  logger: Logger,
): Promise<SignedTarget[]> {
  let names: string[];
  try {
    const json = JSON.parse(await readFile(join(metadataDir, 'targets.json'), 'utf8')) as {
      signed?: { targets?: Record<string, unknown> };
    };
    names = Object.keys(json.signed?.targets ?? {});
  } catch (err) {
    throw new ClientError({
      code: 'METADATA_INVALID',
      message: `cannot read the verified targets.json in ${metadataDir}`,
      cause: err,
    });
  }
  const out: SignedTarget[] = [];
  for (const path of names) {
    const parsed = tryParseTargetName(path);
    if (!parsed || parsed.name !== appName) continue;
    const info = await updater.getTargetInfo(path);
    if (!info) continue;
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
  return out;
}

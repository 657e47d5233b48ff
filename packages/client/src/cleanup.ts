// Cache clean-up without a Client: what an app can call at start-up, e.g. right after an update installed.
import { type Logger, silentLogger } from '@tufup/common';
import { buildTargetName, formatTargetName } from '@tufup/metadata';
import { UpdateCache } from './cache.js';
import { StagingArea } from './staging.js';

export interface CleanCacheOptions {
  appName: string;
  /** The version now running: its archive / tar is kept, because its next update patches it. */
  currentVersion: string;
  targetDir: string;
  installDir: string;
  stagingParentDir?: string;
  /** The platform the Client uses (its `platform` option): that build's cache files are cleaned too. */
  platform?: string;
  logger?: Logger;
}

/**
 * Remove what the next update from `currentVersion` can't use: other versions' archives, tars and patches,
 * partial downloads, failed-patch markers, temp files, and staging dirs of versions up to `currentVersion`
 * (newer ones may still be waiting for their installer). Files of other apps are left alone.
 * Returns the names removed.
 */
export async function cleanUpdateCache(opts: CleanCacheOptions): Promise<string[]> {
  const logger = opts.logger ?? silentLogger;
  const names = [opts.appName, ...(opts.platform ? [buildTargetName(opts.appName, opts.platform)] : [])];
  const removed: string[] = [];
  for (const name of names) {
    const cache = new UpdateCache(opts.targetDir, name, logger);
    const gz = formatTargetName(name, opts.currentVersion, 'archive');
    removed.push(...(await cache.prune(new Set([gz, gz.slice(0, -'.gz'.length)]))));
  }
  const staging = new StagingArea(opts.installDir, logger, opts.stagingParentDir);
  removed.push(...(await staging.removeUpTo(opts.currentVersion)));
  return removed;
}

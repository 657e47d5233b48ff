// The fetch step: one signed target into the cache through the Transport, checked against TUF before use.
import { createReadStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { type Logger, errnoCode, isAbortError, pathExists, throwIfAborted } from '@tufup/common';
import type { UpdateCache } from './cache.js';
import { ClientError, HttpError, TargetDownloadError, asClientError } from './errors.js';
import type { DownloadTracker } from './progress.js';
import type { SignedTarget } from './targets.js';
import type { DownloadReport, Transport } from './transport.js';
import type { TrustedMetadata } from './tuf/refresh.js';

export interface TargetFetcher {
  transport: Transport;
  cache: UpdateCache;
  metadata: TrustedMetadata;
  targetBaseUrl: string;
  tracker: DownloadTracker;
  logger: Logger;
  signal?: AbortSignal | undefined;
  /** Targets fetched from the server, in download order (cached ones are not listed). */
  downloaded: string[];
}

/**
 * `target` in the cache, verified: a cached copy that matches the signed length and hashes is reused;
 * otherwise the transport downloads (or resumes) it into its partial file, tuf-js' TargetFile checks length
 * and every hash, and the file is renamed into place. A resumed download that fails verification is
 * fetched once more from byte 0 (the old bytes may be the bad ones).
 */
export async function fetchTarget(target: SignedTarget, f: TargetFetcher): Promise<string> {
  throwIfAborted(f.signal);
  const finalPath = f.cache.targetPath(target.filename);
  if ((await pathExists(finalPath)) && (await matchesSigned(target, finalPath))) {
    f.tracker.finished(target);
    return finalPath;
  }
  const url = f.metadata.targetUrl(f.targetBaseUrl, target.info);
  const partialPath = f.cache.partialPath(target);
  for (let attempt = 0; ; attempt++) {
    const report = await download(target, url, partialPath, f);
    const mismatch = await verifyDownload(target, partialPath);
    if (mismatch) {
      await rm(partialPath, { force: true });
      if (attempt === 0 && report.resumedFrom > 0) {
        f.logger.warn(`${target.filename}: resumed download failed verification; downloading it again`);
        continue;
      }
      throw new TargetDownloadError(
        'TARGET_MISMATCH',
        target.filename,
        `${target.filename} does not match the signed targets metadata: ${mismatch.message}`,
        mismatch,
      );
    }
    try {
      await rename(partialPath, finalPath);
    } catch (err) {
      throw asClientError(err, 'CACHE_IO_FAILED', `cannot move ${target.filename} into the cache`);
    }
    f.tracker.finished(target);
    f.downloaded.push(target.filename);
    return finalPath;
  }
}

async function download(
  target: SignedTarget,
  url: string,
  partialPath: string,
  f: TargetFetcher,
): Promise<DownloadReport> {
  try {
    return await f.transport.downloadTarget(url, {
      partialPath,
      maxLength: target.length,
      signal: f.signal,
      onBytes: (bytes) => f.tracker.bytes(target, bytes),
    });
  } catch (err) {
    if (isAbortError(err)) throw err;
    if (err instanceof HttpError) {
      throw new TargetDownloadError(
        'HTTP_ERROR',
        target.filename,
        `cannot download ${target.filename}: ${err.message}`,
        err,
      );
    }
    if (err instanceof ClientError && err.code === 'TARGET_MISMATCH') {
      throw new TargetDownloadError('TARGET_MISMATCH', target.filename, err.message, err);
    }
    // Our transport's local write failures come as the file system's errors.
    throw asClientError(
      err,
      errnoCode(err) ? 'CACHE_IO_FAILED' : 'NETWORK_ERROR',
      `cannot download ${target.filename}`,
    );
  }
}

/** The mismatch (length or a hash) of a downloaded file, undefined when it is the signed one. */
async function verifyDownload(target: SignedTarget, path: string): Promise<Error | undefined> {
  try {
    await target.info.verify(createReadStream(path));
    return undefined;
  } catch (err) {
    if (errnoCode(err)) throw asClientError(err, 'CACHE_IO_FAILED', `cannot read ${path}`);
    return err as Error;
  }
}

async function matchesSigned(target: SignedTarget, path: string): Promise<boolean> {
  try {
    await target.info.verify(createReadStream(path));
    return true;
  } catch {
    return false;
  }
}

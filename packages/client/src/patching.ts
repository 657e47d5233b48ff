// Applying a patch chain onto the current tar, each step checked against the signed tar size and sha256.
import { rename, rm } from 'node:fs/promises';
import {
  type SizeAndHash,
  isAbortError,
  isNoSpace,
  siblingTempPath,
  sameDigest,
  throwIfAborted,
} from '@tufup/common';
import { apply } from '@tufup/patch';
import { ClientError, asClientError } from './errors.js';

export interface PatchStep {
  /** The patch target's file name (for messages and progress). */
  filename: string;
  /** The downloaded, TUF-verified patch file. */
  path: string;
  /** Signed size and sha256 of the tar this step must produce. */
  tarSize: number;
  tarHash: string;
}

export interface ChainProgress {
  step: number;
  steps: number;
  file: string;
  done: number;
  total: number;
}

/** The tar the chain starts from; `verified` only when the caller has just matched it to signed data. */
export interface ChainBase {
  path: string;
  verified?: SizeAndHash | undefined;
}

/**
 * Apply `steps` in order starting from `base`, streaming each into a temp file beside `outPath`. Unlike
 * python tufup, which checks only the last result, every intermediate tar must equal its version's signed
 * tar: a bad link is caught where it happens. On success the last result is renamed to `outPath`; on any
 * failure no temp file remains and a PATCH_FAILED error names the failing patch (`failedPatch`).
 *
 * Each step's old file is one whose hash was just checked against signed metadata: the base's (when the
 * caller says so) and then the previous step's result. apply is told so (`oldVerified`) and compares that
 * hash with the patch's declared base instead of reading 100+ MB again to hash it.
 */
export async function applyPatchChain(
  base: ChainBase,
  steps: readonly PatchStep[],
  outPath: string,
  opts: { signal?: AbortSignal; onProgress?: (p: ChainProgress) => void } = {},
): Promise<SizeAndHash> {
  let prev = base.path;
  let prevVerified = base.verified;
  let prevIsTemp = false;
  let last: SizeAndHash | undefined;
  try {
    for (const [i, step] of steps.entries()) {
      throwIfAborted(opts.signal);
      const next = siblingTempPath(outPath);
      try {
        last = await apply(prev, step.path, next, {
          expect: { size: step.tarSize, sha256: step.tarHash },
          ...(prevVerified ? { oldVerified: prevVerified } : {}),
          // The result is a cache entry, verified against its signed hash before any later use: a power
          // cut can cost a download, never a bad install, so it need not wait for the disk.
          durable: false,
          ...(opts.signal ? { signal: opts.signal } : {}),
          // Only the writing of the new tar is reported: other phases (the native format's check of the
          // old file) count different bytes and would make the step's figure jump back.
          onProgress: (e) => {
            if (e.phase !== 'apply') return;
            opts.onProgress?.({
              step: i + 1,
              steps: steps.length,
              file: step.filename,
              done: e.done,
              total: e.total ?? step.tarSize,
            });
          },
        });
        if (last.size !== step.tarSize || !sameDigest(last.sha256, step.tarHash)) {
          throw new Error(
            `result is ${last.size} bytes, sha256 ${last.sha256}; signed: ${step.tarSize} bytes, sha256 ${step.tarHash}`,
          );
        }
      } catch (err) {
        await rm(next, { force: true });
        if (isAbortError(err)) throw err;
        if (isNoSpace(err)) throw asClientError(err, 'NO_SPACE', `cannot apply ${step.filename}`);
        throw new PatchChainError(step.filename, err);
      }
      if (prevIsTemp) await rm(prev, { force: true });
      prev = next;
      // apply hashed what it wrote, and that matched the signed tar of this step just above.
      prevVerified = { size: step.tarSize, sha256: step.tarHash };
      prevIsTemp = true;
      opts.onProgress?.({
        step: i + 1,
        steps: steps.length,
        file: step.filename,
        done: step.tarSize,
        total: step.tarSize,
      });
    }
    if (!last) throw new ClientError({ code: 'PATCH_FAILED', message: 'empty patch chain' });
    try {
      await rename(prev, outPath);
    } catch (err) {
      throw asClientError(err, 'CACHE_IO_FAILED', `cannot move the patched tar to ${outPath}`);
    }
    prevIsTemp = false;
    return last;
  } finally {
    if (prevIsTemp) await rm(prev, { force: true });
  }
}

/** PATCH_FAILED for one link of the chain; `failedPatch` is what gets a `.failed` marker. */
export class PatchChainError extends ClientError {
  readonly failedPatch: string;

  constructor(failedPatch: string, cause: unknown) {
    super({
      code: 'PATCH_FAILED',
      message: `applying ${failedPatch} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      cause,
    });
    this.failedPatch = failedPatch;
  }
}

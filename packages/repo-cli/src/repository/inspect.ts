// Inspecting a repository without changing it: `status` and `verify`.
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import {
  HashingStream,
  isAbortError,
  isTufupError,
  makeTempDir,
  pathExists,
  sameDigest,
} from '@tufup/common';
import {
  type MetadataStore,
  type Problem,
  Publication,
  ROLE_NAMES,
  loadPublicKeyFile,
  parseExpires,
  verifyRepository,
} from '@tufup/metadata';
import type { ReleaseEntry, StatusReport, TargetEntry, VerifyReport } from '../reports.js';
import { appReleases, targetEntries } from './releases.js';
import type { RepoState } from './state.js';

/**
 * How long before expiry `status` starts warning: a quarter of the role's signing period, at least 3 hours and at
 * most 30 days (timestamp at 1 day: 6 hours; targets/snapshot at 7 days: 1.75 days; root at 365 days: 30 days).
 * A daily re-signing job therefore never triggers it.
 */
export function renewalWindowDays(periodDays: number): number {
  return Math.min(30, Math.max(0.125, periodDays / 4));
}

/** Each role's version, expiry and signatures, the releases, a pending co-signing, and warnings. */
export async function status(state: RepoState): Promise<StatusReport> {
  const store = await state.loadStore();
  const now = state.now();
  const names = new Map<string, string>();
  for (const n of new Set(ROLE_NAMES.flatMap((r) => state.config.keyMap[r]))) {
    const p = join(state.config.keysDir, `${n}.pub`);
    if (await pathExists(p)) {
      try {
        names.set((await loadPublicKeyFile(p)).keyid, n);
      } catch {
        // an unreadable .pub only costs the name in the report
      }
    }
  }
  // The verifier's problems first (expired or under-signed roles, a broken root chain...), then the reminders.
  const warnings = (await store.problems({ now })).problems.map(withHint);
  const roles = {} as StatusReport['roles'];
  for (const { role, expires, signatures: count } of store.status()) {
    const days = (parseExpires(expires).getTime() - now.getTime()) / 86_400_000;
    const expiringSoon = days >= 0 && days < renewalWindowDays(state.config.expirationDays[role]);
    roles[role] = {
      role,
      version: store.get(role).signed.version,
      expires,
      expiresInDays: Math.round(days * 100) / 100,
      expired: days < 0,
      expiringSoon,
      threshold: count.threshold,
      validSignatures: count.valid.length,
      keys: (store.root.signed.roles[role]?.keyIDs ?? []).map((keyid) => ({
        keyid,
        ...(names.has(keyid) ? { name: names.get(keyid) as string } : {}),
        signed: count.valid.includes(keyid),
      })),
    };
    if (expiringSoon) {
      warnings.push(
        `${role}.json expires ${expires} (in ${days.toFixed(1)} days): re-sign it with \`tufup sign ${role} -e <key_dirs>\``,
      );
    }
  }
  const delegatedRoles: NonNullable<StatusReport['delegatedRoles']> = [];
  for (const { role, expires, version, signatures: count } of store.delegatedStatus()) {
    const days = (parseExpires(expires).getTime() - now.getTime()) / 86_400_000;
    const expiringSoon = days >= 0 && days < renewalWindowDays(state.config.expirationDays.targets);
    delegatedRoles.push({
      role,
      delegatedBy: store.delegationOf(role)?.parent ?? 'targets',
      version,
      expires,
      expiresInDays: Math.round(days * 100) / 100,
      expired: days < 0,
      expiringSoon,
      threshold: count.threshold,
      validSignatures: count.valid.length,
      keys: store.signingKeyIds(role).map((keyid) => ({ keyid, signed: count.valid.includes(keyid) })),
    });
    if (expiringSoon) {
      warnings.push(
        `${role}.json expires ${expires} (in ${days.toFixed(1)} days): re-sign it with \`tufup sign ${role} -e <key_dirs>\` (its own keys)`,
      );
    }
  }
  const apps = appReleases(targetEntries(store));
  for (const app of apps) {
    if (app.patchChainBreaks.length) {
      warnings.push(
        `${app.app}: no patch for ${app.patchChainBreaks.join(', ')} (clients crossing it download the full archive)`,
      );
    }
  }
  const report: StatusReport = {
    configPath: state.configPath,
    repoDir: state.repoDir,
    appName: state.config.appName,
    patchFormat: state.config.patchFormat,
    consistentSnapshot: store.root.signed.consistentSnapshot,
    roles,
    ...(delegatedRoles.length ? { delegatedRoles } : {}),
    apps,
    warnings,
  };
  const parked = await Publication.loadParked(state.repoDir);
  if (parked) {
    report.pending = {
      summary: parked.plan.summary ?? parked.plan.command,
      command: parked.plan.command,
      created: parked.plan.created,
      unsignedRoles: parked.plan.unsignedRoles ?? [],
    };
    warnings.push(`a change waits for co-signers: ${report.pending.summary}`);
  }
  return report;
}

/** An expired role's problem says how to renew it. */
function withHint(p: Problem): string {
  const role = /^metadata\/(root|targets|snapshot|timestamp)\.json$/.exec(p.file ?? '')?.[1];
  return p.code === 'EXPIRED_METADATA' && role
    ? `${p.message}: run \`tufup sign ${role} -e <key_dirs>\``
    : p.message;
}

/**
 * Everything a client would check, and more; problems make `ok` false. Never changes the repository.
 * The metadata and target files are checked by @tufup/metadata's verifier (the same code as MetadataStore.verify);
 * what is tufup's own (patch chains, a change waiting for co-signers) is checked here.
 */
export async function verify(state: RepoState, opts: { deep?: boolean } = {}): Promise<VerifyReport> {
  const report = await checkMetadata(state);
  const store = await loadStoreOrUndefined(state);
  if (store) await checkReleases(state, store, report, Boolean(opts.deep));
  await notePendingChange(state, report);
  report.ok = report.problems.length === 0;
  return report;
}

/** The root chain, every role's signatures, expiry and versions, every target file's length and hashes. */
async function checkMetadata(state: RepoState): Promise<VerifyReport> {
  const result = await verifyRepository(state.metadataDir, {
    targetsDir: state.targetsDir,
    now: state.now(),
    expirationDays: state.config.expirationDays,
    ...state.signalOpts(),
  });
  return {
    ok: result.ok,
    problems: [...result.problems],
    warnings: [...result.warnings],
    checked: { ...result.checked, patchesReplayed: 0 },
  };
}

async function loadStoreOrUndefined(state: RepoState): Promise<MetadataStore | undefined> {
  try {
    return await state.loadStore();
  } catch (err) {
    if (isTufupError(err) && err.code === 'METADATA_CORRUPT') return undefined; // reported by checkMetadata
    throw err;
  }
}

/** Per app: each patch has a version before it and produces its own version's tar; --deep replays every patch. */
async function checkReleases(
  state: RepoState,
  store: MetadataStore,
  report: VerifyReport,
  deep: boolean,
): Promise<void> {
  const problem = (code: string, message: string, file?: string) =>
    report.problems.push({ code, message, ...(file ? { file } : {}) });
  const warn = (code: string, message: string, file?: string) =>
    report.warnings.push({ code, message, ...(file ? { file } : {}) });
  for (const app of appReleases(targetEntries(store))) {
    let prev: ReleaseEntry | undefined;
    for (const r of app.releases) {
      const p = r.patch;
      if (p) {
        const file = `targets/${p.filename}`;
        // After a prune the oldest kept version's patch has no base here; clients still on that base use it.
        if (!prev) {
          warn(
            'PATCH_BASE_NOT_HERE',
            `${p.filename} patches from a ${app.app} version no longer in the repository`,
            file,
          );
        }
        if (!r.archive)
          warn('PATCH_WITHOUT_ARCHIVE', `${p.filename} has no archive of the same version`, file);
        else if (p.tarHash !== undefined && p.tarSize !== undefined) {
          const tar = await gunzipHash(join(state.targetsDir, r.archive.filename), state.ctx.signal).catch(
            () => undefined,
          );
          if (tar && (tar.size !== p.tarSize || !sameDigest(tar.sha256, p.tarHash))) {
            problem(
              'PATCH_TARGET_MISMATCH',
              `${p.filename} produces a tar (${p.tarSize} bytes) other than the one in ${r.archive.filename} (${tar.size} bytes)`,
              file,
            );
          }
        }
        if (deep && prev?.archive && p.tarHash !== undefined && p.tarSize !== undefined) {
          if (await replayPatch(state, prev.archive, p, problem)) report.checked.patchesReplayed++;
        }
      }
      prev = r;
    }
    if (app.patchChainBreaks.length) {
      warn(
        'PATCH_CHAIN_BREAK',
        `${app.app}: no patch for ${app.patchChainBreaks.join(', ')}; clients crossing it download the full archive`,
      );
    }
  }
}

async function notePendingChange(state: RepoState, report: VerifyReport): Promise<void> {
  const parked = await Publication.loadParked(state.repoDir).catch(() => undefined);
  if (parked) {
    report.warnings.push({
      code: 'PENDING_CHANGE',
      message: `a change waits for co-signers: ${parked.plan.summary ?? parked.plan.command}`,
    });
  }
}

/** Apply `patch` to `base`'s tar and compare with the signed tar size and hash (what a client will do). */
async function replayPatch(
  state: RepoState,
  base: TargetEntry,
  patch: TargetEntry,
  problem: (code: string, message: string, file?: string) => void,
): Promise<boolean> {
  const dir = await makeTempDir('tufup-verify-');
  try {
    const { gunzipToTar } = await import('@tufup/archive');
    const { apply } = await import('@tufup/patch');
    const oldTar = join(dir, 'old.tar');
    await gunzipToTar(join(state.targetsDir, base.filename), oldTar, state.signalOpts());
    try {
      await apply(oldTar, join(state.targetsDir, patch.filename), join(dir, 'new.tar'), {
        expect: { size: patch.tarSize as number, sha256: patch.tarHash as string },
        ...state.signalOpts(),
      });
    } catch (err) {
      problem(
        'PATCH_REPLAY_FAILED',
        `${patch.filename} applied to ${base.filename}: ${(err as Error).message}`,
        `targets/${patch.filename}`,
      );
    }
    return true;
  } catch (err) {
    if (isAbortError(err)) throw err;
    return false;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function gunzipHash(path: string, signal?: AbortSignal): Promise<{ size: number; sha256: string }> {
  const hasher = new HashingStream();
  hasher.resume();
  await pipeline(createReadStream(path), createGunzip(), hasher, signal ? { signal } : {});
  return hasher.digest();
}

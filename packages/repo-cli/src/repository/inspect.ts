// Inspecting a repository without changing it: `status` and `verify`.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { HashingStream, isTufupError, makeTempDir, pathExists, sameDigest } from '@tufup/common';
import {
  type MetadataStore,
  ROLE_NAMES,
  countSignatures,
  loadPublicKeyFile,
  parseExpires,
  parseMetadata,
  readArchiveCustom,
  readPatchCustom,
  tryParseTargetName,
  verifyRootRotation,
} from '@tufup/metadata';
import { Publication } from '../publication.js';
import type { ReleaseEntry, StatusReport, TargetEntry, VerifyProblem, VerifyReport } from '../reports.js';
import { appReleases, targetEntries } from './releases.js';
import type { RepoState } from './state.js';

/** What python-tuf and tuf-js accept as a target path in a tufup repository: one flat file name. */
function isSafeTargetName(name: string): boolean {
  return name.length > 0 && name.length <= 255 && !/[/\\\0]/.test(name) && name !== '.' && name !== '..';
}

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
  const warnings: string[] = [];
  const roles = {} as StatusReport['roles'];
  for (const role of ROLE_NAMES) {
    const md = store.get(role);
    const count = countSignatures(store.root.signed, role, md);
    const days = (parseExpires(md.signed.expires).getTime() - now.getTime()) / 86_400_000;
    const expiringSoon = days >= 0 && days < renewalWindowDays(state.config.expirationDays[role]);
    roles[role] = {
      role,
      version: md.signed.version,
      expires: md.signed.expires,
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
    if (days < 0)
      warnings.push(`${role}.json expired on ${md.signed.expires}: run \`tufup sign ${role} -e <key_dirs>\``);
    else if (expiringSoon) {
      warnings.push(
        `${role}.json expires ${md.signed.expires} (in ${days.toFixed(1)} days): re-sign it with \`tufup sign ${role} -e <key_dirs>\``,
      );
    }
    if (count.valid.length < count.threshold)
      warnings.push(`${role}.json has ${count.valid.length} of ${count.threshold} signatures`);
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

/** Everything a client would check, and more; problems make `ok` false. Never changes the repository. */
export async function verify(state: RepoState, opts: { deep?: boolean } = {}): Promise<VerifyReport> {
  const problems: VerifyProblem[] = [];
  const warnings: VerifyProblem[] = [];
  const checked = { rootVersions: 0, roles: 0, targets: 0, bytes: 0, patchesReplayed: 0 };
  const problem = (code: string, message: string, file?: string) =>
    problems.push({ code, message, ...(file ? { file } : {}) });
  const warn = (code: string, message: string, file?: string) =>
    warnings.push({ code, message, ...(file ? { file } : {}) });
  const codeOf = (err: unknown) => (isTufupError(err) ? err.code : 'METADATA_CORRUPT');
  const now = state.now();

  // The root chain as a client walks it: 1.root.json trusted by itself, each next one a valid rotation.
  const names = await readdir(state.metadataDir).catch(() => [] as string[]);
  const versions = names
    .map((n) => /^([1-9]\d*)\.root\.json$/.exec(n)?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
  if (versions[0] !== 1) problem('ROOT_CHAIN_BROKEN', '1.root.json is missing', 'metadata/1.root.json');
  let previous: ReturnType<typeof parseMetadata<'root'>> | undefined;
  let latestRootText: string | undefined;
  for (const v of versions) {
    const file = `metadata/${v}.root.json`;
    try {
      const text = await readFile(join(state.metadataDir, `${v}.root.json`), 'utf8');
      const root = parseMetadata('root', text);
      checked.rootVersions++;
      if (root.signed.version !== v)
        problem('BAD_VERSION', `${file} holds version ${root.signed.version}`, file);
      const self = countSignatures(root.signed, 'root', root);
      if (self.valid.length < self.threshold) {
        problem(
          'THRESHOLD_NOT_MET',
          `${file}: ${self.valid.length} of ${self.threshold} signatures by its own root keys`,
          file,
        );
      }
      if (previous) {
        try {
          verifyRootRotation(previous, root, { ignoreExpiry: true });
        } catch (err) {
          problem(codeOf(err), `${file}: ${(err as Error).message}`, file);
        }
      }
      previous = root;
      latestRootText = text;
    } catch (err) {
      problem(
        err instanceof SyntaxError ? 'METADATA_CORRUPT' : codeOf(err),
        `${file}: ${(err as Error).message}`,
        file,
      );
      previous = undefined;
    }
  }
  const rootJson = await readFile(join(state.metadataDir, 'root.json'), 'utf8').catch(() => undefined);
  if (latestRootText !== undefined && rootJson !== latestRootText) {
    problem('ROOT_MISMATCH', `root.json differs from ${versions.at(-1)}.root.json`, 'metadata/root.json');
  }

  let store: MetadataStore | undefined;
  try {
    store = await state.loadStore();
  } catch (err) {
    problem(codeOf(err), (err as Error).message);
  }
  if (store) {
    const root = store.root.signed;
    if (parseExpires(store.root.signed.expires).getTime() <= now.getTime()) {
      problem('EXPIRED_METADATA', `root.json expired on ${store.root.signed.expires}`, 'metadata/root.json');
    }
    checked.roles++;
    for (const role of ['targets', 'snapshot', 'timestamp'] as const) {
      checked.roles++;
      const md = store.get(role);
      const file = `metadata/${role}.json`;
      const count = countSignatures(root, role, md);
      if (count.valid.length < count.threshold) {
        problem(
          'THRESHOLD_NOT_MET',
          `${role}.json: ${count.valid.length} of ${count.threshold} valid signatures`,
          file,
        );
      }
      for (const keyid of count.invalid)
        problem(
          'BAD_SIGNATURE',
          `${role}.json: the signature by ${keyid.slice(0, 12)}… does not verify`,
          file,
        );
      for (const keyid of Object.keys(md.signatures)) {
        if (!root.roles[role]?.keyIDs.includes(keyid)) {
          warn(
            'UNUSED_SIGNATURE',
            `${role}.json: signature by ${keyid.slice(0, 12)}… is not by a key of this role`,
            file,
          );
        }
      }
      if (parseExpires(md.signed.expires).getTime() <= now.getTime()) {
        problem('EXPIRED_METADATA', `${role}.json expired on ${md.signed.expires}`, file);
      }
    }
    const checkMeta = async (
      owner: 'snapshot' | 'timestamp',
      name: string,
      target: 'targets' | 'snapshot',
      meta: { version: number; length?: number; hashes?: Record<string, string> } | undefined,
    ) => {
      const file = `metadata/${owner}.json`;
      if (!meta) return problem('BAD_VERSION', `${owner}.json does not list ${name}`, file);
      const version = (store as MetadataStore).get(target).signed.version;
      if (meta.version !== version) {
        problem(
          'BAD_VERSION',
          `${owner}.json expects ${name} version ${meta.version}, but it is version ${version}`,
          file,
        );
      }
      if (meta.length === undefined && meta.hashes === undefined) return;
      const bytes = await readFile(join(state.metadataDir, name));
      if (meta.length !== undefined && meta.length !== bytes.length) {
        problem(
          'LENGTH_MISMATCH',
          `${name} is ${bytes.length} bytes, ${owner}.json says ${meta.length}`,
          file,
        );
      }
      for (const [alg, hex] of Object.entries(meta.hashes ?? {})) {
        try {
          if (!sameDigest(createHash(alg).update(bytes).digest('hex'), hex))
            problem('HASH_MISMATCH', `${name}: ${alg} differs from ${owner}.json`, file);
        } catch {
          problem('HASH_MISMATCH', `${owner}.json uses an unknown hash algorithm ${alg} for ${name}`, file);
        }
      }
    };
    await checkMeta('snapshot', 'targets.json', 'targets', store.snapshot.signed.meta['targets.json']);
    await checkMeta('timestamp', 'snapshot.json', 'snapshot', store.timestamp.signed.snapshotMeta);
    await verifyTargets(state, store, checked, problem, warn, Boolean(opts.deep));
  }
  const parked = await Publication.loadParked(state.repoDir).catch(() => undefined);
  if (parked)
    warn('PENDING_CHANGE', `a change waits for co-signers: ${parked.plan.summary ?? parked.plan.command}`);
  return { ok: problems.length === 0, problems, warnings, checked };
}

async function verifyTargets(
  state: RepoState,
  store: MetadataStore,
  checked: VerifyReport['checked'],
  problem: (code: string, message: string, file?: string) => void,
  warn: (code: string, message: string, file?: string) => void,
  deep: boolean,
): Promise<void> {
  const listed = new Set<string>();
  for (const [name, t] of Object.entries(store.targets.signed.targets)) {
    listed.add(name);
    const file = `targets/${name}`;
    if (!isSafeTargetName(name)) {
      problem('INVALID_TARGET_PATH', `target path ${JSON.stringify(name)} is not a plain file name`, file);
      continue;
    }
    const algs = Object.keys(t.hashes);
    if (!algs.includes('sha256')) warn('WEAK_HASHES', `${name} has no sha256 hash`, file);
    let hashers: Array<readonly [string, ReturnType<typeof createHash>]>;
    try {
      hashers = algs.map((a) => [a, createHash(a)] as const);
    } catch {
      problem('HASH_MISMATCH', `${name} uses an unknown hash algorithm (${algs.join(', ')})`, file);
      continue;
    }
    try {
      let size = 0;
      for await (const chunk of createReadStream(join(state.targetsDir, name), {
        highWaterMark: 1 << 20,
        ...state.signalOpts(),
      })) {
        size += (chunk as Buffer).length;
        for (const [, h] of hashers) h.update(chunk as Buffer);
      }
      checked.targets++;
      checked.bytes += size;
      if (size !== t.length)
        problem('LENGTH_MISMATCH', `${name} is ${size} bytes, targets.json says ${t.length}`, file);
      for (const [alg, h] of hashers) {
        if (!sameDigest(h.digest('hex'), t.hashes[alg] as string))
          problem('HASH_MISMATCH', `${name}: ${alg} differs from targets.json`, file);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      problem('TARGET_FILE_MISSING', `${name} is in targets.json but not on disk`, file);
    }
  }
  try {
    for (const name of await readdir(state.targetsDir)) {
      if (!listed.has(name) && !name.startsWith('.')) {
        warn(
          'UNREGISTERED_FILE',
          `${name} is in the targets directory but not in targets.json`,
          `targets/${name}`,
        );
      }
    }
  } catch {
    problem('TARGET_FILE_MISSING', `${state.targetsDir} is missing`);
  }
  for (const [name, t] of Object.entries(store.targets.signed.targets)) {
    const parsed = tryParseTargetName(name);
    if (!parsed) {
      warn(
        'UNKNOWN_TARGET',
        `${name} is not a tufup target name (<app>-<version>.tar.gz|.patch)`,
        `targets/${name}`,
      );
      continue;
    }
    try {
      if (parsed.kind === 'archive') readArchiveCustom(t.unrecognizedFields.custom);
      else readPatchCustom(t.unrecognizedFields.custom);
    } catch (err) {
      problem('INVALID_CUSTOM_METADATA', `${name}: ${(err as Error).message}`, `targets/${name}`);
    }
  }
  // Patch chains, per app: a patch needs a version before it, and must produce its own version's tar.
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
          if (await replayPatch(state, prev.archive, p, problem)) checked.patchesReplayed++;
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
    if (err instanceof Error && err.name === 'AbortError') throw err;
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

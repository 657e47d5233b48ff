// The victim in the attack suite: an installed acme app driving @tufup/client, an installer that only records,
// and the checks every refused attack ends with (coded error, install dir byte-identical, installer never called).
import assert from 'node:assert/strict';
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { extractArchive } from '@tufup/archive';
import type { InstallRequest, Installer } from '@tufup/common';
import { Client, type ClientOptions } from '@tufup/client';
import { formatTargetName } from '@tufup/metadata';
import { ATTACK_APP, type AttackRepo } from './attack-repo.js';
import { type TreeEntry, treeDigest } from './scenario.js';

export interface InstalledApp {
  /** The case's own dir: `apps/acme` (install dir), `state/metadata`, `state/targets`. */
  dir: string;
  installDir: string;
  metadataDir: string;
  targetDir: string;
  version: string;
  /** The install dir's tree right after installation. */
  tree: Record<string, TreeEntry>;
}

/**
 * acme `version` as a user has it: the published archive extracted into the install dir, the repository's
 * first root.json as the trusted root, and (unless `cacheArchive` is false) the archive in the target cache,
 * which is what patches apply to.
 */
export async function installAcme(
  repo: AttackRepo,
  version: string,
  dir: string,
  opts: { cacheArchive?: boolean } = {},
): Promise<InstalledApp> {
  const installDir = join(dir, 'apps', ATTACK_APP);
  const metadataDir = join(dir, 'state', 'metadata');
  const targetDir = join(dir, 'state', 'targets');
  await mkdir(metadataDir, { recursive: true });
  await mkdir(targetDir, { recursive: true });
  const archive = join(repo.repoDir, 'targets', formatTargetName(ATTACK_APP, version, 'archive'));
  await extractArchive(archive, installDir);
  await cp(join(repo.repoDir, 'metadata', '1.root.json'), join(metadataDir, 'root.json'));
  if (opts.cacheArchive ?? true) {
    await writeFile(
      join(targetDir, formatTargetName(ATTACK_APP, version, 'archive')),
      await readFile(archive),
    );
  }
  return { dir, installDir, metadataDir, targetDir, version, tree: await treeDigest(installDir) };
}

/**
 * A Client for `app` reading `<baseUrl>/metadata/` and `<baseUrl>/targets/`. Refresh failures throw (so each
 * case sees the coded error) and timeouts are short, so a hostile server can't stall the suite.
 */
export function acmeClient(app: InstalledApp, baseUrl: string, extra: Partial<ClientOptions> = {}): Client {
  return new Client({
    appName: ATTACK_APP,
    currentVersion: app.version,
    installDir: app.installDir,
    metadataDir: app.metadataDir,
    targetDir: app.targetDir,
    metadataBaseUrl: `${baseUrl}/metadata/`,
    targetBaseUrl: `${baseUrl}/targets/`,
    refreshRequired: true,
    // A healthy loopback answer must never time out, however busy the machine: the hostile-server tests that
    // want a timeout pass their own short one (and their servers never answer, so there is no race).
    fetcherOptions: { timeoutMs: 30_000, retries: 1, retryDelayMs: 10, maxRetryDelayMs: 20 },
    ...extra,
  });
}

export interface InstallCall {
  request: InstallRequest;
  /** The staged tree as the installer saw it. */
  staged: Record<string, TreeEntry>;
}

/** An installer that records each call and the staged tree, and touches nothing. */
export function recordingInstaller(): { install: Installer; calls: InstallCall[] } {
  const calls: InstallCall[] = [];
  return {
    calls,
    install: async (request) => {
      calls.push({ request, staged: await treeDigest(request.srcDir) });
    },
  };
}

/** Awaits `promise`, which must reject with a coded error `code`; returns the error for further checks. */
export async function refusedWith(
  promise: Promise<unknown>,
  code: string,
): Promise<Error & { code: string }> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof Error, `expected a rejection with ${code}, but it resolved`);
  const coded = caught as Error & { code?: unknown };
  if (process.env.TUFUP_E2E_SHOW_REFUSALS) console.error(`refused [${String(coded.code)}]: ${coded.message}`);
  assert.equal(coded.code, code, `expected code ${code}, got ${String(coded.code)}: ${coded.message}`);
  return coded as Error & { code: string };
}

/**
 * What a refused attack must leave: the install dir byte-identical (paths, types, modes, hashes, links), the
 * installer never called, and no staging dir beside the install dir.
 */
export async function assertUnharmed(app: InstalledApp, installer: { calls: InstallCall[] }): Promise<void> {
  assert.deepEqual(await treeDigest(app.installDir), app.tree, 'the installed app is byte-identical');
  assert.equal(installer.calls.length, 0, 'the installer was not called');
  assert.deepEqual(await readdir(join(app.dir, 'apps')), [ATTACK_APP], 'no staging dir left beside the app');
}

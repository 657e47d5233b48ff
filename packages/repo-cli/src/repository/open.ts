// Opening a repository, and creating one: config, keys and the first signed metadata as one all-or-nothing step.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathExists, writeFileAtomic } from '@tufup/common';
import {
  MetadataStore,
  type PublicKey,
  ROLE_NAMES,
  generateEd25519Key,
  loadPublicKeyFile,
  writeKeyPair,
} from '@tufup/metadata';
import {
  type PerRole,
  type RepoConfig,
  assertAppName,
  assertKeyName,
  loadConfig,
  makeConfig,
  saveConfig,
} from '../config.js';
import { RepoError } from '../errors.js';
import { lockRepository } from '../lock.js';
import { Publication, hasCommittedJournal, recoverInterrupted } from '@tufup/metadata';
import { stageStore } from './change.js';
import { signRoles, thresholdError } from './signers.js';
import { RepoState, isDirectory } from './state.js';
import type { InitOptions, RepositoryContext, RoleVersion } from './types.js';

/** Open the repository a config file describes. Completes a change a killed process committed but left. */
export async function openRepository(configPath: string, ctx: RepositoryContext): Promise<RepoState> {
  const state = new RepoState(configPath, await loadConfig(configPath), ctx);
  if (!(await pathExists(join(state.metadataDir, 'root.json')))) {
    throw new RepoError({
      code: 'REPO_NOT_FOUND',
      message: `no repository at ${state.repoDir} (metadata/root.json is missing; run \`tufup init\`)`,
    });
  }
  if (await hasCommittedJournal(state.repoDir)) {
    // Readers finish an interrupted commit too (under the lock), so what they report is a whole state.
    const lock = await lockRepository(state.repoDir, 'recover');
    try {
      await recoverInterrupted(state.repoDir, state.logger);
    } finally {
      await lock.release();
    }
  }
  return state;
}

export interface Initialized {
  state: RepoState;
  createdKeys: string[];
  reusedKeys: string[];
  published: RoleVersion[];
}

/**
 * Create config, keys and the first signed metadata (every role at version 1). Key pairs already in keys_dir
 * are used as they are (so a CI job can bring its own); a failure removes what this call created.
 */
export async function initializeRepository(
  configPath: string,
  opts: InitOptions,
  ctx: RepositoryContext,
): Promise<Initialized> {
  const config = initialConfig(configPath, opts);
  const state = new RepoState(configPath, config, ctx);
  const configExists = await pathExists(configPath);
  if (configExists && !opts.overwriteConfig) {
    throw new RepoError({
      code: 'CONFIG_EXISTS',
      message: `${configPath} exists: this directory has a repository config already`,
    });
  }
  if (await pathExists(join(state.metadataDir, 'root.json'))) {
    if (opts.overwriteConfig) {
      // python tufup's "Modify?" on an initialized repository only rewrites the settings.
      await saveConfig(configPath, config);
      state.logger.warn(
        'the repository exists: only the config was changed (use `tufup keys` to change keys)',
      );
      return { state, createdKeys: [], reusedKeys: [], published: [] };
    }
    throw new RepoError({ code: 'REPO_EXISTS', message: `${state.repoDir} already holds a repository` });
  }

  const created: string[] = [];
  const createdDirs: string[] = [];
  const oldConfig = configExists ? await readFile(configPath) : undefined;
  let lock: Awaited<ReturnType<typeof lockRepository>> | undefined;
  let publication: Publication | undefined;
  try {
    for (const d of [config.keysDir, config.repoDir]) {
      if (!(await isDirectory(d))) {
        let top = d;
        while (!(await isDirectory(dirname(top))) && dirname(top) !== top) top = dirname(top);
        createdDirs.push(top);
        await mkdir(d, { recursive: true });
      }
    }
    lock = await lockRepository(config.repoDir, 'init');
    const { pubs, reused } = await provideKeys(state, created);
    const keys = {} as PerRole<PublicKey[]>;
    for (const role of ROLE_NAMES) keys[role] = config.keyMap[role].map((n) => pubs.get(n) as PublicKey);
    const store = MetadataStore.create(state.metadataDir, {
      keys,
      thresholds: config.thresholds,
      expirationDays: config.expirationDays,
      consistentSnapshot: Boolean(opts.consistentSnapshot),
      now: state.now(),
    });
    const short = await signRoles(state, store, [...ROLE_NAMES], [config.keysDir], []);
    if (short.length) throw thresholdError(state, short, false);
    publication = await Publication.begin(config.repoDir, 'init');
    await mkdir(state.targetsDir, { recursive: true });
    await stageStore(state, store, publication);
    await saveConfig(configPath, config);
    await publication.commit();
    publication = undefined;
    return {
      state,
      createdKeys: created,
      reusedKeys: reused,
      published: ROLE_NAMES.map((role) => ({ role, version: 1 })),
    };
  } catch (err) {
    await publication?.discard();
    for (const name of created) {
      await rm(join(config.keysDir, name), { force: true });
      await rm(join(config.keysDir, `${name}.pub`), { force: true });
    }
    await lock?.release();
    for (const d of createdDirs.reverse()) await rm(d, { recursive: true, force: true });
    if (oldConfig) await writeFileAtomic(configPath, oldConfig);
    else if (!configExists) await rm(configPath, { force: true });
    throw err;
  } finally {
    await lock?.release();
  }
}

/** The new repository's config: the options over python tufup's defaults, checked (a threshold needs its keys). */
function initialConfig(configPath: string, opts: InitOptions): RepoConfig {
  const configDir = dirname(configPath);
  const defaults = makeConfig(configDir, { appName: assertAppName(opts.appName) });
  const keyMap = {} as PerRole<string[]>;
  const thresholds = {} as PerRole<number>;
  const expirationDays = {} as PerRole<number>;
  for (const role of ROLE_NAMES) {
    keyMap[role] = [...new Set(opts.keyMap?.[role] ?? defaults.keyMap[role])].map(assertKeyName);
    thresholds[role] = opts.thresholds?.[role] ?? defaults.thresholds[role];
    expirationDays[role] = opts.expirationDays?.[role] ?? defaults.expirationDays[role];
    if (thresholds[role] > keyMap[role].length) {
      throw new RepoError({
        code: 'INVALID_ARGUMENT',
        message: `${role} threshold ${thresholds[role]} is more than its ${keyMap[role].length} key(s)`,
      });
    }
  }
  const allNames = new Set(ROLE_NAMES.flatMap((r) => keyMap[r]));
  const encryptedKeys = [...new Set(opts.encryptedKeys ?? [])];
  for (const k of encryptedKeys) {
    if (!allNames.has(k)) {
      throw new RepoError({
        code: 'INVALID_ARGUMENT',
        message: `--encrypted ${k}: no role uses a key of that name`,
      });
    }
  }
  return makeConfig(configDir, {
    appName: opts.appName,
    ...(opts.repoDir !== undefined ? { repoDir: opts.repoDir } : {}),
    ...(opts.keysDir !== undefined ? { keysDir: opts.keysDir } : {}),
    keyMap,
    thresholds,
    expirationDays,
    encryptedKeys,
    patchFormat: opts.patchFormat ?? 'native',
  });
}

/**
 * The public key of every key name in the key map: an existing pair in keys_dir is reused, a missing one is
 * generated (its name pushed to `created` at once, so a failure can remove it). Every passphrase is asked first:
 * nothing is written until every question is answered.
 */
async function provideKeys(
  state: RepoState,
  created: string[],
): Promise<{ pubs: Map<string, PublicKey>; reused: string[] }> {
  const { keysDir, keyMap, encryptedKeys } = state.config;
  const allNames = [...new Set(ROLE_NAMES.flatMap((r) => keyMap[r]))];
  const passphrases = new Map<string, string>();
  for (const name of allNames) {
    if (!(await pathExists(join(keysDir, `${name}.pub`))) && encryptedKeys.includes(name)) {
      passphrases.set(name, await state.passphrases.forNewKey(name));
    }
  }
  const pubs = new Map<string, PublicKey>();
  const reused: string[] = [];
  for (const name of allNames) {
    const pubPath = join(keysDir, `${name}.pub`);
    if (await pathExists(pubPath)) {
      pubs.set(name, await loadPublicKeyFile(pubPath));
      reused.push(name);
      continue;
    }
    if (await pathExists(join(keysDir, name))) {
      throw new RepoError({ code: 'KEY_EXISTS', message: `${join(keysDir, name)} exists without its .pub` });
    }
    const key = generateEd25519Key();
    const passphrase = passphrases.get(name);
    await writeKeyPair(keysDir, name, key, passphrase !== undefined ? { passphrase } : {});
    created.push(name);
    pubs.set(name, key.publicKey());
    state.loadedKeys.set(key.keyid, key);
  }
  return { pubs, reused };
}

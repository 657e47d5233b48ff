// The Repository: a tufup (TUF) repository on disk, and every change to it as one locked, all-or-nothing step.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, copyFile, mkdir, open, readFile, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import {
  HashingStream,
  type Logger,
  type OnProgress,
  hashFile,
  isTufupError,
  makeTempDir,
  sameDigest,
  silentLogger,
  throwIfAborted,
  writeFileAtomic,
} from '@tufup/common';
import {
  type AnyRoleMetadata,
  MetadataStore,
  type PrivateKey,
  type PublicKey,
  compareVersions,
  countSignatures,
  expiresIn,
  findPrivateKeyFile,
  formatTargetName,
  generateEd25519Key,
  isPrerelease,
  loadPrivateKeyFile,
  loadPublicKeyFile,
  makeArchiveCustom,
  makePatchCustom,
  parseExpires,
  parseMetadata,
  parseVersion,
  readArchiveCustom,
  readPatchCustom,
  serializeMetadata,
  tryParseTargetName,
  verifyRootRotation,
  writeKeyPair,
} from '@tufup/metadata';
import {
  ROLE_NAMES,
  assertAppName,
  assertKeyName,
  loadConfig,
  makeConfig,
  saveConfig,
  type PatchFormat,
  type PerRole,
  type RepoConfig,
  type RoleName,
} from './config.js';
import { RepoError } from './errors.js';
import { acquireLock, type RepositoryLock } from './lock.js';
import { type PassphraseSource, passphraseSource } from './passphrase.js';
import { Publication, hasCommittedJournal, recoverInterrupted } from './publication.js';
import type {
  AppReleases,
  ReleaseEntry,
  StatusReport,
  TargetEntry,
  VerifyProblem,
  VerifyReport,
} from './reports.js';

export interface RepositoryContext {
  logger?: Logger;
  passphrases?: PassphraseSource;
  onProgress?: OnProgress;
  signal?: AbortSignal;
  cwd?: string;
  /** The clock for expiry dates (tests). */
  now?: () => Date;
}

export interface InitOptions {
  appName: string;
  repoDir?: string;
  keysDir?: string;
  keyMap?: Partial<PerRole<string[]>>;
  thresholds?: Partial<PerRole<number>>;
  expirationDays?: Partial<PerRole<number>>;
  encryptedKeys?: string[];
  patchFormat?: PatchFormat;
  /** Interactive init on an existing config: rewrite it (python tufup's "Modify?"). */
  overwriteConfig?: boolean;
}

export interface RoleVersion {
  role: RoleName;
  version: number;
}

export interface UnsignedRole {
  role: RoleName;
  have: number;
  need: number;
}

export interface PublishResult {
  /** Roles written, with their new versions. Empty for a parked change. */
  published: RoleVersion[];
  /** Set when the change was staged for co-signing instead of published. */
  parked?: { unsignedRoles: UnsignedRole[] };
}

export interface AddBundleOptions {
  version: string;
  bundleDir: string;
  keyDirs: string[];
  skipPatch?: boolean;
  required?: boolean;
  /** The `user` part of the archive's custom metadata (python tufup's --meta). */
  userMeta?: Record<string, unknown>;
  appName?: string;
  partial?: boolean;
}

export interface SignOptions {
  role: RoleName;
  keyDirs: string[];
  /** Refresh the expiry (N days, or the config's), bump and cascade. Without: add signatures only. */
  expirationDays?: number | 'default';
  partial?: boolean;
}

interface ChangeSpec {
  command: string;
  summary: string;
  keyDirs: string[];
  partial: boolean;
  /** Roles the change edits; the cascade (root → targets → snapshot → timestamp) is added. */
  roles: RoleName[];
  /** Roles to bump even when their content is unchanged (re-signing with a new expiry). */
  force?: RoleName[];
  expirationDays?: Partial<PerRole<number>>;
  /** More key names to look for (old keys being replaced, keys being added). */
  extraKeyNames?: string[];
  /** Checks that need the current metadata; run before keys are loaded or anything is written. */
  prepare?: (store: MetadataStore) => Promise<void> | void;
  apply: (store: MetadataStore, publication: Publication) => Promise<void>;
  config?: (config: RepoConfig) => RepoConfig;
}

/** The roles a change to `roles` makes stale (python tufup's cascade). */
function cascade(roles: Iterable<RoleName>): Set<RoleName> {
  const out = new Set(roles);
  if (out.has('root')) out.add('targets');
  if (out.has('targets')) out.add('snapshot');
  if (out.has('snapshot')) out.add('timestamp');
  return out;
}

/** Of `ids`, `threshold` must sign. */
interface SignerNeed {
  ids: readonly string[];
  threshold: number;
}

/** securesystemslib's encrypted key files are `salt@@@@iterations@@@@...`; plain ones are JSON. */
async function isEncryptedKeyFile(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(64);
    const { bytesRead } = await fh.read(head, 0, 64, 0);
    return !head.subarray(0, bytesRead).toString('latin1').trimStart().startsWith('{');
  } finally {
    await fh.close();
  }
}

/** The repository files holding a role (root: its versioned file and root.json). */
function roleFiles(role: RoleName, version: number): string[] {
  return role === 'root'
    ? [`metadata/${version}.root.json`, 'metadata/root.json']
    : [`metadata/${role}.json`];
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function fileExists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

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

function validCount(store: MetadataStore, role: RoleName, md: AnyRoleMetadata = store.get(role)): number {
  return countSignatures(store.root.signed, role, md).valid.length;
}

export class Repository {
  readonly #logger: Logger;
  readonly #passphrases: PassphraseSource;
  readonly #ctx: RepositoryContext;
  readonly #loadedKeys = new Map<string, PrivateKey>();

  private constructor(
    readonly configPath: string,
    public config: RepoConfig,
    ctx: RepositoryContext,
  ) {
    this.#ctx = ctx;
    this.#logger = ctx.logger ?? silentLogger;
    this.#passphrases = ctx.passphrases ?? passphraseSource();
  }

  get repoDir(): string {
    return this.config.repoDir;
  }
  get metadataDir(): string {
    return join(this.config.repoDir, 'metadata');
  }
  get targetsDir(): string {
    return join(this.config.repoDir, 'targets');
  }

  #now(): Date {
    return this.#ctx.now?.() ?? new Date();
  }

  #signalOpts(): { signal?: AbortSignal } {
    return this.#ctx.signal ? { signal: this.#ctx.signal } : {};
  }

  #progressOpts(): { onProgress?: OnProgress; signal?: AbortSignal } {
    return { ...(this.#ctx.onProgress ? { onProgress: this.#ctx.onProgress } : {}), ...this.#signalOpts() };
  }

  // ---- opening and creating -------------------------------------------------------------------------

  /** Open the repository a config file describes. Completes a change a killed process committed but left. */
  static async open(configPath: string, ctx: RepositoryContext = {}): Promise<Repository> {
    const config = await loadConfig(configPath);
    const repo = new Repository(configPath, config, ctx);
    if (!(await fileExists(join(repo.metadataDir, 'root.json')))) {
      throw new RepoError({
        code: 'REPO_NOT_FOUND',
        message: `no repository at ${repo.repoDir} (metadata/root.json is missing; run \`tufup init\`)`,
      });
    }
    if (await hasCommittedJournal(repo.repoDir)) {
      // Readers finish an interrupted commit too (under the lock), so what they report is a whole state.
      const lock = await acquireLock(repo.repoDir, 'recover');
      try {
        await recoverInterrupted(repo.repoDir, repo.#logger);
      } finally {
        await lock.release();
      }
    }
    return repo;
  }

  /**
   * Create config, keys and the first signed metadata (every role at version 1). Key pairs already in keys_dir
   * are used as they are (so a CI job can bring its own); a failure removes what this call created.
   */
  static async initialize(
    configPath: string,
    opts: InitOptions,
    ctx: RepositoryContext = {},
  ): Promise<{ repo: Repository; createdKeys: string[]; reusedKeys: string[]; published: RoleVersion[] }> {
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
    const allNames = [...new Set(ROLE_NAMES.flatMap((r) => keyMap[r]))];
    const encryptedKeys = [...new Set(opts.encryptedKeys ?? [])];
    for (const k of encryptedKeys) {
      if (!allNames.includes(k)) {
        throw new RepoError({
          code: 'INVALID_ARGUMENT',
          message: `--encrypted ${k}: no role uses a key of that name`,
        });
      }
    }
    const config = makeConfig(configDir, {
      appName: opts.appName,
      ...(opts.repoDir !== undefined ? { repoDir: opts.repoDir } : {}),
      ...(opts.keysDir !== undefined ? { keysDir: opts.keysDir } : {}),
      keyMap,
      thresholds,
      expirationDays,
      encryptedKeys,
      patchFormat: opts.patchFormat ?? 'native',
    });
    const repo = new Repository(configPath, config, ctx);
    const configExists = await fileExists(configPath);
    if (configExists && !opts.overwriteConfig) {
      throw new RepoError({
        code: 'CONFIG_EXISTS',
        message: `${configPath} exists: this directory has a repository config already`,
      });
    }
    if (await fileExists(join(repo.metadataDir, 'root.json'))) {
      if (opts.overwriteConfig) {
        // python tufup's "Modify?" on an initialized repository only rewrites the settings.
        await saveConfig(configPath, config);
        repo.#logger.warn(
          'the repository exists: only the config was changed (use `tufup keys` to change keys)',
        );
        return { repo, createdKeys: [], reusedKeys: [], published: [] };
      }
      throw new RepoError({ code: 'REPO_EXISTS', message: `${repo.repoDir} already holds a repository` });
    }

    const created: string[] = [];
    const createdDirs: string[] = [];
    const oldConfig = configExists ? await readFile(configPath) : undefined;
    let lock: RepositoryLock | undefined;
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
      lock = await acquireLock(config.repoDir, 'init');
      // Every passphrase first: nothing is written until every question is answered.
      const passphrases = new Map<string, string>();
      for (const name of allNames) {
        if (!(await fileExists(join(config.keysDir, `${name}.pub`))) && encryptedKeys.includes(name)) {
          passphrases.set(name, await repo.#passphrases.forNewKey(name));
        }
      }
      const pubs = new Map<string, PublicKey>();
      const reused: string[] = [];
      for (const name of allNames) {
        const pubPath = join(config.keysDir, `${name}.pub`);
        if (await fileExists(pubPath)) {
          pubs.set(name, await loadPublicKeyFile(pubPath));
          reused.push(name);
          continue;
        }
        if (await fileExists(join(config.keysDir, name))) {
          throw new RepoError({
            code: 'KEY_EXISTS',
            message: `${join(config.keysDir, name)} exists without its .pub`,
          });
        }
        const key = generateEd25519Key();
        const passphrase = passphrases.get(name);
        await writeKeyPair(config.keysDir, name, key, passphrase !== undefined ? { passphrase } : {});
        created.push(name);
        pubs.set(name, key.publicKey());
        repo.#loadedKeys.set(key.keyid, key);
      }
      const keys = {} as PerRole<PublicKey[]>;
      for (const role of ROLE_NAMES) keys[role] = keyMap[role].map((n) => pubs.get(n) as PublicKey);
      const store = MetadataStore.create(repo.metadataDir, {
        keys,
        thresholds,
        expirationDays,
        now: repo.#now(),
      });
      const short = await repo.#signRoles(store, [...ROLE_NAMES], [config.keysDir], []);
      if (short.length) throw repo.#thresholdError(short, false);
      publication = await Publication.begin(config.repoDir, 'init');
      await mkdir(repo.targetsDir, { recursive: true });
      await repo.#stageRoles(store, [...ROLE_NAMES], publication);
      await saveConfig(configPath, config);
      await publication.commit();
      publication = undefined;
      return {
        repo,
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

  // ---- reading ------------------------------------------------------------------------------------

  /** Load the metadata; anything unreadable or inconsistent is METADATA_CORRUPT (naming the problem). */
  async #loadStore(dir = this.metadataDir): Promise<MetadataStore> {
    try {
      return await MetadataStore.load(dir, { expirationDays: this.config.expirationDays });
    } catch (cause) {
      if (isTufupError(cause) && cause.name === 'MetadataError') {
        throw new RepoError({ code: 'METADATA_CORRUPT', message: `${dir}: ${cause.message}`, cause });
      }
      throw cause;
    }
  }

  /** Refuse to sign on top of metadata that isn't validly signed now (a tampered file must not get blessed). */
  #assertTrusted(store: MetadataStore, roles: Iterable<RoleName>): void {
    for (const role of roles) {
      const valid = validCount(store, role);
      const need = store.threshold(role);
      if (valid < need) {
        throw new RepoError({
          code: 'METADATA_CORRUPT',
          message:
            `${role}.json has ${valid} valid signature${valid === 1 ? '' : 's'} of ${need} needed: refusing to build on it` +
            ` (if it waits for co-signers, run \`tufup sign ${role} <key_dirs...>\`; else restore it from a backup)`,
        });
      }
    }
    if (store.root.signed.consistentSnapshot) {
      throw new RepoError({
        code: 'METADATA_CORRUPT',
        message:
          'root.json sets consistent_snapshot: repositories with versioned metadata file names are not supported',
      });
    }
  }

  #targetEntries(store: MetadataStore): TargetEntry[] {
    const out: TargetEntry[] = [];
    for (const [filename, t] of Object.entries(store.targets.signed.targets)) {
      const parsed = tryParseTargetName(filename);
      if (!parsed) continue;
      const entry: TargetEntry = {
        filename,
        app: parsed.name,
        version: parsed.version,
        kind: parsed.kind,
        length: t.length,
        sha256: t.hashes.sha256 ?? '',
      };
      const custom = t.unrecognizedFields.custom;
      try {
        if (parsed.kind === 'archive') {
          const c = readArchiveCustom(custom);
          entry.required = c.required;
          entry.user = c.user ?? null;
        } else {
          const c = readPatchCustom(custom);
          entry.tarSize = c.tarSize;
          entry.tarHash = c.tarHash;
        }
      } catch {
        // Reported by verify; listing still shows the file.
      }
      out.push(entry);
    }
    return out;
  }

  #appReleases(entries: TargetEntry[], appFilter?: string): AppReleases[] {
    const byApp = new Map<string, Map<string, ReleaseEntry>>();
    for (const e of entries) {
      if (appFilter !== undefined && e.app !== appFilter) continue;
      const versions = byApp.get(e.app) ?? new Map<string, ReleaseEntry>();
      byApp.set(e.app, versions);
      let release = versions.get(e.version);
      if (!release) {
        release = { version: e.version, prerelease: isPrerelease(e.version), required: false };
        versions.set(e.version, release);
      }
      if (e.kind === 'archive') {
        release.archive = e;
        release.required = e.required ?? false;
      } else release.patch = e;
    }
    return [...byApp.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([app, versions]) => {
        const releases = [...versions.values()].sort((a, b) => compareVersions(a.version, b.version));
        const latest = releases.filter((r) => r.archive).at(-1)?.version;
        return {
          app,
          releases,
          ...(latest !== undefined ? { latest } : {}),
          patchChainBreaks: releases
            .slice(1)
            .filter((r) => !r.patch)
            .map((r) => r.version),
        };
      });
  }

  /** Releases per app (all apps, or one). */
  async listApps(appName?: string): Promise<AppReleases[]> {
    return this.#appReleases(this.#targetEntries(await this.#loadStore()), appName);
  }

  // ---- keys ---------------------------------------------------------------------------------------

  async #checkKeyDirs(keyDirs: string[]): Promise<string[]> {
    if (keyDirs.length === 0)
      throw new RepoError({ code: 'USAGE', message: 'give at least one key directory' });
    const cwd = this.#ctx.cwd ?? process.cwd();
    const out: string[] = [];
    for (const d of keyDirs) {
      const abs = resolve(cwd, d);
      if (!(await isDirectory(abs))) {
        throw new RepoError({
          code: 'KEY_DIR_NOT_FOUND',
          message: `key directory ${d} does not exist or is not a directory`,
        });
      }
      out.push(abs);
    }
    return out;
  }

  /** Load a private key, asking for its passphrase (again, on a terminal, when it was wrong). */
  async #loadPrivateKey(path: string, name: string): Promise<PrivateKey> {
    for (let attempt = 1; ; attempt++) {
      try {
        const key = await loadPrivateKeyFile(path, {
          passphrase: () => this.#passphrases.forKey(name, attempt),
        });
        this.#loadedKeys.set(key.keyid, key);
        return key;
      } catch (err) {
        if ((err as { code?: string }).code !== 'KEY_DECRYPTION_FAILED') throw err;
        if (attempt < 3 && this.#passphrases.canRetry(name)) continue;
        throw new RepoError({
          code: 'WRONG_PASSPHRASE',
          message: `wrong passphrase for key "${name}" (${path})`,
          cause: err,
        });
      }
    }
  }

  /** The keyid of key `name` without decrypting it: from a .pub beside the private key, or in keys_dir. */
  async #keyidOf(name: string, privatePath: string): Promise<string | undefined> {
    for (const p of [`${privatePath}.pub`, join(this.config.keysDir, `${name}.pub`)]) {
      if (await fileExists(p)) {
        try {
          return (await loadPublicKeyFile(p)).keyid;
        } catch {
          // an unreadable .pub: fall back to the private key
        }
      }
    }
    return undefined;
  }

  /**
   * Private keys for `needs` (each: a set of keyids of which `threshold` must sign), found by name (python tufup's
   * key_map names, searched recursively in the key dirs). Plain key files are always used; an encrypted one is
   * only decrypted (passphrase asked) when a threshold still needs it, unless `every` asks for all of them (an
   * explicit `tufup sign`). A key's .pub tells its keyid without decrypting it.
   */
  async #findSigners(
    keyDirs: string[],
    needs: SignerNeed[],
    extraNames: string[],
    opts: { every?: boolean } = {},
  ): Promise<Map<string, PrivateKey>> {
    const wanted = new Set(needs.flatMap((n) => n.ids));
    const found = new Map<string, PrivateKey>();
    for (const id of wanted) {
      const k = this.#loadedKeys.get(id);
      if (k) found.set(id, k);
    }
    const helps = (keyid: string | undefined) =>
      needs.some(
        (n) =>
          (keyid === undefined || n.ids.includes(keyid)) &&
          n.ids.filter((id) => found.has(id)).length < n.threshold,
      );
    const candidates: Array<{ name: string; path: string; keyid: string | undefined; encrypted: boolean }> =
      [];
    const names = [...new Set([...ROLE_NAMES.flatMap((r) => this.config.keyMap[r]), ...extraNames])];
    for (const name of names) {
      const path = await findPrivateKeyFile(name, keyDirs);
      if (!path) continue;
      const keyid = await this.#keyidOf(name, path);
      if (keyid !== undefined && (!wanted.has(keyid) || found.has(keyid))) continue;
      candidates.push({ name, path, keyid, encrypted: await isEncryptedKeyFile(path) });
    }
    for (const c of [...candidates.filter((x) => !x.encrypted), ...candidates.filter((x) => x.encrypted)]) {
      if (c.keyid !== undefined && found.has(c.keyid)) continue;
      if (c.encrypted && !opts.every && !helps(c.keyid)) continue;
      throwIfAborted(this.#ctx.signal);
      const key = await this.#loadPrivateKey(c.path, c.name);
      if (wanted.has(key.keyid)) found.set(key.keyid, key);
    }
    return found;
  }

  /** What signing `roles` of `store` needs: each role's keys and threshold, and for a new root the old root's too. */
  #needs(store: MetadataStore, roles: Iterable<RoleName>): SignerNeed[] {
    const needs: SignerNeed[] = [];
    for (const role of roles) {
      needs.push({
        ids: [...(store.root.signed.roles[role]?.keyIDs ?? [])],
        threshold: store.threshold(role),
      });
      const base = store.previousRoot;
      if (role === 'root' && base && base.signed.version === store.root.signed.version - 1) {
        needs.push({
          ids: [...(base.signed.roles.root?.keyIDs ?? [])],
          threshold: base.signed.roles.root?.threshold ?? 1,
        });
      }
    }
    return needs;
  }

  #thresholdError(short: UnsignedRole[], suggestPartial: boolean): RepoError {
    const first = short[0] as UnsignedRole;
    if (short.every((u) => u.have === 0)) {
      const names = [...new Set(short.flatMap((u) => this.config.keyMap[u.role]))];
      return new RepoError({
        code: 'KEY_NOT_FOUND',
        message: `no private key to sign ${[...new Set(short.map((u) => u.role))].join(', ')} in the key directories given (looked for: ${names.join(', ')})`,
      });
    }
    return new RepoError({
      code: 'THRESHOLD_NOT_MET',
      message:
        `not enough keys: ${short.map((u) => `${u.role} ${u.have} of ${u.need}`).join(', ')} signatures` +
        (suggestPartial
          ? `; add the other key dirs, or pass --partial to stage the change for \`tufup sign ${first.role}\` by the other key holders`
          : ''),
    });
  }

  /** Roles below threshold; a new root counts against the root it replaces too. */
  #shortfall(store: MetadataStore, roles: RoleName[]): UnsignedRole[] {
    const out: UnsignedRole[] = [];
    for (const role of roles) {
      const have = validCount(store, role);
      const need = store.threshold(role);
      if (have < need) out.push({ role, have, need });
      const base = store.previousRoot;
      if (role === 'root' && base && base.signed.version === store.root.signed.version - 1 && have >= need) {
        const count = countSignatures(base.signed, 'root', store.root);
        if (count.valid.length < count.threshold)
          out.push({ role, have: count.valid.length, need: count.threshold });
      }
    }
    return out;
  }

  /** Sign `roles` with every key of theirs found in the key dirs; returns the roles still short of threshold. */
  async #signRoles(
    store: MetadataStore,
    roles: RoleName[],
    keyDirs: string[],
    extraNames: string[],
  ): Promise<UnsignedRole[]> {
    const signers = await this.#findSigners(keyDirs, this.#needs(store, roles), extraNames);
    for (const role of roles) {
      const keys = store
        .signingKeyIds(role)
        .map((id) => signers.get(id))
        .filter((k): k is PrivateKey => k !== undefined);
      if (keys.length) store.sign(role, keys);
    }
    return this.#shortfall(store, roles);
  }

  /** Write `roles` of the store into the publication (root as N.root.json and root.json). */
  async #stageRoles(store: MetadataStore, roles: RoleName[], publication: Publication): Promise<void> {
    for (const role of ROLE_NAMES) {
      if (!roles.includes(role)) continue;
      const md = store.get(role);
      const text = serializeMetadata(md);
      for (const file of roleFiles(role, md.signed.version)) await publication.writeFile(file, text);
    }
  }

  /**
   * A parked change keeps a full metadata view beside its staged files, so co-signers can load it as a store
   * (with the root it replaces, for the rotation check).
   */
  async #writeParkedView(publication: Publication): Promise<void> {
    const view = join(publication.dir, 'view');
    await mkdir(view, { recursive: true });
    for (const name of await readdir(this.metadataDir)) {
      if (/^(\d+\.root|root|targets|snapshot|timestamp)\.json$/.test(name))
        await copyFile(join(this.metadataDir, name), join(view, name));
    }
    for (const file of publication.files) {
      if (file.startsWith('metadata/'))
        await copyFile(publication.stagedPath(file), join(view, file.slice('metadata/'.length)));
    }
  }

  /**
   * Refuse to change a repository whose directories were made read-only (no owner write bit). Root ignores
   * permissions, so a write-protected copy (a published mirror, a reference fixture) is only safe if we look.
   */
  async #assertWritable(): Promise<void> {
    for (const dir of [this.repoDir, this.metadataDir, this.targetsDir]) {
      const st = await stat(dir).catch(() => undefined);
      if (st && (st.mode & 0o200) === 0) {
        throw new RepoError({
          code: 'REPO_READ_ONLY',
          message: `${dir} is read-only: refusing to change the repository (make it writable, or work on a copy)`,
        });
      }
    }
  }

  // ---- the change engine --------------------------------------------------------------------------

  /**
   * Run one change: lock, recover, load and check, prepare, check the keys at hand, apply (staging files), bump,
   * sign, then commit (or park, with --partial, when short of signatures). A failure leaves the repository as it was.
   */
  async #change(spec: ChangeSpec): Promise<PublishResult> {
    const keyDirs = await this.#checkKeyDirs(spec.keyDirs);
    await this.#assertWritable();
    const lock = await acquireLock(this.repoDir, spec.command);
    let publication: Publication | undefined;
    const oldConfigText = await readFile(this.configPath).catch(() => undefined);
    let configWritten = false;
    try {
      await recoverInterrupted(this.repoDir, this.#logger);
      const parked = await Publication.loadParked(this.repoDir);
      if (parked) {
        throw new RepoError({
          code: 'REPO_PENDING',
          message: `a change waits for co-signers (${parked.plan.summary ?? parked.plan.command}): complete it with \`tufup sign <role> <key_dirs...>\`, or delete ${parked.publication.dir} to drop it`,
        });
      }
      const store = await this.#loadStore();
      const roles = cascade(spec.roles);
      this.#assertTrusted(store, roles);
      await spec.prepare?.(store);

      // Fail before the expensive part (archiving) when the keys at hand cannot reach a threshold. The current
      // root's keys must sign a new root too, so root is checked against them here.
      const needsNow: SignerNeed[] = [...roles].map((r) => ({
        ids: [...(store.root.signed.roles[r]?.keyIDs ?? [])],
        threshold: store.threshold(r),
      }));
      const available = await this.#findSigners(keyDirs, needsNow, spec.extraKeyNames ?? []);
      const early: UnsignedRole[] = [];
      for (const r of roles) {
        const have = (store.root.signed.roles[r]?.keyIDs ?? []).filter((id) => available.has(id)).length;
        const need = store.threshold(r);
        if (have < need) early.push({ role: r, have, need });
      }
      if (early.length && (!spec.partial || available.size === 0))
        throw this.#thresholdError(early, !spec.partial);

      publication = await Publication.begin(this.repoDir, spec.command);
      await spec.apply(store, publication);
      throwIfAborted(this.#ctx.signal);
      const bumped = store.bump({
        now: this.#now(),
        ...(spec.force ? { force: spec.force } : {}),
        ...(spec.expirationDays ? { expirationDays: spec.expirationDays } : {}),
      });
      const short = await this.#signRoles(store, bumped, keyDirs, spec.extraKeyNames ?? []);
      if (short.length && !spec.partial) throw this.#thresholdError(short, true);
      await this.#stageRoles(store, bumped, publication);
      if (spec.config) {
        this.config = spec.config(this.config);
        await saveConfig(this.configPath, this.config);
        configWritten = true;
      }
      throwIfAborted(this.#ctx.signal);
      if (short.length) {
        await this.#writeParkedView(publication);
        await publication.park(short, spec.summary);
        publication = undefined;
        return { published: [], parked: { unsignedRoles: short } };
      }
      await publication.commit();
      publication = undefined;
      return { published: bumped.map((role) => ({ role, version: store.get(role).signed.version })) };
    } catch (err) {
      if (configWritten && oldConfigText) await writeFileAtomic(this.configPath, oldConfigText);
      throw err;
    } finally {
      await publication?.discard();
      await lock.release();
    }
  }

  // ---- releases -----------------------------------------------------------------------------------

  /** Archive a bundle as a new release, with a patch from the app's previous release, and publish it. */
  async addBundle(
    opts: AddBundleOptions,
  ): Promise<PublishResult & { archive: TargetEntry; patch?: TargetEntry }> {
    const appName = assertAppName(opts.appName ?? this.config.appName);
    const version = parseVersion(opts.version);
    const archiveName = formatTargetName(appName, version, 'archive');
    const patchName = formatTargetName(appName, version, 'patch');
    const bundleDir = resolve(this.#ctx.cwd ?? process.cwd(), opts.bundleDir);
    if (!(await isDirectory(bundleDir))) {
      throw new RepoError({
        code: 'BUNDLE_NOT_FOUND',
        message: `bundle directory ${opts.bundleDir} does not exist or is not a directory`,
      });
    }
    if ((await readdir(bundleDir)).length === 0) {
      throw new RepoError({ code: 'BUNDLE_EMPTY', message: `bundle directory ${opts.bundleDir} is empty` });
    }
    let previous: TargetEntry | undefined;
    let archive: TargetEntry | undefined;
    let patch: TargetEntry | undefined;
    const result = await this.#change({
      command: `targets add ${version}`,
      summary: `targets add ${appName} ${version}`,
      keyDirs: opts.keyDirs,
      partial: Boolean(opts.partial),
      roles: ['targets'],
      prepare: (store) => {
        const archives = this.#targetEntries(store)
          .filter((e) => e.app === appName && e.kind === 'archive')
          .sort((a, b) => compareVersions(a.version, b.version));
        previous = archives.at(-1);
        if (previous && compareVersions(version, previous.version) <= 0) {
          throw new RepoError({
            code: 'VERSION_NOT_NEWER',
            message: `${appName} ${version} is not newer than the latest release ${previous.version}`,
          });
        }
        if (store.getTarget(archiveName) || store.getTarget(patchName)) {
          throw new RepoError({
            code: 'VERSION_NOT_NEWER',
            message: `${archiveName} is already in the repository`,
          });
        }
      },
      apply: async (store, publication) => {
        const scratch = await publication.scratchDir();
        const newTar = join(scratch, 'new.tar');
        const archivePath = publication.stagedPath(`targets/${archiveName}`);
        await mkdir(dirname(archivePath), { recursive: true });
        this.#logger.debug(`archiving ${bundleDir}`);
        const { createArchive } = await import('@tufup/archive');
        const made = await createArchive(bundleDir, archivePath, {
          tarPath: newTar,
          ...this.#progressOpts(),
        });
        publication.add(`targets/${archiveName}`);
        const user = opts.userMeta ?? null;
        store.addTarget(archiveName, {
          length: made.gzip.size,
          sha256: made.gzip.sha256,
          custom: makeArchiveCustom({ required: Boolean(opts.required), user }),
        });
        archive = {
          filename: archiveName,
          app: appName,
          version,
          kind: 'archive',
          length: made.gzip.size,
          sha256: made.gzip.sha256,
          required: Boolean(opts.required),
          user,
        };
        if (previous && !opts.skipPatch) {
          patch = await this.#makePatch(previous, newTar, made.tar, patchName, publication, scratch);
          store.addTarget(patchName, {
            length: patch.length,
            sha256: patch.sha256,
            custom: makePatchCustom({ tarSize: made.tar.size, tarHash: made.tar.sha256 }),
          });
        }
        await rm(newTar, { force: true });
      },
    });
    return { ...result, archive: archive as TargetEntry, ...(patch ? { patch } : {}) };
  }

  /** Diff the previous release's tar (from its archive, checked against its signed hash) to the new tar. */
  async #makePatch(
    previous: TargetEntry,
    newTar: string,
    newTarInfo: { size: number; sha256: string },
    patchName: string,
    publication: Publication,
    scratch: string,
  ): Promise<TargetEntry> {
    const prevPath = join(this.targetsDir, previous.filename);
    if (!(await fileExists(prevPath))) {
      throw new RepoError({
        code: 'TARGET_FILE_MISSING',
        message: `${previous.filename} is in targets.json but not in ${this.targetsDir}: cannot make the patch (pass --skip-patch to publish without one)`,
      });
    }
    const onDisk = await hashFile(prevPath, this.#signalOpts());
    if (onDisk.size !== previous.length || !sameDigest(onDisk.sha256, previous.sha256)) {
      throw new RepoError({
        code: 'METADATA_CORRUPT',
        message: `${previous.filename} on disk does not match its length/sha256 in targets.json: refusing to diff against it`,
      });
    }
    // Patches are made between uncompressed tars (python tufup 0.6+); the previous tar comes from its archive.
    const { gunzipToTar } = await import('@tufup/archive');
    const oldTar = join(scratch, 'old.tar');
    await gunzipToTar(prevPath, oldTar, this.#progressOpts());
    const patchPath = publication.stagedPath(`targets/${patchName}`);
    this.#logger.debug(`diffing ${previous.version} → ${patchName} (${this.config.patchFormat})`);
    const { diff } = await import('@tufup/patch');
    const made = await diff(oldTar, newTar, patchPath, {
      format: this.config.patchFormat,
      ...this.#progressOpts(),
    });
    publication.add(`targets/${patchName}`);
    await rm(oldTar, { force: true });
    const parsed = tryParseTargetName(patchName);
    return {
      filename: patchName,
      app: parsed?.name ?? '',
      version: parsed?.version ?? '',
      kind: 'patch',
      length: made.size,
      sha256: made.sha256,
      tarSize: newTarInfo.size,
      tarHash: newTarInfo.sha256,
    };
  }

  /** Withdraw the app's latest release (archive and its patch). */
  async removeLatest(opts: {
    keyDirs: string[];
    appName?: string;
    partial?: boolean;
  }): Promise<PublishResult & { removed: string[]; version: string }> {
    const appName = assertAppName(opts.appName ?? this.config.appName);
    const removed: string[] = [];
    let latest: ReleaseEntry | undefined;
    const result = await this.#change({
      command: 'targets remove-latest',
      summary: `targets remove-latest ${appName}`,
      keyDirs: opts.keyDirs,
      partial: Boolean(opts.partial),
      roles: ['targets'],
      prepare: (store) => {
        const [app] = this.#appReleases(this.#targetEntries(store), appName);
        latest = app?.releases.filter((r) => r.archive).at(-1);
        if (!latest)
          throw new RepoError({ code: 'NO_TARGETS', message: `${appName} has no releases to remove` });
      },
      apply: async (store, publication) => {
        for (const e of [latest?.archive, latest?.patch]) {
          if (!e) continue;
          store.removeTarget(e.filename);
          publication.delete(`targets/${e.filename}`);
          removed.push(e.filename);
        }
      },
    });
    return { ...result, removed, version: latest?.version ?? '' };
  }

  /** Delete all but the newest `keep` versions of the app (each kept version keeps its archive and patch). */
  async prune(opts: {
    keep: number;
    keyDirs: string[];
    appName?: string;
    partial?: boolean;
  }): Promise<PublishResult & { removed: string[] }> {
    const appName = assertAppName(opts.appName ?? this.config.appName);
    if (!Number.isSafeInteger(opts.keep) || opts.keep < 1) {
      throw new RepoError({ code: 'INVALID_ARGUMENT', message: '--keep must be at least 1' });
    }
    const removed: string[] = [];
    let doomed: ReleaseEntry[] = [];
    const result = await this.#change({
      command: 'targets prune',
      summary: `targets prune ${appName} --keep ${opts.keep}`,
      keyDirs: opts.keyDirs,
      partial: Boolean(opts.partial),
      roles: ['targets'],
      prepare: (store) => {
        const [app] = this.#appReleases(this.#targetEntries(store), appName);
        const releases = app?.releases ?? [];
        doomed = releases.slice(0, Math.max(0, releases.length - opts.keep));
        if (doomed.length === 0) {
          throw new RepoError({
            code: 'NO_TARGETS',
            message: `${appName} has ${releases.length} version(s): nothing older than the newest ${opts.keep} to prune`,
          });
        }
        for (const r of doomed) {
          if (r.required)
            this.#logger.warn(`pruning required release ${r.version}: older clients no longer stop at it`);
        }
      },
      apply: async (store, publication) => {
        for (const r of doomed) {
          for (const e of [r.archive, r.patch]) {
            if (!e) continue;
            store.removeTarget(e.filename);
            publication.delete(`targets/${e.filename}`);
            removed.push(e.filename);
          }
        }
      },
    });
    return { ...result, removed };
  }

  // ---- keys and signing ---------------------------------------------------------------------------

  /** Create key pair `name` in keys_dir (encrypted with a passphrase from the environment or a prompt). */
  async createKeyPair(
    name: string,
    opts: { encrypted?: boolean } = {},
  ): Promise<{ privatePath: string; publicPath: string; keyid: string }> {
    assertKeyName(name);
    const privatePath = join(this.config.keysDir, name);
    if ((await fileExists(privatePath)) || (await fileExists(`${privatePath}.pub`))) {
      throw new RepoError({ code: 'KEY_EXISTS', message: `key ${name} exists in ${this.config.keysDir}` });
    }
    const passphrase = opts.encrypted ? await this.#passphrases.forNewKey(name) : undefined;
    const key = generateEd25519Key();
    await mkdir(this.config.keysDir, { recursive: true });
    const paths = await writeKeyPair(
      this.config.keysDir,
      name,
      key,
      passphrase !== undefined ? { passphrase } : {},
    );
    this.#loadedKeys.set(key.keyid, key);
    return { ...paths, keyid: key.keyid };
  }

  /** Remove a key pair this process just created (when the step that was to use it failed). */
  async deleteKeyPair(name: string): Promise<void> {
    await rm(join(this.config.keysDir, name), { force: true });
    await rm(join(this.config.keysDir, `${name}.pub`), { force: true });
  }

  async #publicKeyByName(name: string, keyDirs: string[]): Promise<PublicKey> {
    const candidates = [join(this.config.keysDir, `${name}.pub`)];
    const priv = await findPrivateKeyFile(name, keyDirs);
    if (priv) candidates.push(`${priv}.pub`);
    for (const p of candidates) if (await fileExists(p)) return loadPublicKeyFile(p);
    if (priv) return (await this.#loadPrivateKey(priv, name)).publicKey();
    throw new RepoError({
      code: 'KEY_NOT_FOUND',
      message: `no key named ${name}: neither ${candidates[0]} nor a key file in the key directories (create it with -c)`,
    });
  }

  /** Let key `keyName` sign for `role` (python: `keys <name> add <role>`). */
  async addKey(opts: {
    role: RoleName;
    keyName: string;
    keyDirs: string[];
    encrypted?: boolean;
    partial?: boolean;
  }): Promise<PublishResult> {
    const name = assertKeyName(opts.keyName);
    const pub = await this.#publicKeyByName(name, await this.#checkKeyDirs(opts.keyDirs));
    return this.#change({
      command: `keys ${name} add ${opts.role}`,
      summary: `add key ${name} to ${opts.role}`,
      keyDirs: opts.keyDirs,
      partial: Boolean(opts.partial),
      roles: ['root'],
      extraKeyNames: [name],
      prepare: (store) => {
        if (store.root.signed.roles[opts.role]?.keyIDs.includes(pub.keyid)) {
          throw new RepoError({ code: 'KEY_EXISTS', message: `key ${name} already signs for ${opts.role}` });
        }
      },
      apply: async (store) => store.addKey(opts.role, pub),
      config: (c) => ({
        ...c,
        keyMap: { ...c.keyMap, [opts.role]: [...new Set([...c.keyMap[opts.role], name])] },
        encryptedKeys:
          opts.encrypted && !c.encryptedKeys.includes(name) ? [...c.encryptedKeys, name] : c.encryptedKeys,
      }),
    });
  }

  /**
   * Replace key `oldKeyName` by `newKeyName` in every role that uses it. The new root is signed by the old and the
   * new keys (so clients trusting the old root accept it), and the old key leaves root's `keys` once no role uses
   * it (python tufup leaves it there: its issue #181).
   */
  async replaceKey(opts: {
    oldKeyName: string;
    newKeyName: string;
    keyDirs: string[];
    encrypted?: boolean;
    partial?: boolean;
  }): Promise<PublishResult & { roles: RoleName[]; removedFromRoot: boolean }> {
    const oldName = assertKeyName(opts.oldKeyName);
    const newName = assertKeyName(opts.newKeyName);
    const keyDirs = await this.#checkKeyDirs(opts.keyDirs);
    const oldPub = await this.#publicKeyByName(oldName, keyDirs);
    const newPub = await this.#publicKeyByName(newName, keyDirs);
    if (oldPub.keyid === newPub.keyid) {
      throw new RepoError({
        code: 'INVALID_ARGUMENT',
        message: `${oldName} and ${newName} are the same key`,
      });
    }
    let roles: RoleName[] = [];
    let removedFromRoot = false;
    const result = await this.#change({
      command: `keys ${newName} replace ${oldName}`,
      summary: `replace key ${oldName} by ${newName}`,
      keyDirs: opts.keyDirs,
      partial: Boolean(opts.partial),
      roles: ['root'],
      extraKeyNames: [oldName, newName],
      prepare: (store) => {
        roles = ROLE_NAMES.filter((r) => store.root.signed.roles[r]?.keyIDs.includes(oldPub.keyid));
        if (roles.length === 0)
          throw new RepoError({ code: 'KEY_NOT_IN_ROLE', message: `key ${oldName} is not used by any role` });
      },
      apply: async (store) => {
        store.replaceKey(oldPub.keyid, newPub);
        removedFromRoot = !(oldPub.keyid in store.root.signed.keys);
      },
      config: (c) => {
        const keyMap = { ...c.keyMap };
        for (const role of roles) {
          keyMap[role] = [...new Set([...c.keyMap[role].map((n) => (n === oldName ? newName : n)), newName])];
        }
        return {
          ...c,
          keyMap,
          encryptedKeys:
            opts.encrypted && !c.encryptedKeys.includes(newName)
              ? [...c.encryptedKeys, newName]
              : c.encryptedKeys,
        };
      },
    });
    return { ...result, roles, removedFromRoot };
  }

  /**
   * With `expirationDays`: new expiry, version bump, re-sign, cascade. Without: add the given keys' signatures to
   * the role as it is (or to the change waiting for co-signers), publishing once every threshold is met.
   */
  async sign(opts: SignOptions): Promise<PublishResult & { added?: number; expires?: string }> {
    if (opts.expirationDays === undefined) return this.#cosign(opts.role, opts.keyDirs);
    const days =
      opts.expirationDays === 'default' ? this.config.expirationDays[opts.role] : opts.expirationDays;
    const now = this.#now();
    const result = await this.#change({
      command: `sign ${opts.role} -e ${days}`,
      summary: `re-sign ${opts.role} for ${days} days`,
      keyDirs: opts.keyDirs,
      partial: Boolean(opts.partial),
      roles: [opts.role],
      force: [opts.role],
      expirationDays: { [opts.role]: days },
      apply: async () => {},
    });
    return { ...result, expires: expiresIn(days, now) };
  }

  async #cosign(role: RoleName, keyDirsIn: string[]): Promise<PublishResult & { added: number }> {
    const keyDirs = await this.#checkKeyDirs(keyDirsIn);
    await this.#assertWritable();
    const lock = await acquireLock(this.repoDir, `sign ${role}`);
    try {
      await recoverInterrupted(this.repoDir, this.#logger);
      const parked = await Publication.loadParked(this.repoDir);
      if (parked)
        return await this.#cosignParked(role, keyDirs, parked.publication, parked.plan.summary ?? '');
      // Nothing waiting: add signatures to the published role (python tufup's threshold_sign).
      const store = await this.#loadStore();
      const md = store.get(role);
      const before = new Set(countSignatures(store.root.signed, role, md).valid);
      const signers = await this.#findSigners(
        keyDirs,
        [{ ids: store.signingKeyIds(role), threshold: Number.POSITIVE_INFINITY }],
        [],
        { every: true },
      );
      if (signers.size === 0) {
        throw new RepoError({
          code: 'KEY_NOT_FOUND',
          message: `no key of ${role} (${this.config.keyMap[role].join(', ')}) is in the key directories given`,
        });
      }
      store.sign(
        role,
        [...signers.values()].filter((k) => !before.has(k.keyid)),
      );
      const added = validCount(store, role) - before.size;
      if (added <= 0) return { published: [], added: 0 };
      const publication = await Publication.begin(this.repoDir, `sign ${role}`);
      try {
        await this.#stageRoles(store, [role], publication);
        await publication.commit();
      } catch (err) {
        await publication.discard();
        throw err;
      }
      return { published: [{ role, version: md.signed.version }], added };
    } finally {
      await lock.release();
    }
  }

  async #cosignParked(
    role: RoleName,
    keyDirs: string[],
    publication: Publication,
    summary: string,
  ): Promise<PublishResult & { added: number }> {
    const viewDir = join(publication.dir, 'view');
    const store = await this.#loadStore(viewDir);
    const staged = ROLE_NAMES.filter((r) =>
      publication.has(roleFiles(r, store.get(r).signed.version)[0] as string),
    );
    if (!staged.includes(role)) {
      throw new RepoError({
        code: 'NOTHING_TO_SIGN',
        message: `the pending change (${summary}) does not change ${role}; it changes ${staged.join(', ')}`,
      });
    }
    const signers = await this.#findSigners(
      keyDirs,
      [{ ids: store.signingKeyIds(role), threshold: Number.POSITIVE_INFINITY }],
      [],
      { every: true },
    );
    if (signers.size === 0)
      throw new RepoError({
        code: 'KEY_NOT_FOUND',
        message: `no key of ${role} is in the key directories given`,
      });
    const md = store.get(role);
    const had = new Set(Object.keys(md.signatures));
    const fresh = [...signers.values()].filter((k) => !had.has(k.keyid));
    if (fresh.length === 0) {
      throw new RepoError({
        code: 'NOTHING_TO_SIGN',
        message: `${role} in the pending change is already signed by these keys`,
      });
    }
    store.sign(role, fresh);
    const text = serializeMetadata(store.get(role));
    for (const file of roleFiles(role, md.signed.version)) {
      await publication.writeFile(file, text);
      await writeFileAtomic(join(viewDir, file.slice('metadata/'.length)), text);
    }
    const short = this.#shortfall(store, staged);
    if (short.length) {
      await publication.park(short, summary);
      return { published: [], parked: { unsignedRoles: short }, added: fresh.length };
    }
    await publication.commit();
    return {
      published: staged.map((r) => ({ role: r, version: store.get(r).signed.version })),
      added: fresh.length,
    };
  }

  // ---- status and verification --------------------------------------------------------------------

  async status(): Promise<StatusReport> {
    const store = await this.#loadStore();
    const now = this.#now();
    const names = new Map<string, string>();
    for (const n of new Set(ROLE_NAMES.flatMap((r) => this.config.keyMap[r]))) {
      const p = join(this.config.keysDir, `${n}.pub`);
      if (await fileExists(p)) {
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
      const expiringSoon = days >= 0 && days < renewalWindowDays(this.config.expirationDays[role]);
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
        warnings.push(
          `${role}.json expired on ${md.signed.expires}: run \`tufup sign ${role} -e <key_dirs>\``,
        );
      else if (expiringSoon) {
        warnings.push(
          `${role}.json expires ${md.signed.expires} (in ${days.toFixed(1)} days): re-sign it with \`tufup sign ${role} -e <key_dirs>\``,
        );
      }
      if (count.valid.length < count.threshold)
        warnings.push(`${role}.json has ${count.valid.length} of ${count.threshold} signatures`);
    }
    const apps = this.#appReleases(this.#targetEntries(store));
    for (const app of apps) {
      if (app.patchChainBreaks.length) {
        warnings.push(
          `${app.app}: no patch for ${app.patchChainBreaks.join(', ')} (clients crossing it download the full archive)`,
        );
      }
    }
    const report: StatusReport = {
      configPath: this.configPath,
      repoDir: this.repoDir,
      appName: this.config.appName,
      patchFormat: this.config.patchFormat,
      consistentSnapshot: store.root.signed.consistentSnapshot,
      roles,
      apps,
      warnings,
    };
    const parked = await Publication.loadParked(this.repoDir);
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
  async verify(opts: { deep?: boolean } = {}): Promise<VerifyReport> {
    const problems: VerifyProblem[] = [];
    const warnings: VerifyProblem[] = [];
    const checked = { rootVersions: 0, roles: 0, targets: 0, bytes: 0, patchesReplayed: 0 };
    const problem = (code: string, message: string, file?: string) =>
      problems.push({ code, message, ...(file ? { file } : {}) });
    const warn = (code: string, message: string, file?: string) =>
      warnings.push({ code, message, ...(file ? { file } : {}) });
    const codeOf = (err: unknown) => (isTufupError(err) ? err.code : 'METADATA_CORRUPT');
    const now = this.#now();

    // The root chain as a client walks it: 1.root.json trusted by itself, each next one a valid rotation.
    const names = await readdir(this.metadataDir).catch(() => [] as string[]);
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
        const text = await readFile(join(this.metadataDir, `${v}.root.json`), 'utf8');
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
    const rootJson = await readFile(join(this.metadataDir, 'root.json'), 'utf8').catch(() => undefined);
    if (latestRootText !== undefined && rootJson !== latestRootText) {
      problem('ROOT_MISMATCH', `root.json differs from ${versions.at(-1)}.root.json`, 'metadata/root.json');
    }

    let store: MetadataStore | undefined;
    try {
      store = await this.#loadStore();
    } catch (err) {
      problem(codeOf(err), (err as Error).message);
    }
    if (store) {
      const root = store.root.signed;
      if (parseExpires(store.root.signed.expires).getTime() <= now.getTime()) {
        problem(
          'EXPIRED_METADATA',
          `root.json expired on ${store.root.signed.expires}`,
          'metadata/root.json',
        );
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
        const bytes = await readFile(join(this.metadataDir, name));
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
      await this.#verifyTargets(store, checked, problem, warn, Boolean(opts.deep));
    }
    const parked = await Publication.loadParked(this.repoDir).catch(() => undefined);
    if (parked)
      warn('PENDING_CHANGE', `a change waits for co-signers: ${parked.plan.summary ?? parked.plan.command}`);
    return { ok: problems.length === 0, problems, warnings, checked };
  }

  async #verifyTargets(
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
        for await (const chunk of createReadStream(join(this.targetsDir, name), {
          highWaterMark: 1 << 20,
          ...this.#signalOpts(),
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
      for (const name of await readdir(this.targetsDir)) {
        if (!listed.has(name) && !name.startsWith('.')) {
          warn(
            'UNREGISTERED_FILE',
            `${name} is in the targets directory but not in targets.json`,
            `targets/${name}`,
          );
        }
      }
    } catch {
      problem('TARGET_FILE_MISSING', `${this.targetsDir} is missing`);
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
    for (const app of this.#appReleases(this.#targetEntries(store))) {
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
            const tar = await gunzipHash(join(this.targetsDir, r.archive.filename), this.#ctx.signal).catch(
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
            if (await this.#replayPatch(prev.archive, p, problem)) checked.patchesReplayed++;
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
  async #replayPatch(
    base: TargetEntry,
    patch: TargetEntry,
    problem: (code: string, message: string, file?: string) => void,
  ): Promise<boolean> {
    const dir = await makeTempDir('tufup-verify-');
    try {
      const { gunzipToTar } = await import('@tufup/archive');
      const { apply } = await import('@tufup/patch');
      const oldTar = join(dir, 'old.tar');
      await gunzipToTar(join(this.targetsDir, base.filename), oldTar, this.#signalOpts());
      try {
        await apply(oldTar, join(this.targetsDir, patch.filename), join(dir, 'new.tar'), {
          expect: { size: patch.tarSize as number, sha256: patch.tarHash as string },
          ...this.#signalOpts(),
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
}

async function gunzipHash(path: string, signal?: AbortSignal): Promise<{ size: number; sha256: string }> {
  const hasher = new HashingStream();
  hasher.resume();
  await pipeline(createReadStream(path), createGunzip(), hasher, signal ? { signal } : {});
  return hasher.digest();
}

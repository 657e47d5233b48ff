// The Repository: a tufup (TUF) repository on disk, and every change to it as one locked, all-or-nothing step.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, mkdir, readFile, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import {
  HashingStream,
  type Logger,
  type OnProgress,
  hashFile,
  makeTempDir,
  sameDigest,
  silentLogger,
  throwIfAborted,
  writeFileAtomic,
} from '@tufup/common';
import {
  type PrivateKey,
  type PublicKey,
  compareVersions,
  findPrivateKeyFile,
  formatTargetName,
  generateEd25519Key,
  isPrerelease,
  loadPrivateKeyFile,
  loadPublicKeyFile,
  makeArchiveCustom,
  makePatchCustom,
  parseVersion,
  readArchiveCustom,
  readPatchCustom,
  tryParseTargetName,
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
import { Publication, recoverInterrupted, hasCommittedJournal } from './publication.js';
import type {
  AppReleases,
  ReleaseEntry,
  StatusReport,
  TargetEntry,
  VerifyProblem,
  VerifyReport,
} from './reports.js';
import {
  SPEC_VERSION,
  type KeyJson,
  type MetaFileJson,
  type RoleDoc,
  type RoleDocs,
  type RootDoc,
  type TargetFileJson,
  cloneDoc,
  expiresIn,
  parseExpires,
  parseRoleDoc,
  serializeRoleDoc,
  signDoc,
  signedBytes,
  validSignatures,
  invalidSignatures,
} from './roles.js';

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

const TARGETS_FILE = 'metadata/targets.json';
const SNAPSHOT_FILE = 'metadata/snapshot.json';
const TIMESTAMP_FILE = 'metadata/timestamp.json';

/** The roles each role's change forces to be re-signed (python tufup's cascade). */
function cascade(roles: Iterable<RoleName>): Set<RoleName> {
  const out = new Set(roles);
  if (out.has('root')) out.add('targets');
  if (out.has('targets')) out.add('snapshot');
  if (out.has('snapshot')) out.add('timestamp');
  return out;
}

function roleFile(role: Exclude<RoleName, 'root'>): string {
  return `metadata/${role}.json`;
}

/** The loaded, checked metadata of a repository. */
interface RepoState {
  docs: RoleDocs;
  /** Raw bytes as on disk (for snapshot/timestamp length+hash checks). */
  bytes: Record<RoleName, Buffer>;
  /** Highest N of N.root.json (equals root.json's version). */
  rootVersion: number;
}

/** A change being prepared: copies of the role documents, and which were edited. */
export interface Draft {
  docs: RoleDocs;
  changed: Set<RoleName>;
  /** Roles whose expiry the change set explicitly (not reset to now + config days). */
  expirySet: Set<RoleName>;
}

interface ChangeSpec {
  command: string;
  summary: string;
  keyDirs: string[];
  partial: boolean;
  /** Roles the change edits (the cascade is added). */
  roles: RoleName[];
  /** More key names to look for (old keys being replaced, keys being added). */
  extraKeyNames?: string[];
  /** Checks that need the current state; runs before keys are loaded or anything is written. */
  prepare?: (state: RepoState) => Promise<void> | void;
  apply: (draft: Draft, publication: Publication, state: RepoState) => Promise<void>;
  config?: (config: RepoConfig) => RepoConfig;
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

/** What tuf-js and python-tuf accept as a target path here: one flat file name (python tufup's layout). */
function isSafeTargetName(name: string): boolean {
  return name.length > 0 && name.length <= 255 && !/[/\\\0]/.test(name) && name !== '.' && name !== '..';
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
   * Create config, keys and the first signed metadata (all roles at version 1). Existing key pairs in keys_dir
   * are used as they are (so a CI job can bring its own); a failure removes what this call created.
   */
  static async initialize(
    configPath: string,
    opts: InitOptions,
    ctx: RepositoryContext = {},
  ): Promise<{ repo: Repository; createdKeys: string[]; reusedKeys: string[]; published: RoleVersion[] }> {
    const configDir = dirname(configPath);
    const keyMap = {} as PerRole<string[]>;
    const thresholds = {} as PerRole<number>;
    const expirationDays = {} as PerRole<number>;
    const defaults = makeConfig(configDir, { appName: assertAppName(opts.appName) });
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
      repoDir: opts.repoDir,
      keysDir: opts.keysDir,
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
      const pubs = new Map<string, PublicKey>();
      const reused: string[] = [];
      // Passphrases first: nothing is written until every question is answered.
      const passphrases = new Map<string, string>();
      for (const name of allNames) {
        if (!(await fileExists(join(config.keysDir, `${name}.pub`))) && encryptedKeys.includes(name)) {
          passphrases.set(name, await repo.#passphrases.forNewKey(name));
        }
      }
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
      const now = repo.#now();
      const keys: Record<string, KeyJson> = {};
      const roles = {} as RootDoc['signed']['roles'];
      for (const role of ROLE_NAMES) {
        const ids = [...new Set(keyMap[role].map((n) => (pubs.get(n) as PublicKey).keyid))];
        for (const n of keyMap[role]) {
          const pub = pubs.get(n) as PublicKey;
          keys[pub.keyid] = { keytype: pub.keytype, keyval: { public: pub.publicHex }, scheme: pub.scheme };
        }
        roles[role] = { keyids: ids, threshold: thresholds[role] };
      }
      const common = (role: RoleName) => ({
        spec_version: SPEC_VERSION,
        version: 1,
        expires: expiresIn(expirationDays[role], now),
      });
      const docs: RoleDocs = {
        root: {
          signatures: [],
          signed: { _type: 'root', ...common('root'), consistent_snapshot: false, keys, roles },
        },
        targets: { signatures: [], signed: { _type: 'targets', ...common('targets'), targets: {} } },
        snapshot: {
          signatures: [],
          signed: { _type: 'snapshot', ...common('snapshot'), meta: { 'targets.json': { version: 1 } } },
        },
        timestamp: {
          signatures: [],
          signed: { _type: 'timestamp', ...common('timestamp'), meta: { 'snapshot.json': { version: 1 } } },
        },
      };
      const draft: Draft = { docs, changed: new Set(ROLE_NAMES), expirySet: new Set(ROLE_NAMES) };
      const shortfall = await repo.#signDraft(draft, undefined, [config.keysDir], []);
      if (shortfall.length) throw repo.#thresholdError(shortfall, false);
      publication = await Publication.begin(config.repoDir, 'init');
      await mkdir(repo.targetsDir, { recursive: true });
      await repo.#stageMetadata(draft, publication);
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
      lock = undefined;
      for (const d of createdDirs.reverse()) await rm(d, { recursive: true, force: true });
      if (oldConfig) await writeFileAtomic(configPath, oldConfig);
      else if (!configExists) await rm(configPath, { force: true });
      throw err;
    } finally {
      await lock?.release();
    }
  }

  // ---- reading ------------------------------------------------------------------------------------

  async #readRole<R extends RoleName>(
    role: R,
    fileName = `${role}.json`,
  ): Promise<{ doc: RoleDocs[R]; bytes: Buffer }> {
    const path = join(this.metadataDir, fileName);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (cause) {
      const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
      throw new RepoError({
        code: 'METADATA_CORRUPT',
        message: missing ? `${path} is missing` : `cannot read ${path}`,
        cause,
      });
    }
    return { doc: parseRoleDoc(bytes.toString('utf8'), role, path), bytes };
  }

  async #rootVersions(): Promise<number[]> {
    const names = await readdir(this.metadataDir);
    return names
      .map((n) => /^([1-9]\d*)\.root\.json$/.exec(n)?.[1])
      .filter((v): v is string => v !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  /** Load all four roles, checking structure and that root.json is the newest N.root.json. */
  async #loadState(): Promise<RepoState> {
    const root = await this.#readRole('root');
    const targets = await this.#readRole('targets');
    const snapshot = await this.#readRole('snapshot');
    const timestamp = await this.#readRole('timestamp');
    const versions = await this.#rootVersions();
    const latest = versions.at(-1);
    if (latest !== root.doc.signed.version) {
      throw new RepoError({
        code: 'METADATA_CORRUPT',
        message: `root.json is version ${root.doc.signed.version} but the newest versioned root is ${latest ?? 'missing'}.root.json`,
      });
    }
    if (root.doc.signed.consistent_snapshot) {
      throw new RepoError({
        code: 'METADATA_CORRUPT',
        message:
          'root.json sets consistent_snapshot: repositories with versioned metadata file names are not supported',
      });
    }
    return {
      docs: { root: root.doc, targets: targets.doc, snapshot: snapshot.doc, timestamp: timestamp.doc },
      bytes: {
        root: root.bytes,
        targets: targets.bytes,
        snapshot: snapshot.bytes,
        timestamp: timestamp.bytes,
      },
      rootVersion: latest,
    };
  }

  /** Refuse to sign on top of metadata that isn't validly signed now (a tampered file must not get blessed). */
  #assertTrusted(state: RepoState, roles: Iterable<RoleName>): void {
    const root = state.docs.root.signed;
    for (const role of roles) {
      const valid = validSignatures(state.docs[role], root, role).size;
      const need = root.roles[role].threshold;
      if (valid < need) {
        throw new RepoError({
          code: 'METADATA_CORRUPT',
          message:
            `${role}.json has ${valid} valid signature${valid === 1 ? '' : 's'} of ${need} needed: refusing to build on it` +
            ` (if it is waiting for co-signers, run \`tufup sign ${role} <key_dirs...>\`; else restore it from a backup)`,
        });
      }
    }
  }

  #targetEntries(doc: RoleDocs['targets']): TargetEntry[] {
    const out: TargetEntry[] = [];
    for (const [filename, t] of Object.entries(doc.signed.targets)) {
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
      try {
        if (parsed.kind === 'archive') {
          const c = readArchiveCustom(t.custom);
          entry.required = c.required;
          entry.user = c.user ?? null;
        } else {
          const c = readPatchCustom(t.custom);
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
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([app, versions]) => {
        const releases = [...versions.values()].sort((a, b) => compareVersions(a.version, b.version));
        return {
          app,
          releases,
          ...(releases.length
            ? { latest: (releases.filter((r) => r.archive).at(-1) ?? releases.at(-1))?.version }
            : {}),
          patchChainBreaks: releases
            .slice(1)
            .filter((r) => !r.patch)
            .map((r) => r.version),
        };
      });
  }

  /** Releases per app (all apps, or one). */
  async listApps(appName?: string): Promise<AppReleases[]> {
    const { doc } = await this.#readRole('targets');
    return this.#appReleases(this.#targetEntries(doc), appName);
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
        const code = (err as { code?: string }).code;
        if (code !== 'KEY_DECRYPTION_FAILED') throw err;
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
          // unreadable .pub: fall back to the private key
        }
      }
    }
    return undefined;
  }

  /**
   * Private keys for `needed` keyids, found by name (python tufup's key_map names, searched recursively in the
   * key dirs). Encrypted keys are only decrypted when their .pub says they are needed.
   */
  async #findSigners(
    keyDirs: string[],
    needed: Set<string>,
    extraNames: string[],
  ): Promise<Map<string, PrivateKey>> {
    const found = new Map<string, PrivateKey>();
    for (const id of needed) {
      const k = this.#loadedKeys.get(id);
      if (k) found.set(id, k);
    }
    const names = [...new Set([...ROLE_NAMES.flatMap((r) => this.config.keyMap[r]), ...extraNames])];
    for (const name of names) {
      if ([...needed].every((id) => found.has(id))) break;
      const path = await findPrivateKeyFile(name, keyDirs);
      if (!path) continue;
      const keyid = await this.#keyidOf(name, path);
      if (keyid !== undefined && (!needed.has(keyid) || found.has(keyid))) continue;
      throwIfAborted(this.#ctx.signal);
      const key = await this.#loadPrivateKey(path, name);
      if (needed.has(key.keyid)) found.set(key.keyid, key);
    }
    return found;
  }

  #thresholdError(short: UnsignedRole[], partialAllowed: boolean): RepoError {
    const s = short[0] as UnsignedRole;
    const list = short.map((u) => `${u.role} ${u.have}/${u.need}`).join(', ');
    if (short.every((u) => u.have === 0)) {
      return new RepoError({
        code: 'KEY_NOT_FOUND',
        message: `no private key to sign ${short.map((u) => u.role).join(', ')} in the key directories given (looked for: ${[...new Set(short.flatMap((u) => this.config.keyMap[u.role]))].join(', ')})`,
      });
    }
    return new RepoError({
      code: 'THRESHOLD_NOT_MET',
      message:
        `not enough keys: ${list} signatures` +
        (partialAllowed
          ? `; add the other key dirs, or pass --partial to stage the change for \`tufup sign ${s.role}\` by the other key holders`
          : ''),
    });
  }

  /**
   * Bump and sign every changed role of the draft, root to timestamp, pointing each dependent at the final
   * version (and, when its meta carries them, length and hashes) of the role before it. Returns the roles still
   * short of their threshold (root is also counted against the old root's keys).
   */
  async #signDraft(
    draft: Draft,
    before: RepoState | undefined,
    keyDirs: string[],
    extraNames: string[],
  ): Promise<UnsignedRole[]> {
    const now = this.#now();
    const docs = draft.docs as unknown as Record<RoleName, RoleDoc>;
    for (const r of cascade(draft.changed)) draft.changed.add(r);
    const root = draft.docs.root.signed;
    const signerIds = (role: RoleName) => {
      const ids = new Set(root.roles[role].keyids);
      if (role === 'root' && before) for (const id of before.docs.root.signed.roles.root.keyids) ids.add(id);
      return ids;
    };
    const needed = new Set<string>();
    for (const role of draft.changed) for (const id of signerIds(role)) needed.add(id);
    const signers = await this.#findSigners(keyDirs, needed, extraNames);
    const short: UnsignedRole[] = [];
    for (const role of ROLE_NAMES) {
      if (!draft.changed.has(role)) continue;
      const doc = docs[role] as RoleDoc;
      if (before) {
        doc.signed.version = before.docs[role].signed.version + 1;
        if (!draft.expirySet.has(role)) doc.signed.expires = expiresIn(this.config.expirationDays[role], now);
      }
      doc.signatures = [];
      if (role === 'snapshot') pointMeta(draft.docs.snapshot.signed.meta, 'targets.json', draft.docs.targets);
      if (role === 'timestamp')
        pointMeta(draft.docs.timestamp.signed.meta, 'snapshot.json', draft.docs.snapshot);
      for (const id of signerIds(role)) {
        const key = signers.get(id);
        if (key) signDoc(doc, key);
      }
      short.push(...this.#shortfall(draft.docs, role, before));
    }
    return short;
  }

  /** Roles (root counted against the old root too) whose valid signatures are below threshold. */
  #shortfall(docs: RoleDocs, role: RoleName, before: RepoState | undefined): UnsignedRole[] {
    const out: UnsignedRole[] = [];
    const have = validSignatures(docs[role], docs.root.signed, role).size;
    const need = docs.root.signed.roles[role].threshold;
    if (have < need) out.push({ role, have, need });
    if (role === 'root' && before && before.docs.root.signed.version !== docs.root.signed.version) {
      const oldHave = validSignatures(docs.root, before.docs.root.signed, 'root').size;
      const oldNeed = before.docs.root.signed.roles.root.threshold;
      if (oldHave < oldNeed && have >= need) out.push({ role, have: oldHave, need: oldNeed });
    }
    return out;
  }

  /** Write the changed roles' files into the publication (root as N.root.json and root.json). */
  async #stageMetadata(draft: Draft, publication: Publication): Promise<void> {
    const { docs } = draft;
    const text: Partial<Record<RoleName, string>> = {};
    for (const role of ROLE_NAMES) if (draft.changed.has(role)) text[role] = serializeRoleDoc(docs[role]);
    if (text.root !== undefined) {
      await publication.writeFile(`metadata/${docs.root.signed.version}.root.json`, text.root);
      await publication.writeFile('metadata/root.json', text.root);
    }
    if (text.targets !== undefined) await publication.writeFile(TARGETS_FILE, text.targets);
    if (text.snapshot !== undefined) await publication.writeFile(SNAPSHOT_FILE, text.snapshot);
    if (text.timestamp !== undefined) await publication.writeFile(TIMESTAMP_FILE, text.timestamp);
  }

  // ---- the change engine --------------------------------------------------------------------------

  /**
   * Run one change: lock, recover, load and check, prepare, load keys, apply (staging files), bump + sign,
   * then commit (or park when --partial and short of signatures). Any failure leaves the repository as it was.
   */
  async #change(spec: ChangeSpec): Promise<PublishResult> {
    const keyDirs = await this.#checkKeyDirs(spec.keyDirs);
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
          message: `a change waits for co-signers (${parked.plan.summary ?? parked.plan.command}): finish it with \`tufup sign <role> <key_dirs...>\`, or remove ${parked.publication.dir} to drop it`,
        });
      }
      const state = await this.#loadState();
      const roles = cascade(spec.roles);
      this.#assertTrusted(state, roles);
      await spec.prepare?.(state);
      // Fail before the expensive part (archiving) when the keys at hand cannot reach a threshold. Root counts
      // against the current root: its keys must sign the next root too.
      const neededNow = new Set<string>();
      for (const r of roles) for (const id of state.docs.root.signed.roles[r].keyids) neededNow.add(id);
      const available = await this.#findSigners(keyDirs, neededNow, spec.extraKeyNames ?? []);
      const early: UnsignedRole[] = [];
      for (const r of roles) {
        const have = state.docs.root.signed.roles[r].keyids.filter((id) => available.has(id)).length;
        const need = state.docs.root.signed.roles[r].threshold;
        if (have < need) early.push({ role: r, have, need });
      }
      if (early.length && (!spec.partial || available.size === 0))
        throw this.#thresholdError(early, !spec.partial);

      publication = await Publication.begin(this.repoDir, spec.command);
      const draft: Draft = {
        docs: {
          root: cloneDoc(state.docs.root),
          targets: cloneDoc(state.docs.targets),
          snapshot: cloneDoc(state.docs.snapshot),
          timestamp: cloneDoc(state.docs.timestamp),
        },
        changed: new Set(spec.roles),
        expirySet: new Set(),
      };
      await spec.apply(draft, publication, state);
      throwIfAborted(this.#ctx.signal);
      const short = await this.#signDraft(draft, state, keyDirs, spec.extraKeyNames ?? []);
      if (short.length && !spec.partial) throw this.#thresholdError(short, true);
      await this.#stageMetadata(draft, publication);
      const published = ROLE_NAMES.filter((r) => draft.changed.has(r)).map((role) => ({
        role,
        version: draft.docs[role].signed.version,
      }));
      if (spec.config) {
        this.config = spec.config(this.config);
        await saveConfig(this.configPath, this.config);
        configWritten = true;
      }
      throwIfAborted(this.#ctx.signal);
      if (short.length) {
        await publication.park(short, spec.summary);
        publication = undefined;
        return { published: [], parked: { unsignedRoles: short } };
      }
      await publication.commit();
      publication = undefined;
      return { published };
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
      prepare: (state) => {
        const archives = this.#targetEntries(state.docs.targets)
          .filter((e) => e.app === appName && e.kind === 'archive')
          .sort((a, b) => compareVersions(a.version, b.version));
        previous = archives.at(-1);
        if (previous && compareVersions(version, previous.version) <= 0) {
          throw new RepoError({
            code: 'VERSION_NOT_NEWER',
            message: `${appName} ${version} is not newer than the latest release ${previous.version}`,
          });
        }
        if (state.docs.targets.signed.targets[archiveName] || state.docs.targets.signed.targets[patchName]) {
          throw new RepoError({
            code: 'VERSION_NOT_NEWER',
            message: `${archiveName} is already in the repository`,
          });
        }
      },
      apply: async (draft, publication) => {
        const scratch = await publication.scratchDir();
        const newTar = join(scratch, 'new.tar');
        const archivePath = publication.stagedPath(`targets/${archiveName}`);
        await mkdir(dirname(archivePath), { recursive: true });
        this.#logger.debug(`archiving ${bundleDir}`);
        const { createArchive } = await import('@tufup/archive');
        const made = await createArchive(bundleDir, archivePath, {
          tarPath: newTar,
          ...(this.#ctx.onProgress ? { onProgress: this.#ctx.onProgress } : {}),
          ...(this.#ctx.signal ? { signal: this.#ctx.signal } : {}),
        });
        publication.add(`targets/${archiveName}`);
        const custom = makeArchiveCustom({ required: Boolean(opts.required), user: opts.userMeta ?? null });
        draft.docs.targets.signed.targets[archiveName] = {
          custom,
          hashes: { sha256: made.gzip.sha256 },
          length: made.gzip.size,
        };
        archive = {
          filename: archiveName,
          app: appName,
          version,
          kind: 'archive',
          length: made.gzip.size,
          sha256: made.gzip.sha256,
          required: Boolean(opts.required),
          user: opts.userMeta ?? null,
        };
        if (previous && !opts.skipPatch) {
          patch = await this.#makePatch(previous, newTar, made.tar, patchName, publication, scratch);
          draft.docs.targets.signed.targets[patchName] = {
            custom: makePatchCustom({ tarSize: made.tar.size, tarHash: made.tar.sha256 }),
            hashes: { sha256: patch.sha256 },
            length: patch.length,
          };
        }
      },
    });
    return { ...result, archive: archive as TargetEntry, ...(patch ? { patch } : {}) };
  }

  /** Diff the previous release's tar (from its archive, checked against the signed hash) to the new tar. */
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
        message: `${previous.filename} is in targets.json but not in ${this.targetsDir}: cannot make the patch (use --skip-patch to publish without one)`,
      });
    }
    const onDisk = await hashFile(prevPath, this.#ctx.signal ? { signal: this.#ctx.signal } : {});
    if (onDisk.size !== previous.length || !sameDigest(onDisk.sha256, previous.sha256)) {
      throw new RepoError({
        code: 'METADATA_CORRUPT',
        message: `${previous.filename} on disk does not match its length/sha256 in targets.json: refusing to diff against it`,
      });
    }
    const { gunzipToTar } = await import('@tufup/archive');
    const oldTar = join(scratch, 'old.tar');
    await gunzipToTar(prevPath, oldTar, {
      ...(this.#ctx.onProgress ? { onProgress: this.#ctx.onProgress } : {}),
      ...(this.#ctx.signal ? { signal: this.#ctx.signal } : {}),
    });
    const patchPath = publication.stagedPath(`targets/${patchName}`);
    this.#logger.debug(`diffing ${previous.version} → new (${this.config.patchFormat})`);
    const { diff } = await loadPatchEngine();
    await diff(oldTar, newTar, patchPath, {
      format: this.config.patchFormat,
      ...(this.#ctx.onProgress ? { onProgress: this.#ctx.onProgress } : {}),
      ...(this.#ctx.signal ? { signal: this.#ctx.signal } : {}),
    });
    publication.add(`targets/${patchName}`);
    await rm(oldTar, { force: true });
    const info = await hashFile(patchPath);
    const parsed = tryParseTargetName(patchName);
    return {
      filename: patchName,
      app: parsed?.name ?? '',
      version: parsed?.version ?? '',
      kind: 'patch',
      length: info.size,
      sha256: info.sha256,
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
    let version = '';
    const result = await this.#change({
      command: 'targets remove-latest',
      summary: `targets remove-latest ${appName}`,
      keyDirs: opts.keyDirs,
      partial: Boolean(opts.partial),
      roles: ['targets'],
      prepare: (state) => {
        const [app] = this.#appReleases(this.#targetEntries(state.docs.targets), appName);
        const latest = app?.releases.filter((r) => r.archive).at(-1);
        if (!latest)
          throw new RepoError({ code: 'NO_TARGETS', message: `${appName} has no releases to remove` });
        version = latest.version;
      },
      apply: async (draft, publication) => {
        for (const kind of ['archive', 'patch'] as const) {
          const name = formatTargetName(appName, version, kind);
          if (draft.docs.targets.signed.targets[name]) {
            delete draft.docs.targets.signed.targets[name];
            publication.delete(`targets/${name}`);
            removed.push(name);
          }
        }
      },
    });
    return { ...result, removed, version };
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
      prepare: (state) => {
        const [app] = this.#appReleases(this.#targetEntries(state.docs.targets), appName);
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
            this.#logger.warn(
              `pruning required release ${r.version}: older clients will no longer stop at it`,
            );
        }
      },
      apply: async (draft, publication) => {
        for (const r of doomed) {
          for (const e of [r.archive, r.patch]) {
            if (!e) continue;
            delete draft.docs.targets.signed.targets[e.filename];
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
    const keyDirs = await this.#checkKeyDirs(opts.keyDirs);
    const pub = await this.#publicKeyByName(name, keyDirs);
    return this.#change({
      command: `keys ${name} add ${opts.role}`,
      summary: `add key ${name} to ${opts.role}`,
      keyDirs: opts.keyDirs,
      partial: Boolean(opts.partial),
      roles: ['root'],
      extraKeyNames: [name],
      prepare: (state) => {
        if (state.docs.root.signed.roles[opts.role].keyids.includes(pub.keyid)) {
          throw new RepoError({ code: 'KEY_EXISTS', message: `key ${name} already signs for ${opts.role}` });
        }
      },
      apply: async (draft) => {
        const root = draft.docs.root.signed;
        root.keys[pub.keyid] = {
          keytype: pub.keytype,
          keyval: { public: pub.publicHex },
          scheme: pub.scheme,
        };
        root.roles[opts.role].keyids.push(pub.keyid);
      },
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
    if (oldPub.keyid === newPub.keyid)
      throw new RepoError({
        code: 'INVALID_ARGUMENT',
        message: `${oldName} and ${newName} are the same key`,
      });
    const roles: RoleName[] = [];
    let removedFromRoot = false;
    const result = await this.#change({
      command: `keys ${newName} replace ${oldName}`,
      summary: `replace key ${oldName} by ${newName}`,
      keyDirs: opts.keyDirs,
      partial: Boolean(opts.partial),
      roles: ['root'],
      extraKeyNames: [oldName, newName],
      prepare: (state) => {
        for (const role of ROLE_NAMES)
          if (state.docs.root.signed.roles[role].keyids.includes(oldPub.keyid)) roles.push(role);
        if (roles.length === 0)
          throw new RepoError({ code: 'KEY_NOT_IN_ROLE', message: `key ${oldName} is not used by any role` });
      },
      apply: async (draft) => {
        const root = draft.docs.root.signed;
        for (const role of roles) {
          const ids = root.roles[role].keyids;
          const at = ids.indexOf(oldPub.keyid);
          if (ids.includes(newPub.keyid)) ids.splice(at, 1);
          else ids.splice(at, 1, newPub.keyid);
        }
        root.keys[newPub.keyid] = {
          keytype: newPub.keytype,
          keyval: { public: newPub.publicHex },
          scheme: newPub.scheme,
        };
        if (!ROLE_NAMES.some((r) => root.roles[r].keyids.includes(oldPub.keyid))) {
          delete root.keys[oldPub.keyid];
          removedFromRoot = true;
        }
      },
      config: (c) => {
        const keyMap = { ...c.keyMap };
        for (const role of roles)
          keyMap[role] = [
            ...new Set(c.keyMap[role].map((n) => (n === oldName ? newName : n)).concat(newName)),
          ];
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
    if (opts.expirationDays !== undefined) {
      const days =
        opts.expirationDays === 'default' ? this.config.expirationDays[opts.role] : opts.expirationDays;
      let expires = '';
      const result = await this.#change({
        command: `sign ${opts.role} -e ${days}`,
        summary: `re-sign ${opts.role} for ${days} days`,
        keyDirs: opts.keyDirs,
        partial: Boolean(opts.partial),
        roles: [opts.role],
        apply: async (draft) => {
          expires = expiresIn(days, this.#now());
          draft.docs[opts.role].signed.expires = expires;
          draft.expirySet.add(opts.role);
        },
      });
      return { ...result, expires };
    }
    return this.#cosign(opts.role, opts.keyDirs);
  }

  async #cosign(role: RoleName, keyDirsIn: string[]): Promise<PublishResult & { added: number }> {
    const keyDirs = await this.#checkKeyDirs(keyDirsIn);
    const lock = await acquireLock(this.repoDir, `sign ${role}`);
    try {
      await recoverInterrupted(this.repoDir, this.#logger);
      const state = await this.#loadState();
      const parked = await Publication.loadParked(this.repoDir);
      if (parked)
        return await this.#cosignParked(
          role,
          keyDirs,
          state,
          parked.publication,
          (parked.plan.unsignedRoles ?? []).map((u) => u.role),
          parked.plan.summary ?? '',
        );
      // No change waiting: add signatures to the published role (python tufup's threshold_sign).
      const doc = cloneDoc(state.docs[role]) as RoleDoc;
      const root = state.docs.root.signed;
      const ids = new Set(root.roles[role].keyids);
      const signers = await this.#findSigners(keyDirs, ids, []);
      if (signers.size === 0) {
        throw new RepoError({
          code: 'KEY_NOT_FOUND',
          message: `none of ${role}'s keys (${this.config.keyMap[role].join(', ')}) is in the key directories given`,
        });
      }
      const before = validSignatures(doc, root, role);
      for (const key of signers.values()) if (!before.has(key.keyid)) signDoc(doc, key);
      const added = validSignatures(doc, root, role).size - before.size;
      if (added === 0) return { published: [], added: 0 };
      const publication = await Publication.begin(this.repoDir, `sign ${role}`);
      try {
        const text = serializeRoleDoc(doc);
        if (role === 'root') {
          await publication.writeFile(`metadata/${doc.signed.version}.root.json`, text);
          await publication.writeFile('metadata/root.json', text);
        } else await publication.writeFile(roleFile(role), text);
        await publication.commit();
      } catch (err) {
        await publication.discard();
        throw err;
      }
      return { published: [{ role, version: doc.signed.version }], added };
    } finally {
      await lock.release();
    }
  }

  async #cosignParked(
    role: RoleName,
    keyDirs: string[],
    state: RepoState,
    publication: Publication,
    waiting: string[],
    summary: string,
  ): Promise<PublishResult & { added: number }> {
    const docs = { ...state.docs } as RoleDocs;
    const staged: RoleName[] = [];
    for (const r of ROLE_NAMES) {
      const file = r === 'root' ? 'metadata/root.json' : roleFile(r);
      if (publication.has(file)) {
        (docs as unknown as Record<RoleName, RoleDoc>)[r] = parseRoleDoc(
          (await publication.readCurrent(file)).toString('utf8'),
          r,
          publication.stagedPath(file),
        );
        staged.push(r);
      }
    }
    if (!staged.includes(role)) {
      throw new RepoError({
        code: 'NOTHING_TO_SIGN',
        message: `the pending change (${summary}) does not change ${role}; it waits for: ${waiting.join(', ')}`,
      });
    }
    const before = docs.root.signed.version !== state.docs.root.signed.version ? state : undefined;
    const ids = new Set(docs.root.signed.roles[role].keyids);
    if (role === 'root' && before) for (const id of before.docs.root.signed.roles.root.keyids) ids.add(id);
    const signers = await this.#findSigners(keyDirs, ids, []);
    if (signers.size === 0) {
      throw new RepoError({
        code: 'KEY_NOT_FOUND',
        message: `none of ${role}'s keys is in the key directories given`,
      });
    }
    const doc = docs[role] as RoleDoc;
    const had = new Set(doc.signatures.map((s) => s.keyid));
    for (const key of signers.values()) if (!had.has(key.keyid)) signDoc(doc, key);
    const added = doc.signatures.length - had.size;
    if (added === 0) {
      throw new RepoError({
        code: 'NOTHING_TO_SIGN',
        message: `${role} in the pending change is already signed by these keys`,
      });
    }
    const text = serializeRoleDoc(doc);
    if (role === 'root') {
      await publication.writeFile(`metadata/${doc.signed.version}.root.json`, text);
      await publication.writeFile('metadata/root.json', text);
    } else await publication.writeFile(roleFile(role), text);
    const short = staged.flatMap((r) => this.#shortfall(docs, r, r === 'root' ? before : undefined));
    if (short.length) {
      await publication.park(short, summary);
      return { published: [], parked: { unsignedRoles: short }, added };
    }
    await publication.commit();
    return { published: staged.map((r) => ({ role: r, version: docs[r].signed.version })), added };
  }

  // ---- status and verification --------------------------------------------------------------------

  async status(): Promise<StatusReport> {
    const state = await this.#loadState();
    const now = this.#now();
    const root = state.docs.root.signed;
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
      const doc = state.docs[role];
      const valid = validSignatures(doc, root, role);
      const expires = parseExpires(doc.signed.expires) as Date;
      const days = (expires.getTime() - now.getTime()) / 86_400_000;
      const expiringSoon = days >= 0 && days < renewalWindowDays(this.config.expirationDays[role]);
      roles[role] = {
        role,
        version: doc.signed.version,
        expires: doc.signed.expires,
        expiresInDays: Math.round(days * 100) / 100,
        expired: days < 0,
        expiringSoon,
        threshold: root.roles[role].threshold,
        validSignatures: valid.size,
        keys: root.roles[role].keyids.map((keyid) => ({
          keyid,
          ...(names.has(keyid) ? { name: names.get(keyid) as string } : {}),
          signed: valid.has(keyid),
        })),
      };
      if (days < 0)
        warnings.push(
          `${role}.json expired on ${doc.signed.expires}: run \`tufup sign ${role} -e <key_dirs>\``,
        );
      else if (expiringSoon)
        warnings.push(
          `${role}.json expires ${doc.signed.expires} (in ${days.toFixed(1)} days): re-sign it with \`tufup sign ${role} -e <key_dirs>\``,
        );
      if (valid.size < root.roles[role].threshold)
        warnings.push(`${role}.json has ${valid.size} of ${root.roles[role].threshold} signatures`);
    }
    const apps = this.#appReleases(this.#targetEntries(state.docs.targets));
    for (const app of apps) {
      if (app.patchChainBreaks.length)
        warnings.push(
          `${app.app}: no patch for ${app.patchChainBreaks.join(', ')} (clients crossing it download the full archive)`,
        );
    }
    const parked = await Publication.loadParked(this.repoDir);
    const report: StatusReport = {
      configPath: this.configPath,
      repoDir: this.repoDir,
      appName: this.config.appName,
      patchFormat: this.config.patchFormat,
      consistentSnapshot: root.consistent_snapshot,
      roles,
      apps,
      warnings,
    };
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
    const now = this.#now();

    // Root chain: 1.root.json is trusted by itself; each next one must be signed by a threshold of the previous
    // root's keys and of its own.
    const versions = await this.#rootVersions().catch(() => [] as number[]);
    let trustedRoot: RootDoc | undefined;
    if (versions[0] !== 1) problem('ROOT_CHAIN_BROKEN', '1.root.json is missing', 'metadata/1.root.json');
    for (let i = 0; i < versions.length; i++) {
      const v = versions[i] as number;
      const file = `metadata/${v}.root.json`;
      let doc: RootDoc;
      try {
        doc = (await this.#readRole('root', `${v}.root.json`)).doc;
      } catch (err) {
        problem('METADATA_CORRUPT', (err as Error).message, file);
        trustedRoot = undefined;
        continue;
      }
      checked.rootVersions++;
      if (doc.signed.version !== v)
        problem('BAD_VERSION', `${file} holds version ${doc.signed.version}`, file);
      if (i > 0 && versions[i - 1] !== v - 1)
        problem('ROOT_CHAIN_BROKEN', `${v - 1}.root.json is missing`, file);
      const self = validSignatures(doc, doc.signed, 'root').size;
      if (self < doc.signed.roles.root.threshold) {
        problem(
          'THRESHOLD_NOT_MET',
          `${file}: ${self} of ${doc.signed.roles.root.threshold} signatures by its own root keys`,
          file,
        );
      }
      if (trustedRoot) {
        const byPrev = validSignatures(doc, trustedRoot.signed, 'root').size;
        if (byPrev < trustedRoot.signed.roles.root.threshold) {
          problem(
            'THRESHOLD_NOT_MET',
            `${file}: ${byPrev} of ${trustedRoot.signed.roles.root.threshold} signatures by the keys of the root before it`,
            file,
          );
        }
      }
      for (const keyid of invalidSignatures(doc, doc.signed, 'root')) {
        if (!trustedRoot || !validSignatures(doc, trustedRoot.signed, 'root').has(keyid)) {
          warn(
            'UNUSED_SIGNATURE',
            `${file}: signature by ${keyid.slice(0, 12)}… is not a valid root key signature`,
            file,
          );
        }
      }
      trustedRoot = doc;
    }

    let state: RepoState | undefined;
    try {
      state = await this.#loadState();
    } catch (err) {
      problem((err as { code?: string }).code ?? 'METADATA_CORRUPT', (err as Error).message);
    }
    if (state) {
      const { docs } = state;
      const root = docs.root.signed;
      if (trustedRoot && !signedBytes(trustedRoot).equals(signedBytes(docs.root))) {
        problem(
          'ROOT_MISMATCH',
          `root.json differs from ${trustedRoot.signed.version}.root.json`,
          'metadata/root.json',
        );
      }
      for (const role of ROLE_NAMES) {
        checked.roles++;
        const doc = docs[role];
        const file = `metadata/${role}.json`;
        const valid = validSignatures(doc, root, role).size;
        if (valid < root.roles[role].threshold) {
          problem(
            'THRESHOLD_NOT_MET',
            `${role}.json: ${valid} of ${root.roles[role].threshold} valid signatures`,
            file,
          );
        }
        for (const keyid of invalidSignatures(doc, root, role)) {
          const known = root.roles[role].keyids.includes(keyid);
          (known ? problem : warn)(
            known ? 'BAD_SIGNATURE' : 'UNUSED_SIGNATURE',
            `${role}.json: signature by ${keyid.slice(0, 12)}… ${known ? 'does not verify' : 'is not by a key of this role'}`,
            file,
          );
        }
        const expires = parseExpires(doc.signed.expires) as Date;
        if (expires.getTime() <= now.getTime())
          problem('EXPIRED_METADATA', `${role}.json expired on ${doc.signed.expires}`, file);
      }
      const checkMeta = (owner: 'snapshot' | 'timestamp', name: string, target: RoleName) => {
        const meta = (
          docs[owner].signed.meta as Record<
            string,
            { version: number; length?: number; hashes?: Record<string, string> }
          >
        )[name];
        const file = `metadata/${owner}.json`;
        if (!meta) return problem('BAD_VERSION', `${owner}.json does not list ${name}`, file);
        if (meta.version !== docs[target].signed.version) {
          problem(
            'BAD_VERSION',
            `${owner}.json expects ${name} version ${meta.version}, but it is version ${docs[target].signed.version}`,
            file,
          );
        }
        const bytes = state.bytes[target];
        if (meta.length !== undefined && meta.length !== bytes.length)
          problem(
            'LENGTH_MISMATCH',
            `${name} is ${bytes.length} bytes, ${owner}.json says ${meta.length}`,
            file,
          );
        for (const [alg, hex] of Object.entries(meta.hashes ?? {})) {
          try {
            if (!sameDigest(createHash(alg).update(bytes).digest('hex'), hex))
              problem('HASH_MISMATCH', `${name} ${alg} differs from ${owner}.json`, file);
          } catch {
            problem('HASH_MISMATCH', `${owner}.json uses unknown hash ${alg} for ${name}`, file);
          }
        }
      };
      checkMeta('snapshot', 'targets.json', 'targets');
      checkMeta('timestamp', 'snapshot.json', 'snapshot');
      await this.#verifyTargets(docs.targets, checked, problem, warn, Boolean(opts.deep));
    }
    const parked = await Publication.loadParked(this.repoDir).catch(() => undefined);
    if (parked)
      warn('PENDING_CHANGE', `a change waits for co-signers: ${parked.plan.summary ?? parked.plan.command}`);
    return { ok: problems.length === 0, problems, warnings, checked };
  }

  async #verifyTargets(
    targets: RoleDocs['targets'],
    checked: VerifyReport['checked'],
    problem: (code: string, message: string, file?: string) => void,
    warn: (code: string, message: string, file?: string) => void,
    deep: boolean,
  ): Promise<void> {
    const signal = this.#ctx.signal;
    const listed = new Set<string>();
    for (const [name, t] of Object.entries(targets.signed.targets) as Array<[string, TargetFileJson]>) {
      listed.add(name);
      const file = `targets/${name}`;
      if (!isSafeTargetName(name)) {
        problem('INVALID_TARGET_PATH', `target path ${JSON.stringify(name)} is not a plain file name`, file);
        continue;
      }
      const path = join(this.targetsDir, name);
      const algs = Object.keys(t.hashes);
      if (!algs.includes('sha256')) warn('WEAK_HASHES', `${name} has no sha256 hash`, file);
      try {
        const hashers = algs.map((a) => [a, createHash(a)] as const);
        let size = 0;
        for await (const chunk of createReadStream(path, {
          highWaterMark: 1 << 20,
          ...(signal ? { signal } : {}),
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
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT')
          problem('TARGET_FILE_MISSING', `${name} is in targets.json but not on disk`, file);
        else if (code === 'ERR_OSSL_EVP_UNSUPPORTED' || /Digest method not supported/.test(String(err)))
          problem('HASH_MISMATCH', `${name} uses an unknown hash algorithm`, file);
        else throw err;
      }
    }
    try {
      for (const name of await readdir(this.targetsDir)) {
        if (!listed.has(name) && !name.startsWith('.'))
          warn(
            'UNREGISTERED_FILE',
            `${name} is in the targets directory but not in targets.json`,
            `targets/${name}`,
          );
      }
    } catch {
      problem('TARGET_FILE_MISSING', `${this.targetsDir} is missing`);
    }

    // Patch chains, per app: a patch needs a version before it; it must produce the tar of its version's archive.
    const entries = this.#targetEntries(targets);
    for (const [name, t] of Object.entries(targets.signed.targets)) {
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
        if (parsed.kind === 'archive') readArchiveCustom(t.custom);
        else readPatchCustom(t.custom);
      } catch (err) {
        problem('INVALID_CUSTOM_METADATA', `${name}: ${(err as Error).message}`, `targets/${name}`);
      }
    }
    for (const app of this.#appReleases(entries)) {
      let prev: ReleaseEntry | undefined;
      for (const r of app.releases) {
        if (r.patch) {
          const file = `targets/${r.patch.filename}`;
          if (!prev)
            problem(
              'PATCH_WITHOUT_BASE',
              `${r.patch.filename} patches from a version that is not in the repository (it is ${app.app}'s first)`,
              file,
            );
          if (!r.archive)
            warn('PATCH_WITHOUT_ARCHIVE', `${r.patch.filename} has no archive of the same version`, file);
          else if (r.patch.tarHash && r.patch.tarSize !== undefined) {
            const tar = await gunzipHash(join(this.targetsDir, r.archive.filename), signal).catch(
              () => undefined,
            );
            if (tar && (tar.size !== r.patch.tarSize || !sameDigest(tar.sha256, r.patch.tarHash))) {
              problem(
                'PATCH_TARGET_MISMATCH',
                `${r.patch.filename} produces a tar (${r.patch.tarSize} bytes) other than the one in ${r.archive.filename} (${tar.size} bytes)`,
                file,
              );
            }
          }
          if (deep && prev?.archive && r.patch.tarHash && r.patch.tarSize !== undefined) {
            if (await this.#replayPatch(prev.archive, r.patch, problem)) checked.patchesReplayed++;
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

  async #replayPatch(
    base: TargetEntry,
    patch: TargetEntry,
    problem: (code: string, message: string, file?: string) => void,
  ): Promise<boolean> {
    const dir = await makeTempDir('tufup-verify-');
    try {
      const { gunzipToTar } = await import('@tufup/archive');
      const { apply } = await loadPatchEngine();
      const oldTar = join(dir, 'old.tar');
      await gunzipToTar(join(this.targetsDir, base.filename), oldTar);
      try {
        await apply(oldTar, join(this.targetsDir, patch.filename), join(dir, 'new.tar'), {
          expect: { size: patch.tarSize as number, sha256: patch.tarHash as string },
        });
      } catch (err) {
        problem(
          'PATCH_REPLAY_FAILED',
          `${patch.filename} applied to ${base.filename}: ${(err as Error).message}`,
          `targets/${patch.filename}`,
        );
      }
      return true;
    } catch {
      return false;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/**
 * Point a snapshot/timestamp `meta` entry at `doc`'s version. python tufup lists only versions; when the entry
 * also has length/hashes (other tools write them), they are recomputed from the bytes as they will be on disk.
 */
function pointMeta(meta: Record<string, MetaFileJson>, name: string, doc: RoleDoc): void {
  const entry: MetaFileJson = { ...(meta[name] ?? {}), version: doc.signed.version };
  if (entry.length !== undefined || entry.hashes !== undefined) {
    const bytes = Buffer.from(serializeRoleDoc(doc), 'utf8');
    if (entry.length !== undefined) entry.length = bytes.length;
    if (entry.hashes !== undefined) {
      entry.hashes = Object.fromEntries(
        Object.keys(entry.hashes).map((alg) => [alg, createHash(alg).update(bytes).digest('hex')]),
      );
    }
  }
  meta[name] = entry;
}

/**
 * How long before expiry `status` starts warning: a quarter of the role's signing period, at least 3 hours and at
 * most 30 days (timestamp at 1 day: 6 hours; targets/snapshot at 7 days: 1.75 days; root at 365 days: 30 days).
 * A daily re-signing job therefore never triggers it.
 */
export function renewalWindowDays(periodDays: number): number {
  return Math.min(30, Math.max(0.125, periodDays / 4));
}

/** The parts of @tufup/patch used here (its diff side is only loaded when a release is added). */
interface PatchEngine {
  diff(
    oldPath: string,
    newPath: string,
    patchPath: string,
    opts: { format?: PatchFormat; onProgress?: OnProgress; signal?: AbortSignal },
  ): Promise<{ size: number }>;
  apply(
    oldPath: string,
    patchPath: string,
    newPath: string,
    opts: { expect?: { size: number; sha256: string }; onProgress?: OnProgress; signal?: AbortSignal },
  ): Promise<{ size: number; sha256: string }>;
}

async function loadPatchEngine(): Promise<PatchEngine> {
  return (await import('@tufup/patch')) as unknown as PatchEngine;
}

async function gunzipHash(path: string, signal?: AbortSignal): Promise<{ size: number; sha256: string }> {
  const hasher = new HashingStream();
  hasher.resume();
  await pipeline(createReadStream(path), createGunzip(), hasher, signal ? { signal } : {});
  return hasher.digest();
}

// MetadataStore: a repository's metadata dir loaded in memory, edited, bumped, signed, verified and saved safely.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Metadata,
  MetaFile,
  type Root,
  type Snapshot,
  TargetFile,
  type Targets,
  type Timestamp,
} from '@tufjs/models';
import { hashFile, throwIfAborted, writeFileAtomic } from '@tufup/common';
import { MetadataError } from './errors.js';
import { pythonJsonDumps } from './python-json.js';
import type { PublicKey, Signer } from './keys.js';
import { PublicKey as PublicKeyClass } from './keys.js';
import {
  type AnyRoleMetadata,
  addSignatures,
  assertRoleName,
  canonical,
  checkThreshold,
  countSignatures,
  createRoot,
  createSnapshot,
  createTargets,
  createTimestamp,
  DEFAULT_EXPIRATION_DAYS,
  expiresIn,
  formatExpires,
  hasValidSignature,
  parseExpires,
  parseMetadata,
  type RoleKeys,
  type RoleMetadata,
  type RoleName,
  readMetadataText,
  rebuild,
  type SignatureCount,
  serializeMetadata,
  ROLE_NAMES,
  type VerifyOptions,
  verifyRole,
  verifyRootRotation,
} from './roles.js';

export interface CreateMetadataOptions {
  /** The public keys of each role (a key may serve several roles). Order is kept in root.json. */
  keys: Record<RoleName, readonly PublicKey[]>;
  /** Signature thresholds (default 1 each). */
  thresholds?: Partial<Record<RoleName, number>>;
  /** Days until each role expires (default python tufup's: root 365, targets 7, snapshot 7, timestamp 1). */
  expirationDays?: Partial<Record<RoleName, number>>;
  /** consistent_snapshot (default false, as python tufup). */
  consistentSnapshot?: boolean;
  /** Reference time for expiry (default now). */
  now?: Date;
}

export interface LoadMetadataOptions {
  /** Days until a bumped role expires (default python tufup's); bump() can override per call. */
  expirationDays?: Partial<Record<RoleName, number>>;
}

export interface BumpOptions {
  /** Bump these roles even if unchanged (e.g. `['timestamp']` to refresh its expiry). */
  force?: readonly RoleName[];
  /** Days until each bumped role expires; falls back to the store's expirationDays. */
  expirationDays?: Partial<Record<RoleName, number>>;
  now?: Date;
}

export interface SaveOptions {
  /**
   * Write roles that have fewer valid signatures than their threshold (multi-party signing: the next
   * signer loads, signs and saves). Clients reject such metadata until the threshold is met.
   */
  allowBelowThreshold?: boolean;
  /** Reference time for the expiry check before writing (default now). */
  now?: Date;
}

export interface TargetInfo {
  length: number;
  /** sha256 of the file, hex. python tufup lists sha256 only. */
  sha256: string;
  /** Custom metadata (see makeArchiveCustom / makePatchCustom). */
  custom?: Record<string, unknown>;
}

export interface RoleStatus {
  role: RoleName;
  version: number;
  expires: string;
  /** Content differs from the loaded file. */
  changed: boolean;
  signatures: SignatureCount;
}

interface LoadedRole {
  /** The file text as loaded (undefined for a role not on disk yet). */
  text: string | undefined;
  version: number;
  expires: string;
  canonical: string;
}

type Roles = {
  root: Metadata<Root>;
  targets: Metadata<Targets>;
  snapshot: Metadata<Snapshot>;
  timestamp: Metadata<Timestamp>;
};

/**
 * A repository's top-level metadata. Edit with addKey/removeKey/setThreshold/addTarget/removeTarget/
 * setExpires, then `bump()` (version + expiry of every changed role, plus the cascade root → targets →
 * snapshot → timestamp), `sign()` each bumped role, `save()`. Changes are detected by content, like
 * python tufup's publish_changes; nothing touches disk before save().
 */
export class MetadataStore {
  readonly dir: string;
  #roles: Roles;
  #loaded: Partial<Record<RoleName, LoadedRole>> = {};
  /** The root clients trust now (the one loaded), kept to check a rotation to a new root. */
  #trustedRoot: Metadata<Root> | undefined;
  /** `(N-1).root.json`, when the loaded root is N: lets loaded N be re-verified and co-signed. */
  #previousRoot: Metadata<Root> | undefined;
  /** Text of root.json on disk, which may lag N.root.json after an interrupted save. */
  #rootJsonText: string | undefined;
  #expirationDays: Record<RoleName, number>;

  private constructor(dir: string, roles: Roles, expirationDays?: Partial<Record<RoleName, number>>) {
    this.dir = dir;
    this.#roles = roles;
    this.#expirationDays = { ...DEFAULT_EXPIRATION_DAYS, ...(expirationDays ?? {}) };
  }

  // ---- construction -----------------------------------------------------------------------------

  /** New metadata for an empty repository: every role at version 1, unsigned, nothing written yet. */
  static create(dir: string, opts: CreateMetadataOptions): MetadataStore {
    const now = opts.now ?? new Date();
    const days = { ...DEFAULT_EXPIRATION_DAYS, ...(opts.expirationDays ?? {}) };
    for (const role of ROLE_NAMES) {
      if (!opts.keys[role] || opts.keys[role].length === 0) {
        throw new MetadataError({ code: 'UNKNOWN_KEY', message: `no keys given for the ${role} role` });
      }
    }
    const root = createRoot({
      expires: expiresIn(days.root, now),
      keys: opts.keys,
      ...(opts.thresholds ? { thresholds: opts.thresholds } : {}),
      consistentSnapshot: opts.consistentSnapshot ?? false,
    });
    const store = new MetadataStore(
      dir,
      {
        root,
        targets: createTargets({ expires: expiresIn(days.targets, now) }),
        snapshot: createSnapshot({ expires: expiresIn(days.snapshot, now) }),
        timestamp: createTimestamp({ expires: expiresIn(days.timestamp, now) }),
      },
      opts.expirationDays,
    );
    store.#checkThresholdsReachable();
    return store;
  }

  /**
   * Loads `dir` (a `repository/metadata`). The root is the highest `N.root.json` (what clients walk to),
   * else `root.json`; `(N-1).root.json` is kept for rotation checks. FILE_NOT_FOUND if a role is missing.
   */
  static async load(dir: string, opts: LoadMetadataOptions = {}): Promise<MetadataStore> {
    const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') {
        throw new MetadataError({ code: 'FILE_NOT_FOUND', message: `no metadata dir ${dir}`, cause: err });
      }
      throw err;
    });
    const rootVersions = names
      .map((n) => /^([1-9][0-9]{0,8})\.root\.json$/.exec(n)?.[1])
      .filter((v): v is string => v !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    const rootJsonText = names.includes('root.json')
      ? await readMetadataText(join(dir, 'root.json'))
      : undefined;
    const latest = rootVersions[rootVersions.length - 1];
    let rootText: string;
    if (latest !== undefined) {
      rootText = await readMetadataText(join(dir, `${latest}.root.json`));
    } else if (rootJsonText !== undefined) {
      rootText = rootJsonText;
    } else {
      throw new MetadataError({ code: 'FILE_NOT_FOUND', message: `no root.json in ${dir}` });
    }
    const root = parseMetadata('root', rootText);
    if (rootJsonText !== undefined && rootText !== rootJsonText) {
      // root.json may lag N.root.json after an interrupted save (save() rewrites it); it must never lead.
      const rootJson = parseMetadata('root', rootJsonText);
      if (rootJson.signed.version >= root.signed.version) {
        throw new MetadataError({
          code: 'BAD_VERSION',
          message: `root.json (v${rootJson.signed.version}) differs from the latest versioned root ${latest}.root.json`,
        });
      }
    }
    if (latest !== undefined && root.signed.version !== latest) {
      throw new MetadataError({
        code: 'BAD_VERSION',
        message: `${latest}.root.json holds root version ${root.signed.version}`,
      });
    }
    const texts = {
      targets: await readMetadataText(join(dir, 'targets.json')),
      snapshot: await readMetadataText(join(dir, 'snapshot.json')),
      timestamp: await readMetadataText(join(dir, 'timestamp.json')),
    };
    const store = new MetadataStore(
      dir,
      {
        root,
        targets: parseMetadata('targets', texts.targets),
        snapshot: parseMetadata('snapshot', texts.snapshot),
        timestamp: parseMetadata('timestamp', texts.timestamp),
      },
      opts.expirationDays,
    );
    store.#rootJsonText = rootJsonText;
    store.#markLoaded('root', rootText);
    for (const role of ['targets', 'snapshot', 'timestamp'] as const) store.#markLoaded(role, texts[role]);
    store.#trustedRoot = copy(root);
    const previous = root.signed.version - 1;
    if (rootVersions.includes(previous)) {
      store.#previousRoot = parseMetadata('root', await readMetadataText(join(dir, `${previous}.root.json`)));
    }
    return store;
  }

  // ---- reading ----------------------------------------------------------------------------------

  get root(): Metadata<Root> {
    return this.#roles.root;
  }
  get targets(): Metadata<Targets> {
    return this.#roles.targets;
  }
  get snapshot(): Metadata<Snapshot> {
    return this.#roles.snapshot;
  }
  get timestamp(): Metadata<Timestamp> {
    return this.#roles.timestamp;
  }

  get<R extends RoleName>(role: R): RoleMetadata<R> {
    assertRoleName(role);
    return this.#roles[role] as unknown as RoleMetadata<R>;
  }

  /** The root before the current one, when known (loaded `(N-1).root.json`, or the loaded root after a root bump). */
  get previousRoot(): Metadata<Root> | undefined {
    return this.#rotationBase();
  }

  /** The public keys root lists for `role`, in root's order. */
  keysFor(role: RoleName): PublicKey[] {
    const r = this.#role(role);
    return r.keyIDs.map((id) => {
      const key = this.root.signed.keys[id];
      if (!key)
        throw new MetadataError({
          code: 'UNKNOWN_KEY',
          message: `root lists ${id} for ${role} but has no such key`,
        });
      return PublicKeyClass.fromTufKey(key);
    });
  }

  threshold(role: RoleName): number {
    return this.#role(role).threshold;
  }

  /** Target paths in targets metadata. */
  targetPaths(): string[] {
    return Object.keys(this.targets.signed.targets);
  }

  getTarget(path: string): TargetFile | undefined {
    return Object.hasOwn(this.targets.signed.targets, path) ? this.targets.signed.targets[path] : undefined;
  }

  /** Roles whose content differs from what was loaded (all of them for a new store). */
  changedRoles(): RoleName[] {
    return ROLE_NAMES.filter((role) => this.#isChanged(role));
  }

  /** keyids whose signatures count for `role`: its keys, plus for a new root the keys of the root it replaces. */
  signingKeyIds(role: RoleName): string[] {
    const ids = new Set(this.#role(role).keyIDs);
    const base = role === 'root' ? this.#rotationBase() : undefined;
    for (const id of base?.signed.roles.root?.keyIDs ?? []) ids.add(id);
    return [...ids];
  }

  /** Version, expiry and signature count of each role, without throwing. */
  status(): RoleStatus[] {
    return ROLE_NAMES.map((role) => {
      const md = this.#roles[role];
      return {
        role,
        version: md.signed.version,
        expires: md.signed.expires,
        changed: this.#isChanged(role),
        signatures: countSignatures(this.root.signed, role, md),
      };
    });
  }

  // ---- editing root -----------------------------------------------------------------------------

  /** Lets `key` sign for `role` (no-op if it already does). */
  addKey(role: RoleName, key: PublicKey): void {
    const r = this.#role(role);
    const existing = this.root.signed.keys[key.keyid];
    if (existing && existing.keyVal.public !== key.publicHex) {
      throw new MetadataError({
        code: 'KEY_MISMATCH',
        message: `root already has a different key ${key.keyid}`,
      });
    }
    const keyIDs = r.keyIDs.includes(key.keyid) ? [...r.keyIDs] : [...r.keyIDs, key.keyid];
    this.#setRoot({
      keys: { ...this.root.signed.keys, [key.keyid]: key.toTufKey() },
      roles: { ...this.root.signed.roles, [role]: { keyIDs, threshold: r.threshold } },
    });
  }

  /**
   * Stops `keyid` signing for `role`; the key leaves root's `keys` once no role uses it (python tufup
   * #181 left it behind). UNKNOWN_KEY if the role does not list it.
   */
  removeKey(role: RoleName, keyid: string): void {
    const r = this.#role(role);
    if (!r.keyIDs.includes(keyid)) {
      throw new MetadataError({ code: 'UNKNOWN_KEY', message: `${keyid} is not a ${role} key` });
    }
    const roles = {
      ...this.root.signed.roles,
      [role]: { keyIDs: r.keyIDs.filter((id) => id !== keyid), threshold: r.threshold },
    };
    const keys = { ...this.root.signed.keys };
    if (!Object.values(roles).some((x) => x.keyIDs.includes(keyid))) delete keys[keyid];
    this.#setRoot({ keys, roles });
  }

  /** Replaces `oldKeyid` by `newKey` in every role that lists it; returns those roles. UNKNOWN_KEY if none. */
  replaceKey(oldKeyid: string, newKey: PublicKey): RoleName[] {
    const roles = ROLE_NAMES.filter((role) => this.#role(role).keyIDs.includes(oldKeyid));
    if (roles.length === 0) {
      throw new MetadataError({ code: 'UNKNOWN_KEY', message: `no role uses key ${oldKeyid}` });
    }
    for (const role of roles) {
      this.addKey(role, newKey);
      this.removeKey(role, oldKeyid);
    }
    return roles;
  }

  /** INVALID_THRESHOLD unless 1 <= threshold <= the role's key count (add keys first). */
  setThreshold(role: RoleName, threshold: number): void {
    const r = this.#role(role);
    checkThreshold(role, threshold);
    if (threshold > r.keyIDs.length) {
      throw new MetadataError({
        code: 'INVALID_THRESHOLD',
        message: `${role} threshold ${threshold} exceeds its ${r.keyIDs.length} key(s)`,
      });
    }
    this.#setRoot({
      roles: { ...this.root.signed.roles, [role]: { keyIDs: [...r.keyIDs], threshold } },
    });
  }

  setConsistentSnapshot(consistentSnapshot: boolean): void {
    this.#setRoot({ consistentSnapshot });
  }

  /** Sets a role's expiry explicitly; bump() then keeps it instead of computing now + days. */
  setExpires(role: RoleName, expires: Date | string): void {
    assertRoleName(role);
    const text = typeof expires === 'string' ? formatExpires(parseExpires(expires)) : formatExpires(expires);
    this.#replace(role, rebuild(this.#roles[role], { expires: text }));
  }

  // ---- editing targets --------------------------------------------------------------------------

  /** Adds or replaces target `path` (a file name, or a `/`-separated relative path). */
  addTarget(path: string, info: TargetInfo): TargetFile {
    checkTargetPath(path);
    if (!Number.isSafeInteger(info.length) || info.length < 0) {
      throw new MetadataError({
        code: 'INVALID_METADATA',
        message: `target length must be a non-negative integer`,
      });
    }
    if (!/^[0-9a-f]{64}$/.test(info.sha256)) {
      throw new MetadataError({
        code: 'INVALID_METADATA',
        message: `target sha256 must be 64 lowercase hex digits`,
      });
    }
    const target = new TargetFile({
      path,
      length: info.length,
      hashes: { sha256: info.sha256 },
      ...(info.custom !== undefined ? { unrecognizedFields: { custom: toJsonObject(info.custom) } } : {}),
    });
    this.#replace(
      'targets',
      rebuild(this.targets, { targets: { ...this.targets.signed.targets, [path]: target } }),
    );
    return target;
  }

  /** Adds target `path` with the length and sha256 of `localFile` (streamed, bounded memory). */
  async addTargetFile(
    path: string,
    localFile: string,
    opts: { custom?: Record<string, unknown>; signal?: AbortSignal } = {},
  ): Promise<TargetFile> {
    checkTargetPath(path);
    const { size, sha256 } = await hashFile(localFile, opts.signal ? { signal: opts.signal } : {});
    throwIfAborted(opts.signal);
    return this.addTarget(path, {
      length: size,
      sha256,
      ...(opts.custom !== undefined ? { custom: opts.custom } : {}),
    });
  }

  /** Removes target `path` (exact path, not a suffix match as python tufup did). TARGET_NOT_FOUND if absent. */
  removeTarget(path: string): void {
    if (!this.getTarget(path)) {
      throw new MetadataError({ code: 'TARGET_NOT_FOUND', message: `no target ${path}` });
    }
    const targets = { ...this.targets.signed.targets };
    delete targets[path];
    this.#replace('targets', rebuild(this.targets, { targets }));
  }

  // ---- publishing -------------------------------------------------------------------------------

  /**
   * Gives every changed (or forced) role its next version and a fresh expiry, clears its signatures, and
   * cascades: root changed → targets bumped; targets → snapshot lists its version; snapshot → timestamp.
   * A role is bumped at most once per save: its version becomes the loaded version + 1. Returns the
   * bumped roles in publishing order; each needs signing.
   */
  bump(opts: BumpOptions = {}): RoleName[] {
    const now = opts.now ?? new Date();
    const days = { ...this.#expirationDays, ...(opts.expirationDays ?? {}) };
    const forced = new Set(opts.force ?? []);
    for (const role of forced) assertRoleName(role);
    const bumped: RoleName[] = [];
    for (const role of ROLE_NAMES) {
      // The cascade: each role names the version of the one before it in this order.
      if (role === 'snapshot' && bumped.includes('targets')) {
        const version = this.targets.signed.version;
        if (this.snapshot.signed.meta['targets.json']?.version !== version) {
          const meta = { ...this.snapshot.signed.meta, 'targets.json': new MetaFile({ version }) };
          this.#replace('snapshot', rebuild(this.snapshot, { meta }));
        }
      }
      if (role === 'timestamp' && bumped.includes('snapshot')) {
        const version = this.snapshot.signed.version;
        if (this.timestamp.signed.snapshotMeta.version !== version) {
          this.#replace('timestamp', rebuild(this.timestamp, { snapshotMeta: new MetaFile({ version }) }));
        }
      }
      // New root keys must be able to sign targets, and clients only re-fetch what snapshot says changed.
      if (role === 'targets' && bumped.includes('root')) forced.add('targets');
      if (!forced.has(role) && !this.#isChanged(role)) continue;
      const loaded = this.#loaded[role];
      const md = this.#roles[role];
      const version =
        loaded === undefined ? md.signed.version : Math.max(md.signed.version, loaded.version + 1);
      const expiresChanged = loaded === undefined || md.signed.expires !== loaded.expires;
      const expires = expiresChanged ? md.signed.expires : expiresIn(days[role], now);
      // Bumping twice before a save must not throw away signatures made in between.
      if (version !== md.signed.version || expires !== md.signed.expires) {
        this.#replace(role, rebuild(md, { version, expires }));
      }
      bumped.push(role);
    }
    return bumped;
  }

  /**
   * Adds signatures to `role` by `signers`, keeping the valid signatures already there (a second party
   * adds to the first) and dropping ones that no longer verify. KEY_NOT_AUTHORIZED for a signer whose
   * key does not count for the role (see signingKeyIds).
   */
  sign(role: RoleName, signers: readonly Signer[]): void {
    const allowed = new Set(this.signingKeyIds(role));
    for (const s of signers) {
      if (!allowed.has(s.keyid)) {
        throw new MetadataError({
          code: 'KEY_NOT_AUTHORIZED',
          message: `key ${s.keyid} may not sign ${role}`,
        });
      }
    }
    const md = this.#roles[role];
    addSignatures(md, signers);
    const keys = { ...(this.#rotationBase()?.signed.keys ?? {}), ...this.root.signed.keys };
    for (const keyid of Object.keys(md.signatures)) {
      const key = keys[keyid];
      if (key && !hasValidSignature(md, key)) delete md.signatures[keyid];
    }
  }

  /**
   * Verifies every role as a client would: root by a threshold of its own keys (and, for a new root, of
   * the root it replaces), the others against root, snapshot/timestamp pointing at the current
   * versions, nothing expired as of `now`. Throws the first problem as a coded error.
   */
  verify(opts: VerifyOptions = {}): void {
    this.#verify(opts, true);
  }

  /**
   * Writes the roles whose file content changed, in a safe order: `N.root.json` then `root.json`, then
   * targets, snapshot, timestamp (with consistent snapshots also `N.targets.json`, `N.snapshot.json`).
   * A client reads timestamp first, so by the time it sees a new timestamp everything it names is in
   * place. Refuses metadata that does not verify, and changed content whose version was not bumped.
   * Returns the paths written.
   */
  async save(opts: SaveOptions = {}): Promise<string[]> {
    for (const role of ROLE_NAMES) {
      const loaded = this.#loaded[role];
      if (loaded && this.#isChanged(role) && this.#roles[role].signed.version <= loaded.version) {
        throw new MetadataError({
          code: 'BAD_VERSION',
          message: `${role} changed but is still version ${loaded.version}: call bump() before save()`,
        });
      }
    }
    this.#verify(opts, !opts.allowBelowThreshold);
    if (!this.#loaded.root) {
      // A store from create() must not silently replace a repository whose clients trust another root.
      const existing = await readdir(this.dir).catch(() => [] as string[]);
      const clash = existing.find((n) => n === 'root.json' || /^[0-9]+\.root\.json$/.test(n));
      if (clash) {
        throw new MetadataError({
          code: 'METADATA_EXISTS',
          message: `${join(this.dir, clash)} exists: load() the repository instead of creating it`,
        });
      }
    }
    const written: string[] = [];
    const write = async (name: string, text: string) => {
      const path = join(this.dir, name);
      await writeFileAtomic(path, text);
      written.push(path);
    };
    const consistent = this.root.signed.consistentSnapshot;
    for (const role of ROLE_NAMES) {
      const md = this.#roles[role];
      const text = serializeMetadata(md);
      const loaded = this.#loaded[role];
      if (role === 'root') {
        if (loaded?.text !== text) await write(`${md.signed.version}.root.json`, text);
        if (this.#rootJsonText !== text) await write('root.json', text);
        this.#rootJsonText = text;
      } else if (loaded?.text !== text) {
        if (consistent && role !== 'timestamp') await write(`${md.signed.version}.${role}.json`, text);
        await write(`${role}.json`, text);
      }
    }
    if (this.#loaded.root && this.root.signed.version > this.#loaded.root.version) {
      this.#previousRoot = this.#trustedRoot;
    }
    this.#trustedRoot = copy(this.root);
    for (const role of ROLE_NAMES) this.#markLoaded(role, serializeMetadata(this.#roles[role]));
    return written;
  }

  // ---- internals --------------------------------------------------------------------------------

  #verify(opts: VerifyOptions, requireThreshold: boolean): void {
    this.#checkThresholdsReachable();
    const root = this.root;
    const check = (fn: () => void) => {
      try {
        fn();
      } catch (err) {
        if (!requireThreshold && err instanceof MetadataError && err.code === 'THRESHOLD_NOT_MET') return;
        throw err;
      }
    };
    check(() => verifyRole(root.signed, 'root', root, opts));
    const base = this.#rotationBase();
    if (base && base.signed.version !== root.signed.version) {
      check(() => verifyRootRotation(base, root, { ...opts, ignoreExpiry: true }));
    }
    for (const role of ['targets', 'snapshot', 'timestamp'] as const) {
      check(() => verifyRole(root.signed, role, this.#roles[role], opts));
    }
    const listedTargets = this.snapshot.signed.meta['targets.json']?.version;
    if (listedTargets !== this.targets.signed.version) {
      throw new MetadataError({
        code: 'BAD_VERSION',
        message: `snapshot lists targets.json v${listedTargets}, targets is v${this.targets.signed.version}`,
      });
    }
    const listedSnapshot = this.timestamp.signed.snapshotMeta.version;
    if (listedSnapshot !== this.snapshot.signed.version) {
      throw new MetadataError({
        code: 'BAD_VERSION',
        message: `timestamp lists snapshot.json v${listedSnapshot}, snapshot is v${this.snapshot.signed.version}`,
      });
    }
  }

  #checkThresholdsReachable(): void {
    for (const role of ROLE_NAMES) {
      const r = this.#role(role);
      if (r.threshold > r.keyIDs.length) {
        throw new MetadataError({
          code: 'INVALID_THRESHOLD',
          message: `${role} threshold ${r.threshold} exceeds its ${r.keyIDs.length} key(s)`,
        });
      }
    }
  }

  /** The root a new root must also be signed by: the loaded root once root was bumped, else `(N-1).root.json`. */
  #rotationBase(): Metadata<Root> | undefined {
    const trusted = this.#trustedRoot;
    if (trusted && this.root.signed.version > trusted.signed.version) return trusted;
    return this.#previousRoot;
  }

  #role(role: RoleName): RoleKeys {
    assertRoleName(role);
    const r = this.root.signed.roles[role];
    if (!r) throw new MetadataError({ code: 'UNKNOWN_ROLE', message: `root has no ${role} role` });
    return r;
  }

  #setRoot(changes: Parameters<typeof rebuild>[1]): void {
    this.#replace('root', rebuild(this.root, changes));
  }

  #replace(role: RoleName, md: AnyRoleMetadata): void {
    (this.#roles as Record<RoleName, AnyRoleMetadata>)[role] = md;
  }

  #isChanged(role: RoleName): boolean {
    const loaded = this.#loaded[role];
    return loaded === undefined || canonical(this.#roles[role]).toString('utf8') !== loaded.canonical;
  }

  #markLoaded(role: RoleName, text: string): void {
    const md = this.#roles[role];
    this.#loaded[role] = {
      text,
      version: md.signed.version,
      expires: md.signed.expires,
      canonical: canonical(md).toString('utf8'),
    };
  }
}

function copy(md: Metadata<Root>): Metadata<Root> {
  return parseMetadata('root', JSON.parse(JSON.stringify(md.toJSON())) as unknown);
}

/**
 * Target paths end up in URLs and local paths on clients: relative, `/`-separated, no `.`/`..` or
 * empty segments, no backslashes or control characters.
 */
function checkTargetPath(path: string): void {
  const ok =
    typeof path === 'string' &&
    path.length > 0 &&
    path.length <= 1024 &&
    !/[\\\u0000-\u001f\u007f]/.test(path) &&
    path.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
  if (!ok) {
    throw new MetadataError({
      code: 'INVALID_TARGET_PATH',
      message: `unusable target path ${JSON.stringify(path)}`,
    });
  }
}

type JsonObject = NonNullable<ConstructorParameters<typeof TargetFile>[0]['unrecognizedFields']>;

/** A detached copy of custom metadata that canonical JSON can hold (integers only, no undefined). */
function toJsonObject(value: Record<string, unknown>): JsonObject {
  // pythonJsonDumps rejects floats and other non-JSON values with a coded error.
  pythonJsonDumps(value);
  return JSON.parse(JSON.stringify(value)) as JsonObject;
}

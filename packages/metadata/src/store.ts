// MetadataStore: a repository's metadata dir loaded in memory, edited, bumped, signed, verified and saved safely.
import { basename, dirname, join } from 'node:path';
import {
  type Metadata,
  MetaFile,
  type Root,
  type Snapshot,
  TargetFile,
  type Targets,
  type Timestamp,
} from '@tufjs/models';
import { hashFile, readFileOrUndefined, readdirOrEmpty, throwIfAborted } from '@tufup/common';
import { toJsonObject } from './custom.js';
import { MetadataError } from './errors.js';
import type { PublicKey, Signer } from './keys.js';
import { PublicKey as PublicKeyClass } from './keys.js';
import { OnDisk, readMetadataDir, readRootFiles, rootFileVersion } from './files.js';
import { metadataFileNames } from './layout.js';
import { Publication } from './publication.js';
import { roleKeys, withKey, withThreshold, withoutKey } from './root-keys.js';
import type {
  BumpOptions,
  CreateMetadataOptions,
  LoadMetadataOptions,
  RoleStatus,
  SaveOptions,
  StageOptions,
  TargetInfo,
} from './store-options.js';
import {
  type AnyRoleMetadata,
  DEFAULT_EXPIRATION_DAYS,
  ROLE_NAMES,
  type RoleMetadata,
  type RoleName,
  assertRoleName,
  createRoot,
  createSnapshot,
  createTargets,
  createTimestamp,
  expiresIn,
  formatExpires,
  parseExpires,
  parseMetadata,
  rebuild,
  serializeMetadata,
} from './roles.js';
import { addSignatures, countSignatures, hasValidSignature } from './signatures.js';
import { isRoleName } from './roles.js';
import {
  Findings,
  type VerifyFilesOptions,
  type VerifyOptions,
  type VerifyResult,
  checkExpiry,
  checkLinks,
  checkRole,
  checkRootChain,
  checkRotation,
  checkSignatures,
  checkTargetFiles,
  checkThresholds,
} from './verify.js';
import { checkTargetPath, tryParseTargetName } from './target-names.js';
import {
  type DelegatedRole,
  assertDelegatedRoleName,
  delegationMatcher,
  assertHistoryAfter,
  assertPathPatterns,
  delegatedEntries,
  historyAfter,
  historyRoleName,
  isHistoryRoleName,
  delegatedRoleJson,
  makeDelegations,
} from './delegations.js';
import { readMetadataText } from './files.js';
import { compareVersions } from './versions.js';
import { type SignatureCount, countSignatures as countRoleSignatures } from './signatures.js';

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
  readonly #disk = new OnDisk();
  /** The root clients trust now (the one loaded), kept to check a rotation to a new root. */
  #trustedRoot: Metadata<Root> | undefined;
  /** `(N-1).root.json`, when the loaded root is N: lets loaded N be re-verified and co-signed. */
  #previousRoot: Metadata<Root> | undefined;
  #expirationDays: Record<RoleName, number>;
  /** Delegated targets roles by name (their order is the delegation tree's, see delegatedRoleNames). */
  readonly #delegated = new Map<string, Metadata<Targets>>();
  /** Delegated roles removed since load or save: their files go at the next save. */
  readonly #removedDelegated = new Set<string>();

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
    const findings = new Findings();
    checkThresholds(findings, root.signed);
    findings.throwFirst();
    return store;
  }

  /**
   * Loads `dir` (a `repository/metadata`). The root is the highest `N.root.json` (what clients walk to),
   * else `root.json`; `(N-1).root.json` is kept for rotation checks. FILE_NOT_FOUND if a role is missing.
   */
  static async load(dir: string, opts: LoadMetadataOptions = {}): Promise<MetadataStore> {
    const files = await readMetadataDir(dir);
    const root = parseMetadata('root', files.rootText);
    const store = new MetadataStore(
      dir,
      {
        root,
        targets: parseMetadata('targets', files.texts.targets),
        snapshot: parseMetadata('snapshot', files.texts.snapshot),
        timestamp: parseMetadata('timestamp', files.texts.timestamp),
      },
      opts.expirationDays,
    );
    store.#disk.rootJsonText = files.rootJsonText;
    store.#disk.history = files.history;
    store.#markLoaded('root', files.rootText);
    for (const role of ['targets', 'snapshot', 'timestamp'] as const)
      store.#markLoaded(role, files.texts[role]);
    store.#trustedRoot = copy(root);
    store.#previousRoot = files.history.find((e) => e.version === root.signed.version - 1)?.md;
    await store.#loadDelegated(dir);
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
    const r = roleKeys(this.root, role);
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

  threshold(role: RoleName | string): number {
    if (!isRoleName(role)) {
      const d = this.delegationOf(role);
      if (!d) throw new MetadataError({ code: 'UNKNOWN_ROLE', message: `no delegated role ${role}` });
      return d.entry.threshold;
    }
    return roleKeys(this.root, role).threshold;
  }

  /** Target paths in targets metadata (with delegations: of every targets role). */
  targetPaths(): string[] {
    if (this.#delegated.size) return this.listTargets().map((t) => t.path);
    return Object.keys(this.targets.signed.targets);
  }

  getTarget(path: string): TargetFile | undefined {
    if (Object.hasOwn(this.targets.signed.targets, path)) return this.targets.signed.targets[path];
    const holder = this.#delegated.size ? this.holderOf(path) : undefined;
    return holder ? this.targetsRole(holder).signed.targets[path] : undefined;
  }

  // ---- delegated targets roles ------------------------------------------------------------------

  /** The delegated roles in the tree's pre-order (how TUF clients visit them): `[]` without delegations. */
  delegatedRoleNames(): string[] {
    const out: string[] = [];
    const seen = new Set<string>();
    const walk = (md: Metadata<Targets>) => {
      for (const entry of delegatedEntries(md)) {
        const child = this.#delegated.get(entry.name);
        if (seen.has(entry.name) || !child) continue;
        seen.add(entry.name);
        out.push(entry.name);
        walk(child);
      }
    };
    walk(this.targets);
    return out;
  }

  /** `targets` or a delegated role's metadata; UNKNOWN_ROLE for any other name. */
  targetsRole(name: string): Metadata<Targets> {
    if (name === 'targets') return this.targets;
    const md = this.#delegated.get(name);
    if (!md) throw new MetadataError({ code: 'UNKNOWN_ROLE', message: `no delegated role ${name}` });
    return md;
  }

  /** Who delegates `name` and its entry there (keys, threshold, paths); undefined for a top-level role. */
  delegationOf(name: string): { parent: string; entry: DelegatedRole } | undefined {
    for (const parent of ['targets', ...this.delegatedRoleNames()]) {
      const entry = this.targetsRole(parent).signed.delegations?.roles?.[name];
      if (entry) return { parent, entry };
    }
    return undefined;
  }

  /** Every target with the targets role that lists it (top-level first, then the delegated roles in pre-order). */
  listTargets(): Array<{ path: string; target: TargetFile; role: string }> {
    const out: Array<{ path: string; target: TargetFile; role: string }> = [];
    for (const role of ['targets', ...this.delegatedRoleNames()]) {
      for (const [path, target] of Object.entries(this.targetsRole(role).signed.targets)) {
        out.push({ path, target, role });
      }
    }
    return out;
  }

  /** The targets role that lists `path` now (undefined when none does). */
  holderOf(path: string): string | undefined {
    for (const role of ['targets', ...this.delegatedRoleNames()]) {
      if (Object.hasOwn(this.targetsRole(role).signed.targets, path)) return role;
    }
    return undefined;
  }

  /**
   * The ONE targets role that signs `path`: the one listing it already; else the first delegation (in TUF's
   * pre-order) whose paths match it, descending while a delegation of that role matches too (a head, never its
   * history: new releases go to the head); the top-level targets when no delegation matches.
   */
  roleForTarget(path: string): string {
    return this.holderOf(path) ?? this.#routeNew(path);
  }

  #routeNew(path: string): string {
    let role = 'targets';
    for (let depth = 0; depth < 32; depth++) {
      const next = delegatedEntries(this.targetsRole(role)).find(
        (e) => !isHistoryRoleName(e.name) && this.#delegated.has(e.name) && e.isDelegatedPath(path),
      );
      if (!next) break;
      role = next.name;
    }
    return role;
  }

  /** Valid signatures on a role (top-level or delegated) by the keys that may sign it, and its threshold. */
  signatureCount(role: string): SignatureCount {
    if (isRoleName(role)) return countSignatures(this.root.signed, role, this.#roles[role]);
    const d = this.delegationOf(role);
    if (!d) throw new MetadataError({ code: 'UNKNOWN_ROLE', message: `no delegated role ${role}` });
    const delegations = this.targetsRole(d.parent).signed.delegations;
    return countRoleSignatures(delegations ?? { keys: {} }, role, this.targetsRole(role));
  }

  /** Version, expiry and signature count of each delegated role, in pre-order. */
  delegatedStatus(): Array<{
    role: string;
    version: number;
    expires: string;
    changed: boolean;
    signatures: SignatureCount;
  }> {
    return this.delegatedRoleNames().map((role) => {
      const md = this.targetsRole(role);
      return {
        role,
        version: md.signed.version,
        expires: md.signed.expires,
        changed: this.#disk.isChanged(role, md),
        signatures: this.signatureCount(role),
      };
    });
  }

  /**
   * Delegates targets matching `paths` to a new role `name` signed by `keys` (threshold of them), from `parent`
   * (default the top-level targets). Targets already listed that match its paths move into it. With
   * `historyAfter: k` the role gets a history role `<name>.history` (same keys and paths, listed right after it):
   * once the role holds 2k releases, the oldest k move there, so what a client downloads per release stays small.
   */
  addDelegation(opts: {
    name: string;
    keys: readonly PublicKey[];
    threshold?: number;
    paths: readonly string[];
    terminating?: boolean;
    parent?: string;
    historyAfter?: number;
    now?: Date;
  }): void {
    const name = assertDelegatedRoleName(opts.name);
    const parent = opts.parent ?? 'targets';
    const parentMd = this.targetsRole(parent);
    const history = historyRoleName(name);
    for (const n of [name, history]) {
      if (this.#delegated.has(n) || this.delegationOf(n)) {
        throw new MetadataError({ code: 'ROLE_EXISTS', message: `role ${n} is delegated already` });
      }
    }
    const paths = assertPathPatterns(opts.paths);
    const keyids = [...new Set(opts.keys.map((k) => k.keyid))];
    const threshold = opts.threshold ?? 1;
    if (!Number.isSafeInteger(threshold) || threshold < 1 || threshold > keyids.length) {
      throw new MetadataError({
        code: 'INVALID_THRESHOLD',
        message: `${name} threshold must be from 1 to its ${keyids.length} key(s), got ${threshold}`,
      });
    }
    const k = opts.historyAfter === undefined ? undefined : assertHistoryAfter(opts.historyAfter);
    const current = parentMd.signed.delegations;
    const keys = { ...(current?.keys ?? {}) };
    for (const key of opts.keys) {
      const existing = keys[key.keyid];
      if (existing && existing.keyVal.public !== key.publicHex) {
        throw new MetadataError({
          code: 'KEY_MISMATCH',
          message: `a different key is listed as ${key.keyid}`,
        });
      }
      keys[key.keyid] = key.toTufKey();
    }
    const common = { keyids, threshold, paths, terminating: opts.terminating ?? false };
    const entries = [
      ...delegatedEntries(parentMd),
      delegatedRoleJson({ name, ...common, ...(k !== undefined ? { historyAfter: k } : {}) }),
      ...(k !== undefined ? [delegatedRoleJson({ name: history, ...common })] : []),
    ];
    const expires = expiresIn(this.#expirationDays.targets, opts.now ?? new Date());
    this.#replaceTargetsRole(
      parent,
      rebuild(parentMd, { delegations: makeDelegations(keys, entries, current?.unrecognizedFields) ?? null }),
    );
    this.#delegated.set(name, createTargets({ expires }));
    if (k !== undefined) this.#delegated.set(history, createTargets({ expires }));
    for (const n of [name, history]) this.#removedDelegated.delete(n);
    // What the new role's paths cover now belongs to it (the one role that signs a target).
    for (const { path, target, role } of this.listTargets()) {
      if (role === name || role === history) continue;
      const to = this.#routeNew(path);
      if (to !== name) continue;
      this.#dropTarget(role, path);
      this.#putTarget(name, path, target);
    }
  }

  /**
   * Stops delegating `name` (and its history role, and whatever it delegates in turn); their targets go back to
   * the role that matches them now (usually the top-level targets). UNKNOWN_ROLE if `name` is not delegated.
   */
  removeDelegation(name: string): string[] {
    const d = this.delegationOf(name);
    if (!d || isHistoryRoleName(name)) {
      throw new MetadataError({ code: 'UNKNOWN_ROLE', message: `no delegated role ${name}` });
    }
    const doomed = [name];
    if (this.#delegated.has(historyRoleName(name))) doomed.push(historyRoleName(name));
    for (let i = 0; i < doomed.length; i++) {
      for (const e of delegatedEntries(this.targetsRole(doomed[i] as string)))
        if (!doomed.includes(e.name)) doomed.push(e.name);
    }
    const orphans: Array<[string, TargetFile]> = [];
    for (const n of doomed) orphans.push(...Object.entries(this.targetsRole(n).signed.targets));
    const parentMd = this.targetsRole(d.parent);
    const current = parentMd.signed.delegations;
    const entries = delegatedEntries(parentMd).filter((e) => !doomed.includes(e.name));
    this.#replaceTargetsRole(
      d.parent,
      rebuild(parentMd, {
        delegations: makeDelegations(current?.keys ?? {}, entries, current?.unrecognizedFields) ?? null,
      }),
    );
    for (const n of doomed) {
      this.#delegated.delete(n);
      this.#removedDelegated.add(n);
    }
    for (const [path, target] of orphans) this.#putTarget(this.#routeNew(path), path, target);
    return doomed;
  }

  /** Roles whose content differs from what was loaded (all of them for a new store). */
  changedRoles(): RoleName[] {
    return ROLE_NAMES.filter((role) => this.#isChanged(role));
  }

  /** keyids whose signatures count for `role`: its keys, plus for a new root the keys of the root it replaces. */
  signingKeyIds(role: RoleName | string): string[] {
    if (!isRoleName(role)) {
      const d = this.delegationOf(role);
      if (!d) throw new MetadataError({ code: 'UNKNOWN_ROLE', message: `no delegated role ${role}` });
      return [...new Set(d.entry.keyIDs)];
    }
    const ids = new Set(roleKeys(this.root, role).keyIDs);
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

  /** Lets `key` sign for `role` (no-op if it already does). KEY_MISMATCH for another key under its keyid. */
  addKey(role: RoleName, key: PublicKey): void {
    this.#replace('root', withKey(this.root, role, key));
  }

  /** Stops `keyid` signing for `role`; it leaves root's `keys` once no role uses it. UNKNOWN_KEY if not listed. */
  removeKey(role: RoleName, keyid: string): void {
    this.#replace('root', withoutKey(this.root, role, keyid));
  }

  /** Replaces `oldKeyid` by `newKey` in every role that lists it; returns those roles. UNKNOWN_KEY if none. */
  replaceKey(oldKeyid: string, newKey: PublicKey): RoleName[] {
    const roles = ROLE_NAMES.filter((role) => roleKeys(this.root, role).keyIDs.includes(oldKeyid));
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
    this.#replace('root', withThreshold(this.root, role, threshold));
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
    this.#putTarget(this.roleForTarget(path), path, target);
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
    const holder = this.holderOf(path);
    if (!holder) {
      throw new MetadataError({ code: 'TARGET_NOT_FOUND', message: `no target ${path}` });
    }
    this.#dropTarget(holder, path);
  }

  // ---- publishing -------------------------------------------------------------------------------

  /**
   * Gives every changed (or forced) role its next version and a fresh expiry, clears its signatures, and
   * cascades: root changed → targets bumped; targets → snapshot lists its version; snapshot → timestamp.
   * A role is bumped at most once per save: its version becomes the loaded version + 1. Returns the
   * bumped roles in publishing order; each needs signing.
   */
  bump(opts: BumpOptions = {}): RoleName[] {
    return this.bumpAll(opts).filter(isRoleName);
  }

  /**
   * bump() for a repository with delegations: returns the bumped roles in publishing order, delegated ones
   * (after `targets`, before `snapshot`) included. First moves the oldest releases of each full head role to its
   * history role; snapshot then lists every delegated role's version.
   */
  bumpAll(opts: BumpOptions = {}): string[] {
    const now = opts.now ?? new Date();
    const days = { ...this.#expirationDays, ...(opts.expirationDays ?? {}) };
    const forced = new Set<string>(opts.force ?? []);
    for (const role of forced) if (!this.#delegated.has(role)) assertRoleName(role);
    this.#moveToHistory();
    const delegated = this.delegatedRoleNames();
    const order = ['root', 'targets', ...delegated, 'snapshot', 'timestamp'];
    const bumped: string[] = [];
    for (const role of order) {
      // The cascade: each role names the version of the one before it in this order.
      if (role === 'snapshot') this.#updateSnapshotMeta(bumped, delegated);
      if (role === 'timestamp' && bumped.includes('snapshot')) {
        const version = this.snapshot.signed.version;
        if (this.timestamp.signed.snapshotMeta.version !== version) {
          this.#replace('timestamp', rebuild(this.timestamp, { snapshotMeta: new MetaFile({ version }) }));
        }
      }
      // New root keys must be able to sign targets, and clients only re-fetch what snapshot says changed.
      if (role === 'targets' && bumped.includes('root')) forced.add('targets');
      if (!forced.has(role) && !this.#isChanged(role)) continue;
      const loaded = this.#disk.get(role);
      const md = this.#roleMd(role);
      const version =
        loaded === undefined ? md.signed.version : Math.max(md.signed.version, loaded.version + 1);
      const expiresChanged = loaded === undefined || md.signed.expires !== loaded.expires;
      const delegatedDays = (days as Record<string, number | undefined>)[role] ?? days.targets;
      const expires = expiresChanged
        ? md.signed.expires
        : expiresIn(isRoleName(role) ? days[role] : delegatedDays, now);
      // Bumping twice before a save must not throw away signatures made in between.
      if (version !== md.signed.version || expires !== md.signed.expires) {
        this.#replaceAny(role, rebuild(md, { version, expires }));
      }
      bumped.push(role);
    }
    return bumped;
  }

  /** Snapshot lists targets.json and every delegated role at their current versions (version only). */
  #updateSnapshotMeta(bumped: readonly string[], delegated: readonly string[]): void {
    const current = this.snapshot.signed.meta;
    if (delegated.length === 0 && this.#removedDelegated.size === 0) {
      // A repository without delegations: exactly what python tufup writes.
      if (!bumped.includes('targets')) return;
      const version = this.targets.signed.version;
      if (current['targets.json']?.version !== version) {
        const meta = { ...current, 'targets.json': new MetaFile({ version }) };
        this.#replace('snapshot', rebuild(this.snapshot, { meta }));
      }
      return;
    }
    const meta: Record<string, MetaFile> = {};
    for (const [name, m] of Object.entries(current)) {
      const role = name.slice(0, -'.json'.length);
      if (!this.#removedDelegated.has(role)) meta[name] = m;
    }
    for (const role of ['targets', ...delegated]) {
      const version = this.targetsRole(role).signed.version;
      if (meta[`${role}.json`]?.version !== version) meta[`${role}.json`] = new MetaFile({ version });
    }
    const same =
      Object.keys(meta).length === Object.keys(current).length &&
      Object.entries(meta).every(([n, m]) => current[n] === m);
    if (!same) this.#replace('snapshot', rebuild(this.snapshot, { meta }));
  }

  /**
   * Each head role with a history role (`historyAfter` k) that holds 2k releases or more keeps its newest k;
   * the older ones move to its history role (same keys, so the same signer signs both).
   */
  #moveToHistory(): void {
    for (const role of ['targets', ...this.delegatedRoleNames()]) {
      for (const entry of delegatedEntries(this.targetsRole(role))) {
        const k = historyAfter(entry);
        const history = historyRoleName(entry.name);
        if (k === undefined || !this.#delegated.has(entry.name) || !this.#delegated.has(history)) continue;
        const head = this.targetsRole(entry.name);
        const releases = new Map<string, { version: string; paths: string[] }>();
        for (const path of Object.keys(head.signed.targets)) {
          const parsed = tryParseTargetName(path);
          if (!parsed) continue;
          const key = `${parsed.name}\0${parsed.version}`;
          const r = releases.get(key) ?? { version: parsed.version, paths: [] };
          r.paths.push(path);
          releases.set(key, r);
        }
        if (releases.size < 2 * k) continue;
        const oldest = [...releases.values()]
          .sort((a, b) => compareVersions(a.version, b.version))
          .slice(0, releases.size - k);
        for (const r of oldest) {
          for (const path of r.paths) {
            const target = head.signed.targets[path] as TargetFile;
            this.#dropTarget(entry.name, path);
            this.#putTarget(history, path, target);
          }
        }
      }
    }
  }

  /**
   * Adds signatures to `role` by `signers`, keeping the valid signatures already there (a second party
   * adds to the first) and dropping ones that no longer verify. KEY_NOT_AUTHORIZED for a signer whose
   * key does not count for the role (see signingKeyIds).
   */
  sign(role: RoleName | string, signers: readonly Signer[]): void {
    const allowed = new Set(this.signingKeyIds(role));
    for (const s of signers) {
      if (!allowed.has(s.keyid)) {
        throw new MetadataError({
          code: 'KEY_NOT_AUTHORIZED',
          message: `key ${s.keyid} may not sign ${role}`,
        });
      }
    }
    const md = this.#roleMd(role);
    addSignatures(md, signers);
    const delegation = isRoleName(role) ? undefined : this.delegationOf(role);
    const keys = delegation
      ? { ...(this.targetsRole(delegation.parent).signed.delegations?.keys ?? {}) }
      : { ...(this.#rotationBase()?.signed.keys ?? {}), ...this.root.signed.keys };
    for (const keyid of Object.keys(md.signatures)) {
      const key = keys[keyid];
      if (key && !hasValidSignature(md, key)) delete md.signatures[keyid];
    }
  }

  // ---- verifying --------------------------------------------------------------------------------

  /**
   * Every problem a client (or a careful operator) would have, as a list: the root chain from `1.root.json` (each
   * root signed by a threshold of its own keys and of the root before it), the other roles against root, snapshot
   * and timestamp naming the current versions, nothing expired as of `now`, root.json agreeing with the latest
   * `N.root.json`; with `targetsDir`, every target file against targets metadata too.
   */
  async problems(opts: VerifyFilesOptions = {}): Promise<VerifyResult> {
    const f = new Findings();
    checkThresholds(f, this.root.signed);
    const version = this.root.signed.version;
    checkRootChain(f, [...this.#disk.history.filter((e) => e.version < version), { version, md: this.root }]);
    this.#checkRoles(f, opts);
    const loadedRoot = this.#disk.get('root');
    if (
      loadedRoot?.text !== undefined &&
      this.#disk.rootJsonText !== undefined &&
      this.#disk.rootJsonText !== loadedRoot.text &&
      this.#disk.sameAsRecorded('root', this.root)
    ) {
      f.problem('ROOT_MISMATCH', `root.json differs from ${version}.root.json`, 'metadata/root.json');
    }
    if (this.root.signed.consistentSnapshot) await this.#checkVersionedFiles(f);
    if (opts.targetsDir !== undefined) {
      // With delegations the target files are those of every targets role.
      const all = this.#delegated.size
        ? createTargets({
            expires: this.targets.signed.expires,
            targets: Object.fromEntries(this.listTargets().map((t) => [t.path, t.target])),
          })
        : this.targets;
      await checkTargetFiles(f, all, opts.targetsDir, {
        consistentSnapshot: this.root.signed.consistentSnapshot,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    }
    return f.result();
  }

  /** Throws the first of `problems(opts)` as a coded MetadataError. */
  async verify(opts: VerifyFilesOptions = {}): Promise<void> {
    const [first] = (await this.problems(opts)).problems;
    if (first) throw new MetadataError({ code: first.code, message: first.message });
  }

  // ---- writing ----------------------------------------------------------------------------------

  /**
   * Writes the roles whose file content changed, all or nothing: staged, then committed by one journal write, then
   * moved in place in a safe order (see Publication): `N.root.json`, `root.json`, targets, snapshot, timestamp (with
   * consistent snapshots also `N.targets.json`, `N.snapshot.json`). Refuses what `stage` refuses. Returns the paths
   * written.
   */
  async save(opts: SaveOptions = {}): Promise<string[]> {
    const repoDir = dirname(this.dir);
    const publication = await Publication.begin(repoDir, 'save');
    let files: string[];
    try {
      files = await this.stage(publication, { ...opts, metadataDir: basename(this.dir) });
      await publication.commit();
    } catch (err) {
      await publication.discard();
      throw err;
    }
    this.#markSaved();
    return files.map((file) => join(repoDir, ...file.split('/')));
  }

  /**
   * Stages the roles whose file content changed into `publication` (the caller commits or parks it). Refuses
   * metadata that does not verify (below-threshold signatures only with `allowBelowThreshold`), changed content
   * whose version was not bumped, and a created store over an existing repository. Returns the files staged.
   */
  async stage(publication: Publication, opts: StageOptions = {}): Promise<string[]> {
    for (const role of ROLE_NAMES) {
      const loaded = this.#disk.get(role);
      if (loaded && this.#isChanged(role) && this.#roles[role].signed.version <= loaded.version) {
        throw new MetadataError({
          code: 'BAD_VERSION',
          message: `${role} changed but is still version ${loaded.version}: call bump() before save()`,
        });
      }
    }
    // Delegated roles whose signed part is as on disk (most: a release changes one), told once for the writes below.
    const unchangedDelegated = new Set<string>();
    for (const role of this.delegatedRoleNames()) {
      const loaded = this.#disk.get(role);
      if (loaded && !this.#isChanged(role)) unchangedDelegated.add(role);
      else if (loaded && this.targetsRole(role).signed.version <= loaded.version) {
        throw new MetadataError({
          code: 'BAD_VERSION',
          message: `${role} changed but is still version ${loaded.version}: call bumpAll() before save()`,
        });
      }
    }
    const f = new Findings();
    checkThresholds(f, this.root.signed);
    const base = this.#rotationBase();
    const rootFile = `metadata/${this.root.signed.version}.root.json`;
    if (base && base.signed.version !== this.root.signed.version) checkRotation(f, base, this.root, rootFile);
    else checkSignatures(f, this.root.signed, 'root', this.root, rootFile);
    this.#checkRoles(f, opts);
    if (opts.allowBelowThreshold)
      f.problems.splice(0, Infinity, ...f.problems.filter((p) => p.code !== 'THRESHOLD_NOT_MET'));
    f.throwFirst();
    if (!this.#disk.get('root')) {
      // A store from create() must not silently replace a repository whose clients trust another root.
      const clash = (await readdirOrEmpty(this.dir)).find(
        (n) => n === 'root.json' || rootFileVersion(n) !== undefined,
      );
      if (clash) {
        throw new MetadataError({
          code: 'METADATA_EXISTS',
          message: `${join(this.dir, clash)} exists: load() the repository instead of creating it`,
        });
      }
    }
    const area = opts.metadataDir ?? 'metadata';
    const staged: string[] = [];
    const write = async (name: string, text: string) => {
      await publication.writeFile(`${area}/${name}`, text);
      staged.push(`${area}/${name}`);
    };
    const consistent = this.root.signed.consistentSnapshot;
    for (const role of ROLE_NAMES) {
      const md = this.#roles[role];
      const text = serializeMetadata(md);
      if (role === 'root') {
        if (this.#disk.get('root')?.text !== text) await write(`${md.signed.version}.root.json`, text);
        if (this.#disk.rootJsonText !== text) await write('root.json', text);
      } else if (this.#disk.get(role)?.text !== text) {
        for (const name of metadataFileNames(role, md.signed.version, consistent)) await write(name, text);
      }
      if (role === 'targets') {
        // Delegated roles go in before the snapshot that names them.
        for (const name of this.delegatedRoleNames()) {
          const dmd = this.targetsRole(name);
          if (this.#disk.isRecorded(name, dmd)) continue;
          // Unchanged roles are not serialized again (their signatures may have changed: co-signing).
          if (
            this.#disk.get(name)?.text !== undefined &&
            unchangedDelegated.has(name) &&
            this.#disk.sameEnvelope(name, dmd)
          )
            continue;
          const dtext = serializeMetadata(dmd);
          if (this.#disk.get(name)?.text === dtext) continue;
          for (const file of metadataFileNames(name, dmd.signed.version, consistent))
            await write(file, dtext);
        }
        for (const name of this.#removedDelegated) {
          if (!this.#delegated.has(name) && this.#disk.get(name)) publication.delete(`${area}/${name}.json`);
        }
      }
    }
    return staged;
  }

  // ---- internals --------------------------------------------------------------------------------

  /** With consistent snapshots clients read `N.targets.json` and `N.snapshot.json`: each there, equal to the plain file. */
  async #checkVersionedFiles(f: Findings): Promise<void> {
    for (const role of ['targets', 'snapshot'] as const) {
      const loaded = this.#disk.get(role);
      if (loaded?.text === undefined || this.#isChanged(role)) continue; // only what is on disk
      const [name] = metadataFileNames(role, loaded.version, true) as [string];
      const text = await readFileOrUndefined(join(this.dir, name), 'utf8');
      if (text === undefined) {
        f.problem(
          'FILE_NOT_FOUND',
          `${name} is missing: with consistent snapshots clients read it, not ${role}.json`,
          `metadata/${name}`,
        );
      } else if (text !== loaded.text) {
        f.problem('METADATA_CORRUPT', `${name} differs from ${role}.json`, `metadata/${name}`);
      }
    }
  }

  /** Root's expiry, then targets, snapshot and timestamp against root, then what snapshot and timestamp name. */
  #checkRoles(f: Findings, opts: VerifyOptions): void {
    f.checked.roles++;
    checkExpiry(f, 'root', this.root, 'metadata/root.json', opts);
    for (const role of ['targets', 'snapshot', 'timestamp'] as const) {
      checkRole(f, this.root.signed, role, this.#roles[role], opts);
    }
    checkLinks(f, this.#roles, {
      targets: this.#disk.textOf('targets', this.targets),
      snapshot: this.#disk.textOf('snapshot', this.snapshot),
    });
    this.#checkDelegated(f, opts);
  }

  /**
   * Each delegated role as a client checks it: signed by a threshold of the keys its delegating role lists for it,
   * not expired, at the version snapshot names; and every target it lists inside its delegation's paths (and its
   * ancestors'), since a client resolving that name never reaches it otherwise.
   */
  #checkDelegated(f: Findings, opts: VerifyOptions): void {
    for (const name of this.delegatedRoleNames()) {
      const file = `metadata/${name}.json`;
      const md = this.targetsRole(name);
      f.checked.roles++;
      if (md.signed.type !== 'targets') {
        f.problem(
          'INVALID_METADATA',
          `expected targets metadata in ${name}.json, got ${md.signed.type}`,
          file,
        );
        continue;
      }
      const d = this.delegationOf(name);
      if (!d) continue;
      const delegations = this.targetsRole(d.parent).signed.delegations ?? { keys: {} };
      if (d.entry.threshold > d.entry.keyIDs.length) {
        f.problem(
          'INVALID_THRESHOLD',
          `${name} threshold ${d.entry.threshold} exceeds its ${d.entry.keyIDs.length} key(s)`,
          `metadata/${d.parent}.json`,
        );
      }
      checkSignatures(f, delegations, name, md, file);
      checkExpiry(f, name, md, file, opts);
      const listed = this.snapshot.signed.meta[`${name}.json`];
      if (listed?.version !== md.signed.version) {
        f.problem(
          'BAD_VERSION',
          listed
            ? `snapshot lists ${name}.json v${listed.version}, ${name} is v${md.signed.version}`
            : `snapshot does not list ${name}.json`,
          'metadata/snapshot.json',
        );
      }
      const chain: Array<(path: string) => boolean> = [];
      for (let at: string | undefined = name, i = 0; at && at !== 'targets' && i < 32; i++) {
        const up = this.delegationOf(at);
        if (!up) break;
        chain.push(delegationMatcher(up.entry));
        at = up.parent;
      }
      for (const path of Object.keys(md.signed.targets)) {
        if (!chain.every((matches) => matches(path))) {
          f.problem(
            'TARGET_OUTSIDE_PATHS',
            `${name} lists ${path}, outside the paths delegated to it (${d.entry.paths?.join(', ') ?? 'hash prefixes'})`,
            file,
          );
        }
      }
    }
  }

  /** Reads the delegated roles the loaded targets delegate to, recursively (FILE_NOT_FOUND for a missing one). */
  async #loadDelegated(dir: string): Promise<void> {
    const walk = async (md: Metadata<Targets>, depth: number): Promise<void> => {
      for (const entry of delegatedEntries(md)) {
        if (this.#delegated.has(entry.name)) continue;
        if (depth > 32 || this.#delegated.size >= 10_000) {
          throw new MetadataError({
            code: 'INVALID_METADATA',
            message: 'delegation tree too deep or too large',
          });
        }
        const name = assertDelegatedRoleName(entry.name, 'any');
        const text = await readMetadataText(join(dir, `${name}.json`));
        const child = parseMetadata('targets', text);
        this.#delegated.set(name, child);
        this.#disk.record(name, child, text);
        await walk(child, depth + 1);
      }
    };
    await walk(this.targets, 0);
  }

  #roleMd(role: string): AnyRoleMetadata {
    return isRoleName(role) ? this.#roles[role] : this.targetsRole(role);
  }

  #replaceAny(role: string, md: AnyRoleMetadata): void {
    if (isRoleName(role)) this.#replace(role, md);
    else this.#delegated.set(role, md as Metadata<Targets>);
  }

  #replaceTargetsRole(role: string, md: Metadata<Targets>): void {
    this.#replaceAny(role, md);
  }

  #putTarget(role: string, path: string, target: TargetFile): void {
    const md = this.targetsRole(role);
    this.#replaceTargetsRole(role, rebuild(md, { targets: { ...md.signed.targets, [path]: target } }));
  }

  #dropTarget(role: string, path: string): void {
    const md = this.targetsRole(role);
    const targets = { ...md.signed.targets };
    delete targets[path];
    this.#replaceTargetsRole(role, rebuild(md, { targets }));
  }

  /** After a commit: what was written is what is on disk now. */
  #markSaved(): void {
    const rootText = serializeMetadata(this.root);
    this.#disk.rootJsonText = rootText;
    const onDisk = this.#disk.get('root');
    if (onDisk && this.root.signed.version > onDisk.version) {
      this.#previousRoot = this.#trustedRoot;
    }
    this.#trustedRoot = copy(this.root);
    const version = this.root.signed.version;
    this.#disk.history = [
      ...this.#disk.history.filter((e) => e.version < version),
      { version, text: rootText, md: copy(this.root) },
    ];
    for (const role of ROLE_NAMES) this.#markLoaded(role, serializeMetadata(this.#roles[role]));
    for (const [name, md] of this.#delegated) {
      if (this.#disk.isRecorded(name, md)) continue;
      const text = serializeMetadata(md);
      this.#disk.record(name, md, text);
    }
    for (const name of this.#removedDelegated) if (!this.#delegated.has(name)) this.#disk.forget(name);
    this.#removedDelegated.clear();
  }

  /** The root a new root must also be signed by: the loaded root once root was bumped, else `(N-1).root.json`. */
  #rotationBase(): Metadata<Root> | undefined {
    const trusted = this.#trustedRoot;
    if (trusted && this.root.signed.version > trusted.signed.version) return trusted;
    return this.#previousRoot;
  }

  #setRoot(changes: Parameters<typeof rebuild>[1]): void {
    this.#replace('root', rebuild(this.root, changes));
  }

  #replace(role: RoleName, md: AnyRoleMetadata): void {
    (this.#roles as Record<RoleName, AnyRoleMetadata>)[role] = md;
  }

  #isChanged(role: RoleName | string): boolean {
    return this.#disk.isChanged(role, this.#roleMd(role));
  }

  #markLoaded(role: RoleName, text: string): void {
    this.#disk.record(role, this.#roles[role], text);
  }
}

/**
 * Verifies a repository's metadata dir (with `targetsDir`, its target files too): `tufup verify` runs this. Metadata
 * that does not even load is one problem (the loader's code), listed after what the root chain on disk shows.
 */
export async function verifyRepository(
  metadataDir: string,
  opts: VerifyFilesOptions & LoadMetadataOptions = {},
): Promise<VerifyResult> {
  let store: MetadataStore;
  try {
    store = await MetadataStore.load(metadataDir, opts);
  } catch (err) {
    if (!(err instanceof MetadataError)) throw err;
    const f = new Findings();
    checkRootChain(f, await readRootFiles(metadataDir));
    f.problem(err.code, err.message);
    return f.result();
  }
  return store.problems(opts);
}

function copy(md: Metadata<Root>): Metadata<Root> {
  return parseMetadata('root', JSON.parse(JSON.stringify(md.toJSON())) as unknown);
}

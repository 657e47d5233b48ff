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
import { checkTargetPath } from './target-names.js';

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

  threshold(role: RoleName): number {
    return roleKeys(this.root, role).threshold;
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
      const loaded = this.#disk.get(role);
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
      serializeMetadata(this.root) === loadedRoot.serialized
    ) {
      f.problem('ROOT_MISMATCH', `root.json differs from ${version}.root.json`, 'metadata/root.json');
    }
    if (this.root.signed.consistentSnapshot) await this.#checkVersionedFiles(f);
    if (opts.targetsDir !== undefined) {
      await checkTargetFiles(f, this.targets, opts.targetsDir, {
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

  #isChanged(role: RoleName): boolean {
    return this.#disk.isChanged(role, this.#roles[role]);
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

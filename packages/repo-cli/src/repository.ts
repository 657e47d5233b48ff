// The Repository: a tufup (TUF) repository on disk, and every change to it as one locked, all-or-nothing step.
// This class is the public facade; each concern lives in its own module under ./repository/.
import type { RoleName } from '@tufup/metadata';
import type { RepoConfig } from './config.js';
import type { AppReleases, DelegationEntry, StatusReport, TargetEntry, VerifyReport } from './reports.js';
import { status, verify } from './repository/inspect.js';
import { addKey, createKeyPair, deleteKeyPair, replaceKey } from './repository/keys.js';
import { initializeRepository, openRepository } from './repository/open.js';
import { addBundle, listApps, prune, removeLatest } from './repository/releases.js';
import { addDelegation, listDelegations, removeDelegation } from './repository/delegations.js';
import { sign } from './repository/signing.js';
import type { RepoState } from './repository/state.js';
import type {
  AddBundleOptions,
  AddDelegationOptions,
  RemoveDelegationOptions,
  AddKeyOptions,
  InitOptions,
  PruneOptions,
  PublishResult,
  RemoveLatestOptions,
  ReplaceKeyOptions,
  RepositoryContext,
  RoleVersion,
  SignOptions,
} from './repository/types.js';

export class Repository {
  readonly #state: RepoState;

  private constructor(state: RepoState) {
    this.#state = state;
  }

  get configPath(): string {
    return this.#state.configPath;
  }
  /** The repository's settings (`.tufup-repo-config`); key changes update it. */
  get config(): RepoConfig {
    return this.#state.config;
  }
  get repoDir(): string {
    return this.#state.repoDir;
  }
  get metadataDir(): string {
    return this.#state.metadataDir;
  }
  get targetsDir(): string {
    return this.#state.targetsDir;
  }

  // ---- opening and creating -------------------------------------------------------------------------

  /** Open the repository a config file describes. Completes a change a killed process committed but left. */
  static async open(configPath: string, ctx: RepositoryContext = {}): Promise<Repository> {
    return new Repository(await openRepository(configPath, ctx));
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
    const { state, ...result } = await initializeRepository(configPath, opts, ctx);
    return { repo: new Repository(state), ...result };
  }

  // ---- releases -------------------------------------------------------------------------------------

  /** Releases per app (all apps, or one). */
  async listApps(appName?: string): Promise<AppReleases[]> {
    return listApps(this.#state, appName);
  }

  /** Archive a bundle as a new release, with a patch from the app's previous release, and publish it. */
  async addBundle(
    opts: AddBundleOptions,
  ): Promise<PublishResult & { archive: TargetEntry; patch?: TargetEntry }> {
    return addBundle(this.#state, opts);
  }

  /** Withdraw the app's latest release (archive and its patch). */
  async removeLatest(
    opts: RemoveLatestOptions,
  ): Promise<PublishResult & { removed: string[]; version: string }> {
    return removeLatest(this.#state, opts);
  }

  /** Delete all but the newest `keep` versions of the app (each kept version keeps its archive and patch). */
  async prune(opts: PruneOptions): Promise<PublishResult & { removed: string[] }> {
    return prune(this.#state, opts);
  }

  // ---- delegated signing ----------------------------------------------------------------------------

  /** Let a targets role of its own (keys, threshold) sign the releases matching `paths`. */
  async addDelegation(
    opts: AddDelegationOptions,
  ): Promise<PublishResult & { role: string; keyids: string[]; created: string[] }> {
    return addDelegation(this.#state, opts);
  }

  /** Stop delegating a role; its releases go back to the top-level targets (or the role matching them now). */
  async removeDelegation(opts: RemoveDelegationOptions): Promise<PublishResult & { removed: string[] }> {
    return removeDelegation(this.#state, opts);
  }

  /** The delegated roles, in the order clients visit them. */
  async listDelegations(): Promise<DelegationEntry[]> {
    return listDelegations(this.#state);
  }

  // ---- keys and signing -----------------------------------------------------------------------------

  /** Create key pair `name` in keys_dir (encrypted with a passphrase from the environment or a prompt). */
  async createKeyPair(
    name: string,
    opts: { encrypted?: boolean } = {},
  ): Promise<{ privatePath: string; publicPath: string; keyid: string }> {
    return createKeyPair(this.#state, name, opts);
  }

  /** Remove a key pair this process just created (when the step that was to use it failed). */
  async deleteKeyPair(name: string): Promise<void> {
    return deleteKeyPair(this.#state, name);
  }

  /** Let key `keyName` sign for `role` (python: `keys <name> add <role>`). */
  async addKey(opts: AddKeyOptions): Promise<PublishResult> {
    return addKey(this.#state, opts);
  }

  /** Replace a key in every role that uses it; the new root is signed by the old and the new keys. */
  async replaceKey(
    opts: ReplaceKeyOptions,
  ): Promise<PublishResult & { roles: RoleName[]; removedFromRoot: boolean }> {
    return replaceKey(this.#state, opts);
  }

  /** Re-sign a role with a new expiry (`expirationDays`), or add signatures to it (multi-party signing). */
  async sign(opts: SignOptions): Promise<PublishResult & { added?: number; expires?: string }> {
    return sign(this.#state, opts);
  }

  // ---- inspecting -----------------------------------------------------------------------------------

  /** Each role's version, expiry and signatures, the releases, a pending co-signing, and warnings. */
  async status(): Promise<StatusReport> {
    return status(this.#state);
  }

  /** Everything a client would check, and more; problems make `ok` false. Never changes the repository. */
  async verify(opts: { deep?: boolean } = {}): Promise<VerifyReport> {
    return verify(this.#state, opts);
  }
}

// The public shapes of the Repository API: what its callers pass in and get back.
import type { Logger, OnProgress } from '@tufup/common';
import type { RoleName } from '@tufup/metadata';
import type { PatchFormat } from '@tufup/patch';
import type { PerRole } from '../config.js';
import type { PassphraseSource } from '../passphrase.js';

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
  /** A top-level role, or a delegated targets role's name. */
  role: RoleName | string;
  version: number;
}

export interface UnsignedRole {
  role: RoleName | string;
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

export interface RemoveLatestOptions {
  keyDirs: string[];
  appName?: string;
  partial?: boolean;
}

export interface PruneOptions extends RemoveLatestOptions {
  /** How many of the newest versions stay. */
  keep: number;
}

export interface AddKeyOptions {
  role: RoleName;
  keyName: string;
  keyDirs: string[];
  /** Record the key as encrypted in the config. */
  encrypted?: boolean;
  partial?: boolean;
}

export interface ReplaceKeyOptions {
  oldKeyName: string;
  newKeyName: string;
  keyDirs: string[];
  encrypted?: boolean;
  partial?: boolean;
}

export interface AddDelegationOptions {
  /** The delegated role's name (a safe file name; `<role>.json` in the metadata dir). */
  role: string;
  /** Target name patterns the role may sign (file-name globs, e.g. `my_app-win-x64-*`). */
  paths: string[];
  /** Names of the role's keys (found as `<name>.pub` in keys_dir or `keyDir`, or beside the private key in the key dirs). */
  keyNames: string[];
  threshold?: number;
  /** Create the key pairs first (in `keyDir`, default keys_dir). */
  createKeys?: boolean;
  encrypted?: boolean;
  /** Where the role's keys are (or are created): a keystore apart from the repository's. */
  keyDir?: string;
  /** Give the role a history role: once it holds 2k releases, the oldest k move there. */
  historyAfter?: number;
  terminating?: boolean;
  /** Key dirs with the top-level targets key (and snapshot and timestamp keys). */
  keyDirs: string[];
}

export interface RemoveDelegationOptions {
  role: string;
  keyDirs: string[];
}

export interface SignOptions {
  /** A top-level role, or (with `expirationDays`) a delegated targets role. */
  role: RoleName | string;
  keyDirs: string[];
  /** Refresh the expiry (N days, or the config's), bump and cascade. Without: add signatures only. */
  expirationDays?: number | 'default';
  partial?: boolean;
}

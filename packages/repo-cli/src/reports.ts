// The shapes of what `targets list`, `status` and `verify` report (also their --json output).
import type { RoleName } from '@tufup/metadata';

export interface TargetEntry {
  filename: string;
  app: string;
  version: string;
  kind: 'archive' | 'patch';
  length: number;
  sha256: string;
  /** Archives: a required release. */
  required?: boolean;
  /** Archives: the user part of custom metadata (null when none). */
  user?: unknown;
  /** Patches: size and sha256 of the uncompressed tar the patch produces. */
  tarSize?: number;
  tarHash?: string;
  /** The delegated targets role that signs it (absent: the top-level targets). */
  role?: string;
}

export interface ReleaseEntry {
  version: string;
  prerelease: boolean;
  required: boolean;
  archive?: TargetEntry;
  patch?: TargetEntry;
}

export interface AppReleases {
  app: string;
  releases: ReleaseEntry[];
  latest?: string;
  /**
   * Versions (after the first) without a patch from the version before them: clients older than such a
   * version download its full archive.
   */
  patchChainBreaks: string[];
}

export interface RoleKeyStatus {
  keyid: string;
  /** The key's name in the config's key_map, when known. */
  name?: string;
  signed: boolean;
}

export interface RoleStatus {
  role: RoleName;
  version: number;
  expires: string;
  /** Days from now until expiry (negative: expired). */
  expiresInDays: number;
  expired: boolean;
  /** Expires within its own refresh period (config expiration_days), i.e. it is time to re-sign. */
  expiringSoon: boolean;
  threshold: number;
  validSignatures: number;
  keys: RoleKeyStatus[];
}

export interface PendingStatus {
  summary: string;
  command: string;
  created: string;
  unsignedRoles: Array<{ role: RoleName | string; have: number; need: number }>;
}

export interface StatusReport {
  configPath: string;
  repoDir: string;
  appName: string;
  patchFormat: string;
  consistentSnapshot: boolean;
  roles: Record<RoleName, RoleStatus>;
  /** Delegated targets roles, in the order clients visit them (absent without delegations). */
  delegatedRoles?: Array<Omit<RoleStatus, 'role'> & { role: string; delegatedBy: string }>;
  apps: AppReleases[];
  pending?: PendingStatus;
  warnings: string[];
}

export interface VerifyProblem {
  /** A stable code, e.g. BAD_SIGNATURE, THRESHOLD_NOT_MET, EXPIRED_METADATA, TARGET_HASH_MISMATCH. */
  code: string;
  message: string;
  file?: string;
}

export interface VerifyReport {
  ok: boolean;
  problems: VerifyProblem[];
  warnings: VerifyProblem[];
  checked: {
    rootVersions: number;
    roles: number;
    targets: number;
    bytes: number;
    patchesReplayed: number;
  };
}

// ---- the --json documents of the commands that change the repository ------------------------------

/** Every --json document of a command that changes the repository carries these. */
export interface CommandReport {
  ok: true;
  /** The command, e.g. `targets add`. */
  command: string;
  /** Metadata files written: each role with its new version (empty when the change waits for co-signers). */
  published: Array<{ role: RoleName | string; version: number }>;
  /** Set when the change was staged for co-signing instead of published. */
  parked?: { unsignedRoles: Array<{ role: RoleName | string; have: number; need: number }> };
  /** Warnings logged on the way (also on stderr). */
  warnings: string[];
}

export interface InitReport extends CommandReport {
  configPath: string;
  repoDir: string;
  keysDir: string;
  appName: string;
  patchFormat: string;
  /** Key pairs written (`<keysDir>/<name>` and `<name>.pub`). */
  createdKeys: string[];
  /** Key pairs that were in keysDir already and were used as they are. */
  reusedKeys: string[];
}

export interface TargetsAddReport extends CommandReport {
  app: string;
  version: string;
  /** The archive written to the targets dir: name, length, sha256, required, user metadata. */
  archive: TargetEntry;
  /** The patch from the previous release, when one was made: name, length, sha256, size and sha256 of its tar. */
  patch?: TargetEntry;
}

export interface RemoveLatestReport extends CommandReport {
  app: string;
  /** The version withdrawn. */
  version: string;
  /** Target files removed (archive and patch). */
  removed: string[];
}

/** One delegated targets role, as `delegate list` shows it. */
export interface DelegationEntry {
  role: string;
  /** The role that delegates it (`targets`: the top-level targets). */
  delegatedBy: string;
  paths: string[];
  keyids: string[];
  threshold: number;
  terminating: boolean;
  /** A `<role>.history` role: the older releases of its head role. */
  history: boolean;
  /** A head role's k: when it holds 2k releases, the oldest k move to its history role. */
  historyAfter?: number;
  version: number;
  expires: string;
  /** How many targets it lists. */
  targets: number;
}

export interface DelegateAddReport extends CommandReport {
  role: string;
  paths: string[];
  keyids: string[];
  createdKeys: string[];
}

export interface DelegateRemoveReport extends CommandReport {
  removed: string[];
}

export interface PruneReport extends CommandReport {
  app: string;
  keep: number;
  removed: string[];
}

export interface KeysReport extends CommandReport {
  key: string;
  /** `-c`: the key pair written. */
  created?: { keyid: string; privatePath: string; publicPath: string; encrypted: boolean };
  /** `add ROLE`: the role the key now signs for. */
  addedTo?: RoleName;
  /** `replace OLD`: the key replaced, the roles it was replaced in, and whether it left root's keys. */
  replaced?: { oldKey: string; roles: RoleName[]; removedFromRoot: boolean };
}

export interface SignReport extends CommandReport {
  role: RoleName | string;
  /** Without -e: signatures added. */
  added?: number;
  /** With -e: the role's new expiry. */
  expires?: string;
}

/** The --json document of any command that failed (stdout; the one-line error is on stderr as always). */
export interface CommandError {
  ok: false;
  command?: string;
  error: { code: string; message: string; exit: number };
  warnings: string[];
}

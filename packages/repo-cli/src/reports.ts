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
  unsignedRoles: Array<{ role: RoleName; have: number; need: number }>;
}

export interface StatusReport {
  configPath: string;
  repoDir: string;
  appName: string;
  patchFormat: string;
  consistentSnapshot: boolean;
  roles: Record<RoleName, RoleStatus>;
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

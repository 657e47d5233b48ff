// The options and results of MetadataStore's operations.
import type { PublicKey } from './keys.js';
import type { RoleName } from './roles.js';
import type { SignatureCount } from './signatures.js';

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
  force?: readonly (RoleName | string)[];
  /**
   * Days until each bumped role expires; falls back to the store's expirationDays. A delegated role may be named
   * too; one that is not falls back to the days of `targets`.
   */
  expirationDays?: Partial<Record<RoleName, number>> & Record<string, number | undefined>;
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

export interface StageOptions extends SaveOptions {
  /** Stage even what is expired (a caller that sets expiry itself). */
  ignoreExpiry?: boolean;
  /**
   * The name the metadata files get in the publication (`<metadataDir>/<file>`, below its repository dir); default
   * `metadata`, the repository layout.
   */
  metadataDir?: string;
}

// TUF role metadata on @tufjs/models: creating, rebuilding, signing, verifying and python-tuf style files.
import {
  type Key,
  Metadata,
  type MetadataKind,
  MetaFile,
  Root,
  Snapshot,
  type TargetFile,
  Targets,
  Timestamp,
} from '@tufjs/models';
import { MetadataError } from './errors.js';
import type { PublicKey } from './keys.js';
import { useLinearModels } from './models-linear.js';
import { pythonJsonDumps } from './python-json.js';

// Every path to @tufjs/models' Targets and Snapshot conversions in this package goes through this module.
useLinearModels();

/** The top-level roles, in the order a repository publishes them (each one's file names the next). */
export const ROLE_NAMES = ['root', 'targets', 'snapshot', 'timestamp'] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

/** python tufup's defaults (days); a repository config usually overrides them. */
export const DEFAULT_EXPIRATION_DAYS: Readonly<Record<RoleName, number>> = {
  root: 365,
  targets: 7,
  snapshot: 7,
  timestamp: 1,
};

/** The TUF spec version python-tuf 4.0 (and @tufjs/models) write. */
export const SPEC_VERSION = '1.0.31';

export interface RoleTypes {
  root: Root;
  targets: Targets;
  snapshot: Snapshot;
  timestamp: Timestamp;
}
/** Metadata of role R (distributes over a union of roles). */
export type RoleMetadata<R extends RoleName = RoleName> = R extends RoleName ? Metadata<RoleTypes[R]> : never;
export type AnyRoleMetadata = Metadata<Root> | Metadata<Targets> | Metadata<Snapshot> | Metadata<Timestamp>;

export function isRoleName(value: unknown): value is RoleName {
  return typeof value === 'string' && (ROLE_NAMES as readonly string[]).includes(value);
}

/** `value` as a role name, or UNKNOWN_ROLE naming the roles there are. */
export function assertRoleName(value: unknown): RoleName {
  if (!isRoleName(value)) {
    throw new MetadataError({
      code: 'UNKNOWN_ROLE',
      message: `unknown role ${JSON.stringify(value)} (expected one of ${ROLE_NAMES.join(', ')})`,
    });
  }
  return value;
}

// ---- expiry -------------------------------------------------------------------------------------

const EXPIRES = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;

/** `YYYY-MM-DDTHH:MM:SSZ` in UTC, milliseconds dropped (python-tuf rejects them). */
export function formatExpires(date: Date): string {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
    throw new MetadataError({
      code: 'INVALID_EXPIRES',
      message:
        'expiry is not a valid date: TUF dates must fall in the years 0000-9999 (fewer expiration days?)',
    });
  }
  const iso = new Date(Math.floor(date.getTime() / 1000) * 1000).toISOString();
  if (!iso.endsWith('.000Z') || iso.length !== 24) {
    throw new MetadataError({
      code: 'INVALID_EXPIRES',
      message: `expiry ${iso} is out of range: TUF dates must fall in the years 0000-9999 (fewer expiration days?)`,
    });
  }
  return `${iso.slice(0, 19)}Z`;
}

/** Parses `YYYY-MM-DDTHH:MM:SSZ` strictly (no milliseconds, no offsets, a real calendar date). */
export function parseExpires(expires: string): Date {
  const m = typeof expires === 'string' ? EXPIRES.exec(expires) : null;
  const date = m ? new Date(expires) : undefined;
  if (!m || !date || Number.isNaN(date.getTime()) || formatExpires(date) !== expires) {
    throw new MetadataError({
      code: 'INVALID_EXPIRES',
      message: `expiry must be YYYY-MM-DDTHH:MM:SSZ, got ${JSON.stringify(expires)}`,
    });
  }
  return date;
}

/** `now + days`, formatted (python tufup's `in_(days)`). */
export function expiresIn(days: number, now: Date = new Date()): string {
  if (typeof days !== 'number' || !Number.isFinite(days) || days <= 0) {
    throw new MetadataError({
      code: 'INVALID_EXPIRES',
      message: `expiration days must be positive, got ${days}`,
    });
  }
  return formatExpires(new Date(now.getTime() + days * 86_400_000));
}

// ---- serialization ------------------------------------------------------------------------------

/**
 * The file content python-tuf writes: `json.dumps(indent=1, sort_keys=True)`, non-ASCII as `\uXXXX`,
 * no trailing newline. Reading such a file and writing it back gives the same bytes.
 */
export function serializeMetadata(md: AnyRoleMetadata): string {
  return pythonJsonDumps(md.toJSON(), { indent: 1, sortKeys: true });
}

/** Parses metadata of `role` from file text (or parsed JSON); INVALID_METADATA / INVALID_EXPIRES on bad input. */
export function parseMetadata<R extends RoleName>(role: R, input: string | unknown): RoleMetadata<R> {
  assertRoleName(role);
  let json: unknown = input;
  if (typeof input === 'string') {
    try {
      json = JSON.parse(input);
    } catch (err) {
      throw new MetadataError({
        code: 'INVALID_METADATA',
        message: `${role} metadata is not JSON`,
        cause: err,
      });
    }
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new MetadataError({ code: 'INVALID_METADATA', message: `${role} metadata is not a JSON object` });
  }
  let md: AnyRoleMetadata;
  try {
    md = Metadata.fromJSON(role as MetadataKind.Root, json as Parameters<typeof Metadata.fromJSON>[1]);
  } catch (err) {
    throw new MetadataError({
      code: 'INVALID_METADATA',
      message: `invalid ${role} metadata: ${(err as Error).message}`,
      cause: err,
    });
  }
  checkSigned(md, role);
  return md as RoleMetadata<R>;
}

function checkSigned(md: AnyRoleMetadata, role: RoleName): void {
  const s = md.signed;
  if (!Number.isSafeInteger(s.version) || s.version < 1) {
    throw new MetadataError({
      code: 'INVALID_METADATA',
      message: `${role} version must be a positive integer`,
    });
  }
  parseExpires(s.expires);
  if (s instanceof Root) {
    for (const [name, r] of Object.entries(s.roles)) {
      if (!Number.isSafeInteger(r.threshold) || r.threshold < 1) {
        throw new MetadataError({
          code: 'INVALID_METADATA',
          message: `root: ${name} threshold must be >= 1`,
        });
      }
    }
  }
}

// ---- creating and rebuilding --------------------------------------------------------------------

export interface CommonFields {
  version?: number;
  /** `YYYY-MM-DDTHH:MM:SSZ` (see formatExpires / expiresIn). */
  expires: string;
}

/** Root v1 (by default) listing `keys` for each role, with thresholds (default 1) and consistent_snapshot false. */
export function createRoot(
  opts: CommonFields & {
    keys: Partial<Record<RoleName, readonly PublicKey[]>>;
    thresholds?: Partial<Record<RoleName, number>>;
    consistentSnapshot?: boolean;
  },
): Metadata<Root> {
  const keys: Record<string, Key> = {};
  const roles: Record<string, RoleKeys> = {};
  for (const role of ROLE_NAMES) {
    const roleKeys = opts.keys[role] ?? [];
    for (const k of roleKeys) keys[k.keyid] = k.toTufKey();
    roles[role] = {
      keyIDs: [...new Set(roleKeys.map((k) => k.keyid))],
      threshold: checkThreshold(role, opts.thresholds?.[role] ?? 1),
    };
  }
  return new Metadata(
    buildRoot({
      version: checkVersion(opts.version ?? 1),
      specVersion: SPEC_VERSION,
      expires: checkExpires(opts.expires),
      keys,
      roles,
      consistentSnapshot: opts.consistentSnapshot ?? false,
      unrecognizedFields: {},
    }),
  );
}

export function createTargets(
  opts: CommonFields & { targets?: Record<string, TargetFile> },
): Metadata<Targets> {
  return new Metadata(
    new Targets({
      version: checkVersion(opts.version ?? 1),
      specVersion: SPEC_VERSION,
      expires: checkExpires(opts.expires),
      targets: { ...(opts.targets ?? {}) },
    }),
  );
}

/** Snapshot listing targets.json at `targetsVersion` (version only, as python tufup writes it). */
export function createSnapshot(opts: CommonFields & { targetsVersion?: number }): Metadata<Snapshot> {
  return new Metadata(
    new Snapshot({
      version: checkVersion(opts.version ?? 1),
      specVersion: SPEC_VERSION,
      expires: checkExpires(opts.expires),
      meta: { 'targets.json': new MetaFile({ version: checkVersion(opts.targetsVersion ?? 1) }) },
    }),
  );
}

/** Timestamp pointing at snapshot.json `snapshotVersion` (version only). */
export function createTimestamp(opts: CommonFields & { snapshotVersion?: number }): Metadata<Timestamp> {
  return new Metadata(
    new Timestamp({
      version: checkVersion(opts.version ?? 1),
      specVersion: SPEC_VERSION,
      expires: checkExpires(opts.expires),
      snapshotMeta: new MetaFile({ version: checkVersion(opts.snapshotVersion ?? 1) }),
    }),
  );
}

/** A role's entry in root: which keys sign it and how many must (a @tufjs/models Role fits). */
export interface RoleKeys {
  keyIDs: readonly string[];
  threshold: number;
}

/**
 * A Root from parts. @tufjs/models does not export its Role class, so roles go through Root.fromJSON;
 * this also gives each Root its own Role objects (Root.addKey mutates them in place).
 */
function buildRoot(parts: {
  version: number;
  specVersion: string;
  expires: string;
  keys: Record<string, Key>;
  roles: Record<string, RoleKeys>;
  consistentSnapshot: boolean;
  unrecognizedFields: Record<string, unknown>;
}): Root {
  const json = {
    ...parts.unrecognizedFields,
    _type: 'root',
    spec_version: parts.specVersion,
    version: parts.version,
    expires: parts.expires,
    keys: Object.fromEntries(Object.entries(parts.keys).map(([id, k]) => [id, k.toJSON()])),
    roles: Object.fromEntries(
      Object.entries(parts.roles).map(([name, r]) => [
        name,
        { keyids: [...r.keyIDs], threshold: r.threshold },
      ]),
    ),
    consistent_snapshot: parts.consistentSnapshot,
  };
  try {
    return Root.fromJSON(JSON.parse(JSON.stringify(json)) as Parameters<typeof Root.fromJSON>[0]);
  } catch (err) {
    throw new MetadataError({
      code: 'INVALID_METADATA',
      message: `invalid root: ${(err as Error).message}`,
      cause: err,
    });
  }
}

/** What may change when rebuilding a role's `signed` (the models' fields are read-only). */
export interface SignedChanges {
  version?: number;
  expires?: string;
  /** root */
  keys?: Record<string, Key>;
  roles?: Record<string, RoleKeys>;
  consistentSnapshot?: boolean;
  /** targets */
  targets?: Record<string, TargetFile>;
  /** targets: the new delegations, or null to delegate nothing */
  delegations?: Targets['delegations'] | null;
  /** snapshot */
  meta?: Record<string, MetaFile>;
  /** timestamp */
  snapshotMeta?: MetaFile;
}

/**
 * A copy of `md` with a rebuilt `signed`. Signatures are kept only with `keepSignatures` (they stop
 * verifying once the content changes; callers re-sign). Unknown fields are carried over.
 */
export function rebuild<M extends AnyRoleMetadata>(md: M, changes: SignedChanges, keepSignatures = false): M {
  const s = md.signed;
  const common = {
    version: checkVersion(changes.version ?? s.version),
    specVersion: s.specVersion,
    expires: checkExpires(changes.expires ?? s.expires),
    unrecognizedFields: { ...s.unrecognizedFields },
  };
  let signed: Root | Targets | Snapshot | Timestamp;
  if (s instanceof Root) {
    signed = buildRoot({
      ...common,
      keys: changes.keys ?? s.keys,
      roles: changes.roles ?? s.roles,
      consistentSnapshot: changes.consistentSnapshot ?? s.consistentSnapshot,
    });
  } else if (s instanceof Targets) {
    signed = new Targets({
      ...common,
      targets: { ...(changes.targets ?? s.targets) },
      ...(changes.delegations !== undefined
        ? changes.delegations
          ? { delegations: changes.delegations }
          : {}
        : s.delegations
          ? { delegations: s.delegations }
          : {}),
    });
  } else if (s instanceof Snapshot) {
    signed = new Snapshot({ ...common, meta: { ...(changes.meta ?? s.meta) } });
  } else {
    signed = new Timestamp({ ...common, snapshotMeta: changes.snapshotMeta ?? s.snapshotMeta });
  }
  const signatures = keepSignatures ? { ...md.signatures } : {};
  return new Metadata(signed as never, signatures, { ...md.unrecognizedFields }) as unknown as M;
}

function checkVersion(version: number): number {
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new MetadataError({
      code: 'INVALID_METADATA',
      message: `version must be a positive integer, got ${version}`,
    });
  }
  return version;
}

function checkExpires(expires: string): string {
  parseExpires(expires);
  return expires;
}

export function checkThreshold(role: string, threshold: number): number {
  if (!Number.isSafeInteger(threshold) || threshold < 1) {
    throw new MetadataError({
      code: 'INVALID_THRESHOLD',
      message: `${role} threshold must be a positive integer, got ${threshold}`,
    });
  }
  return threshold;
}

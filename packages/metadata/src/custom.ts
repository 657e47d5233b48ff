// Custom target metadata as python tufup writes it: archives `{user, tufup: {required}}`, patches `{user: null, tufup: {tar_size, tar_hash, tar_hash_algorithm}}`,
// plus the fleet fields inside `tufup` (platform, channel, rollout_percent, yanked, yank_reason), all optional for readers.
import type { TargetFile } from '@tufjs/models';
import { MetadataError } from './errors.js';
import { pythonJsonDumps } from './python-json.js';
import { assertPlatform } from './target-names.js';

/** The channel of an archive without `custom.tufup.channel`; every client sees it. */
export const DEFAULT_CHANNEL = 'stable';
const CHANNEL_NAME = /^[a-z][a-z0-9-]{0,31}$/;

/** Whether `name` is a release channel name (`stable`, `beta`, `canary-eu`...). */
export function isValidChannelName(name: unknown): name is string {
  return typeof name === 'string' && CHANNEL_NAME.test(name);
}

/** `name`, or INVALID_CHANNEL. */
export function assertChannelName(name: unknown): string {
  if (isValidChannelName(name)) return name;
  throw new MetadataError({
    code: 'INVALID_CHANNEL',
    message: `not a channel name (lowercase letters, digits and hyphens, starting with a letter, at most 32): ${JSON.stringify(name)}`,
  });
}

/** `percent`, or INVALID_ROLLOUT unless it is an integer from 0 to 100. */
export function assertRolloutPercent(percent: unknown): number {
  if (typeof percent === 'number' && Number.isSafeInteger(percent) && percent >= 0 && percent <= 100)
    return percent;
  throw new MetadataError({
    code: 'INVALID_ROLLOUT',
    message: `a rollout percentage is an integer from 0 to 100, got ${JSON.stringify(percent)}`,
  });
}

export interface ArchiveCustom {
  /** The app developer's own metadata (any JSON, e.g. `{changes: [...]}`), null when none. */
  user: unknown;
  /** A required release: clients stop at it instead of skipping past it. */
  required: boolean;
  /** `custom.tufup.platform`: the `os-arch` this archive is built for; undefined for a platform-less release. */
  platform?: string;
  /** `custom.tufup.channel` (default `stable`). */
  channel: string;
  /** `custom.tufup.rollout_percent` (default 100): the share of installs offered this release. */
  rolloutPercent: number;
  /** `custom.tufup.yanked` (default false): no client installs it any more. */
  yanked: boolean;
  /** `custom.tufup.yank_reason`, when given. */
  yankReason?: string;
  /** The whole `custom` object as stored, unknown fields included. */
  raw: Record<string, unknown>;
}

export interface PatchCustom {
  /** Size of the uncompressed tar this patch produces. */
  tarSize: number;
  /** sha256 (hex) of the uncompressed tar this patch produces. */
  tarHash: string;
  /** `custom.tufup.platform` of a platform build's patch. */
  platform?: string;
  raw: Record<string, unknown>;
}

/** The fleet fields of an archive a writer may set; `null` removes an optional one. */
export interface ArchiveFleetFields {
  platform?: string;
  /** `stable` is stored as the field's absence. */
  channel?: string;
  /** 100 is stored as the field's absence. */
  rolloutPercent?: number;
  /** false is stored as the field's absence (and drops the reason). */
  yanked?: boolean;
  yankReason?: string | null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(message: string): MetadataError {
  return new MetadataError({ code: 'INVALID_CUSTOM_METADATA', message });
}

/**
 * The tufup-internal part of `custom`. Since tufup 0.7 it is `custom.tufup`; older metadata kept the
 * fields at the top level, and tufup still reads those, so we do too.
 */
function internalPart(custom: Record<string, unknown>): Record<string, unknown> {
  const tufup = custom.tufup;
  if (tufup === undefined) return custom;
  if (!isRecord(tufup)) throw invalid('custom.tufup must be an object');
  return tufup;
}

/**
 * `custom` for an archive target. `base` (usually `readArchiveCustom(...).raw`) keeps fields we don't
 * know about, at the top level and inside `tufup`, so a re-publish does not lose them.
 */
export function makeArchiveCustom(
  opts: { required?: boolean; user?: unknown; base?: Record<string, unknown> } & ArchiveFleetFields = {},
): Record<string, unknown> {
  const base = opts.base ?? {};
  const baseTufup = isRecord(base.tufup) ? base.tufup : {};
  const user = 'user' in opts ? opts.user : 'user' in base ? base.user : null;
  const required = opts.required ?? (typeof baseTufup.required === 'boolean' ? baseTufup.required : false);
  assertJson(user, 'user');
  const tufup: Record<string, unknown> = { ...baseTufup, required };
  // Defaults are stored as absent fields, so a repository that uses none of them stays byte-identical.
  if (opts.platform !== undefined) tufup.platform = assertPlatform(opts.platform);
  if (opts.channel !== undefined) {
    if (assertChannelName(opts.channel) === DEFAULT_CHANNEL) delete tufup.channel;
    else tufup.channel = opts.channel;
  }
  if (opts.rolloutPercent !== undefined) {
    if (assertRolloutPercent(opts.rolloutPercent) === 100) delete tufup.rollout_percent;
    else tufup.rollout_percent = opts.rolloutPercent;
  }
  if (opts.yanked === true) tufup.yanked = true;
  if (opts.yanked === false) {
    delete tufup.yanked;
    delete tufup.yank_reason;
  }
  if (opts.yankReason === null) delete tufup.yank_reason;
  else if (opts.yankReason !== undefined) {
    if (typeof opts.yankReason !== 'string') throw invalid('yank_reason must be a string');
    tufup.yank_reason = opts.yankReason;
  }
  return { ...base, user: user === undefined ? null : user, tufup };
}

/** The fleet fields, read only from `custom.tufup` (pre-0.7 top-level custom is the user's, not ours). */
function readFleetFields(custom: Record<string, unknown>): Omit<ArchiveCustom, 'user' | 'required' | 'raw'> {
  const tufup = isRecord(custom.tufup) ? custom.tufup : {};
  const wrap = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      throw invalid(`custom.tufup: ${(err as Error).message}`);
    }
  };
  const out: Omit<ArchiveCustom, 'user' | 'required' | 'raw'> = {
    channel: DEFAULT_CHANNEL,
    rolloutPercent: 100,
    yanked: false,
  };
  if (tufup.platform !== undefined) out.platform = wrap(() => assertPlatform(tufup.platform));
  if (tufup.channel !== undefined) out.channel = wrap(() => assertChannelName(tufup.channel));
  if (tufup.rollout_percent !== undefined)
    out.rolloutPercent = wrap(() => assertRolloutPercent(tufup.rollout_percent));
  if (tufup.yanked !== undefined) {
    if (typeof tufup.yanked !== 'boolean') throw invalid('custom.tufup.yanked must be a boolean');
    out.yanked = tufup.yanked;
  }
  if (tufup.yank_reason !== undefined) {
    if (typeof tufup.yank_reason !== 'string') throw invalid('custom.tufup.yank_reason must be a string');
    out.yankReason = tufup.yank_reason;
  }
  return out;
}

/** Reads archive `custom`; missing or null custom means `{user: null, required: false}`. */
export function readArchiveCustom(custom: unknown): ArchiveCustom {
  const defaults = { channel: DEFAULT_CHANNEL, rolloutPercent: 100, yanked: false };
  if (custom === undefined || custom === null) return { user: null, required: false, ...defaults, raw: {} };
  if (!isRecord(custom)) throw invalid('custom must be an object');
  // @tufjs/models' TargetFile.custom gives {} for a target without custom metadata.
  if (Object.keys(custom).length === 0) return { user: null, required: false, ...defaults, raw: custom };
  const internal = internalPart(custom);
  const required = internal.required ?? false;
  if (typeof required !== 'boolean') throw invalid('custom.tufup.required must be a boolean');
  // Pre-0.7 metadata had no user/tufup split: the whole object is the user's.
  const user = custom.tufup === undefined ? custom : (custom.user ?? null);
  return { user, required, ...readFleetFields(custom), raw: custom };
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** `custom` for a patch target: the size and sha256 of the uncompressed tar the patch produces. */
export function makePatchCustom(opts: {
  tarSize: number;
  tarHash: string;
  /** A platform build's patch carries its platform (signed). */
  platform?: string;
  base?: Record<string, unknown>;
}): Record<string, unknown> {
  checkTarFields(opts.tarSize, opts.tarHash, 'sha256');
  const base = opts.base ?? {};
  const baseTufup = isRecord(base.tufup) ? base.tufup : {};
  return {
    ...base,
    user: 'user' in base ? base.user : null,
    tufup: {
      ...baseTufup,
      tar_size: opts.tarSize,
      tar_hash: opts.tarHash,
      tar_hash_algorithm: 'sha256',
      ...(opts.platform !== undefined ? { platform: assertPlatform(opts.platform) } : {}),
    },
  };
}

/** Reads patch `custom`; throws INVALID_CUSTOM_METADATA when the size or hash is missing or malformed. */
export function readPatchCustom(custom: unknown): PatchCustom {
  if (!isRecord(custom)) throw invalid('patch target has no custom metadata object');
  const internal = internalPart(custom);
  const algorithm = internal.tar_hash_algorithm ?? 'sha256';
  checkTarFields(internal.tar_size, internal.tar_hash, algorithm);
  const tufup = isRecord(custom.tufup) ? custom.tufup : {};
  let platform: string | undefined;
  if (tufup.platform !== undefined) {
    try {
      platform = assertPlatform(tufup.platform);
    } catch (err) {
      throw invalid(`custom.tufup: ${(err as Error).message}`);
    }
  }
  return {
    tarSize: internal.tar_size as number,
    tarHash: internal.tar_hash as string,
    ...(platform !== undefined ? { platform } : {}),
    raw: custom,
  };
}

function checkTarFields(tarSize: unknown, tarHash: unknown, algorithm: unknown): void {
  if (typeof tarSize !== 'number' || !Number.isSafeInteger(tarSize) || tarSize < 0) {
    throw invalid(`tar_size must be a non-negative integer, got ${JSON.stringify(tarSize)}`);
  }
  if (algorithm !== 'sha256') {
    throw invalid(`tar_hash_algorithm ${JSON.stringify(algorithm)} is not supported (only sha256)`);
  }
  if (typeof tarHash !== 'string' || !SHA256_HEX.test(tarHash)) {
    throw invalid(`tar_hash must be 64 lowercase hex digits, got ${JSON.stringify(tarHash)}`);
  }
}

/** Custom metadata ends up in canonical JSON: only JSON values, and integers only (no floats). */
function assertJson(value: unknown, where: string, depth = 0): void {
  if (depth > 64) throw invalid(`${where} is nested too deeply`);
  if (value === null || value === undefined || typeof value === 'string' || typeof value === 'boolean')
    return;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw invalid(`${where} holds ${value}: canonical JSON allows only integers (no floats)`);
    }
    return;
  }
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) assertJson(v, `${where}[${i}]`, depth + 1);
    return;
  }
  if (isRecord(value) && Object.getPrototypeOf(value) === Object.prototype) {
    for (const [k, v] of Object.entries(value)) assertJson(v, `${where}.${k}`, depth + 1);
    return;
  }
  throw invalid(`${where} is not a JSON value`);
}

type JsonObject = NonNullable<ConstructorParameters<typeof TargetFile>[0]['unrecognizedFields']>;

/** A detached copy of custom metadata that canonical JSON can hold (integers only, no undefined). */
export function toJsonObject(value: Record<string, unknown>): JsonObject {
  // pythonJsonDumps rejects floats and other non-JSON values with a coded error.
  pythonJsonDumps(value);
  return JSON.parse(JSON.stringify(value)) as JsonObject;
}

// Custom target metadata as python tufup writes it: archives `{user, tufup: {required}}`, patches `{user: null, tufup: {tar_size, tar_hash, tar_hash_algorithm}}`.
import type { TargetFile } from '@tufjs/models';
import { MetadataError } from './errors.js';
import { pythonJsonDumps } from './python-json.js';

export interface ArchiveCustom {
  /** The app developer's own metadata (any JSON, e.g. `{changes: [...]}`), null when none. */
  user: unknown;
  /** A required release: clients stop at it instead of skipping past it. */
  required: boolean;
  /** The whole `custom` object as stored, unknown fields included. */
  raw: Record<string, unknown>;
}

export interface PatchCustom {
  /** Size of the uncompressed tar this patch produces. */
  tarSize: number;
  /** sha256 (hex) of the uncompressed tar this patch produces. */
  tarHash: string;
  raw: Record<string, unknown>;
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
  opts: { required?: boolean; user?: unknown; base?: Record<string, unknown> } = {},
): Record<string, unknown> {
  const base = opts.base ?? {};
  const baseTufup = isRecord(base.tufup) ? base.tufup : {};
  const user = 'user' in opts ? opts.user : 'user' in base ? base.user : null;
  const required = opts.required ?? (typeof baseTufup.required === 'boolean' ? baseTufup.required : false);
  assertJson(user, 'user');
  return { ...base, user: user === undefined ? null : user, tufup: { ...baseTufup, required } };
}

/** Reads archive `custom`; missing or null custom means `{user: null, required: false}`. */
export function readArchiveCustom(custom: unknown): ArchiveCustom {
  if (custom === undefined || custom === null) return { user: null, required: false, raw: {} };
  if (!isRecord(custom)) throw invalid('custom must be an object');
  // @tufjs/models' TargetFile.custom gives {} for a target without custom metadata.
  if (Object.keys(custom).length === 0) return { user: null, required: false, raw: custom };
  const internal = internalPart(custom);
  const required = internal.required ?? false;
  if (typeof required !== 'boolean') throw invalid('custom.tufup.required must be a boolean');
  // Pre-0.7 metadata had no user/tufup split: the whole object is the user's.
  const user = custom.tufup === undefined ? custom : (custom.user ?? null);
  return { user, required, raw: custom };
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** `custom` for a patch target: the size and sha256 of the uncompressed tar the patch produces. */
export function makePatchCustom(opts: {
  tarSize: number;
  tarHash: string;
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
    },
  };
}

/** Reads patch `custom`; throws INVALID_CUSTOM_METADATA when the size or hash is missing or malformed. */
export function readPatchCustom(custom: unknown): PatchCustom {
  if (!isRecord(custom)) throw invalid('patch target has no custom metadata object');
  const internal = internalPart(custom);
  const algorithm = internal.tar_hash_algorithm ?? 'sha256';
  checkTarFields(internal.tar_size, internal.tar_hash, algorithm);
  return { tarSize: internal.tar_size as number, tarHash: internal.tar_hash as string, raw: custom };
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

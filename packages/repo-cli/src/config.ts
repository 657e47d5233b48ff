// `.tufup-repo-config`: python tufup's repository settings file, read and written so both tools share it.
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { readFile } from 'node:fs/promises';
import { isNotFound, writeFileAtomic } from '@tufup/common';
import { DEFAULT_EXPIRATION_DAYS, type RoleName, isRoleName } from '@tufup/metadata';
import type { PatchFormat } from '@tufup/patch';
import { RepoError } from './errors.js';

export const CONFIG_FILENAME = '.tufup-repo-config';

export type PerRole<T> = Record<RoleName, T>;

/** The patch formats a repository can publish (the values of @tufup/patch's PatchFormat). */
export const PATCH_FORMATS: readonly PatchFormat[] = ['native', 'bsdiff4'];

export const DEFAULT_REPO_DIR = 'repository';
export const DEFAULT_KEYS_DIR = 'keystore';
export const DEFAULT_THRESHOLDS: PerRole<number> = { root: 1, targets: 1, snapshot: 1, timestamp: 1 };

export function defaultKeyMap(): PerRole<string[]> {
  return { root: ['root'], targets: ['targets'], snapshot: ['snapshot'], timestamp: ['timestamp'] };
}

/** The settings of one repository. Paths are absolute here; the file stores them relative to itself. */
export interface RepoConfig {
  appName: string;
  /** python tufup only (reads the version from a module attribute); kept as is. */
  appVersionAttr: string | null;
  repoDir: string;
  keysDir: string;
  keyMap: PerRole<string[]>;
  encryptedKeys: string[];
  expirationDays: PerRole<number>;
  thresholds: PerRole<number>;
  /** python tufup's pluggable diff class (a python name); kept as is. */
  binaryDiff: string | null;
  /**
   * The format of new patches. Not a python tufup key: a file without it was made by python tufup, whose
   * clients only apply BSDIFF40, so its absence means 'bsdiff4'.
   */
  patchFormat: PatchFormat;
  /** Keys we don't know, kept when the file is rewritten. */
  extra: Record<string, unknown>;
}

const PYTHON_KEYS = new Set([
  'app_name',
  'app_version_attr',
  'repo_dir',
  'keys_dir',
  'key_map',
  'encrypted_keys',
  'expiration_days',
  'thresholds',
  'binary_diff',
]);
const OUR_KEYS = new Set(['patch_format']);

const KEY_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** Key names become file names (`<name>`, `<name>.pub`): keep them to a safe alphabet. */
export function assertKeyName(name: string): string {
  if (!KEY_NAME.test(name) || name.endsWith('.pub') || name.length > 100) {
    throw new RepoError({
      code: 'INVALID_ARGUMENT',
      message: `invalid key name "${name}" (letters, digits, "_", "-", "." only; not ending in .pub)`,
    });
  }
  return name;
}

const APP_NAME = /^[A-Za-z0-9_-]+$/;

/** App names become the first part of target file names (`<name>-<version>.tar.gz`), as python tufup allows. */
export function assertAppName(name: string): string {
  if (!APP_NAME.test(name)) {
    throw new RepoError({
      code: 'INVALID_ARGUMENT',
      message: `invalid app name "${name}" (letters, digits, "_" and "-" only)`,
    });
  }
  return name;
}

/** A fresh config with python tufup's defaults (and our native patches). */
export function makeConfig(
  configDir: string,
  init: Partial<Omit<RepoConfig, 'extra'>> & { appName: string },
): RepoConfig {
  return {
    appName: assertAppName(init.appName),
    appVersionAttr: init.appVersionAttr ?? null,
    repoDir: resolve(configDir, init.repoDir ?? DEFAULT_REPO_DIR),
    keysDir: resolve(configDir, init.keysDir ?? DEFAULT_KEYS_DIR),
    keyMap: init.keyMap ?? defaultKeyMap(),
    encryptedKeys: init.encryptedKeys ?? [],
    expirationDays: init.expirationDays ?? { ...DEFAULT_EXPIRATION_DAYS },
    thresholds: init.thresholds ?? { ...DEFAULT_THRESHOLDS },
    binaryDiff: init.binaryDiff ?? null,
    patchFormat: init.patchFormat ?? 'native',
    extra: {},
  };
}

function invalid(path: string, what: string): RepoError {
  return new RepoError({ code: 'CONFIG_INVALID', message: `${path}: ${what}` });
}

function perRole<T>(
  path: string,
  raw: unknown,
  key: string,
  fallback: PerRole<T>,
  check: (v: unknown) => v is T,
): PerRole<T> {
  if (raw === undefined || raw === null) return { ...fallback };
  if (typeof raw !== 'object' || Array.isArray(raw)) throw invalid(path, `"${key}" must be an object`);
  const out = { ...fallback };
  for (const [role, value] of Object.entries(raw as Record<string, unknown>)) {
    if (!isRoleName(role)) throw invalid(path, `"${key}" has an unknown role "${role}"`);
    if (!check(value)) throw invalid(path, `"${key}.${role}" has an invalid value ${JSON.stringify(value)}`);
    out[role] = value;
  }
  return out;
}

const isPositiveNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;
const isPositiveInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1;
const isKeyList = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((k) => typeof k === 'string' && KEY_NAME.test(k));

/** python tufup stores POSIX paths, but older versions wrote Windows ones: read both. */
function configPath(configDir: string, raw: unknown, key: string, path: string, fallback: string): string {
  if (raw === undefined || raw === null) return resolve(configDir, fallback);
  if (typeof raw !== 'string' || raw === '') throw invalid(path, `"${key}" must be a path`);
  const posix = raw.replace(/\\/g, '/');
  const native = sep === '/' ? posix : posix.replace(/\//g, sep);
  return /^[A-Za-z]:/.test(posix) || isAbsolute(native) ? resolve(native) : resolve(configDir, native);
}

/** Parse a config file's text. Paths resolve against the file's directory (python: the cwd it lives in). */
export function parseConfig(text: string, path: string): RepoConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new RepoError({ code: 'CONFIG_INVALID', message: `${path}: not valid JSON`, cause });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid(path, 'not a JSON object');
  const o = raw as Record<string, unknown>;
  const configDir = dirname(path);
  if (typeof o.app_name !== 'string' || !APP_NAME.test(o.app_name)) {
    throw invalid(path, '"app_name" is missing or not a valid app name');
  }
  const optionalString = (key: string): string | null => {
    const v = o[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string') throw invalid(path, `"${key}" must be a string or null`);
    return v;
  };
  const encrypted = o.encrypted_keys ?? [];
  if (!isKeyList(encrypted)) throw invalid(path, '"encrypted_keys" must be a list of key names');
  const patchFormat = o.patch_format ?? 'bsdiff4';
  if (typeof patchFormat !== 'string' || !PATCH_FORMATS.includes(patchFormat as PatchFormat)) {
    throw invalid(path, `"patch_format" must be one of ${PATCH_FORMATS.join(', ')}`);
  }
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (!PYTHON_KEYS.has(k) && !OUR_KEYS.has(k)) extra[k] = v;
  const config: RepoConfig = {
    appName: o.app_name,
    appVersionAttr: optionalString('app_version_attr'),
    repoDir: configPath(configDir, o.repo_dir, 'repo_dir', path, DEFAULT_REPO_DIR),
    keysDir: configPath(configDir, o.keys_dir, 'keys_dir', path, DEFAULT_KEYS_DIR),
    keyMap: perRole(path, o.key_map, 'key_map', defaultKeyMap(), isKeyList),
    encryptedKeys: [...encrypted],
    expirationDays: perRole(
      path,
      o.expiration_days,
      'expiration_days',
      DEFAULT_EXPIRATION_DAYS,
      isPositiveNumber,
    ),
    thresholds: perRole(path, o.thresholds, 'thresholds', DEFAULT_THRESHOLDS, isPositiveInt),
    binaryDiff: optionalString('binary_diff'),
    patchFormat: patchFormat as PatchFormat,
    extra,
  };
  return config;
}

export async function loadConfig(path: string): Promise<RepoConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    if (isNotFound(cause)) {
      throw new RepoError({
        code: 'CONFIG_NOT_FOUND',
        message: `no ${CONFIG_FILENAME} at ${path} (run \`tufup init\` here, or pass --config)`,
        cause,
      });
    }
    throw new RepoError({ code: 'CONFIG_INVALID', message: `cannot read ${path}`, cause });
  }
  return parseConfig(text, path);
}

/** Relative to the config's directory when inside it (python tufup does the same), always with "/". */
function storedPath(configDir: string, p: string): string {
  const rel = relative(configDir, p);
  const chosen = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : rel === '' ? '.' : p;
  return chosen.split(sep).join('/');
}

/** The file's content: python's `json.dumps(sort_keys=True, indent=4)` byte for byte (ASCII only). */
export function serializeConfig(config: RepoConfig, path: string): string {
  const configDir = dirname(path);
  const data: Record<string, unknown> = {
    ...config.extra,
    app_name: config.appName,
    app_version_attr: config.appVersionAttr,
    binary_diff: config.binaryDiff,
    encrypted_keys: config.encryptedKeys,
    expiration_days: config.expirationDays,
    key_map: config.keyMap,
    keys_dir: storedPath(configDir, config.keysDir),
    repo_dir: storedPath(configDir, config.repoDir),
    thresholds: config.thresholds,
  };
  // python tufup passes every key to its Repository constructor, so a key it doesn't know breaks it. Only
  // write ours when it differs from what python tufup does anyway (BSDIFF40 patches).
  if (config.patchFormat !== 'bsdiff4') data.patch_format = config.patchFormat;
  return pythonJson(data, 4);
}

export async function saveConfig(path: string, config: RepoConfig): Promise<void> {
  await writeFileAtomic(path, serializeConfig(config, path));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) out[k] = sortKeys((value as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}

/** JSON as python's json.dumps(sort_keys=True, indent=n, ensure_ascii=True) writes it. */
export function pythonJson(value: unknown, indent: number): string {
  return JSON.stringify(sortKeys(value), null, indent).replace(
    /[\u0080-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

// Target file names `<name>-<version>.tar.gz` (archives) and `<name>-<version>.patch`, as python tufup names them.
import { MetadataError } from './errors.js';
import { compareVersions, isValidVersion, normalizeVersion } from './versions.js';

export type TargetKind = 'archive' | 'patch';

export interface TargetName {
  /** The app name, `[A-Za-z0-9_-]+`. */
  name: string;
  /** The PEP 440 version exactly as it appears in the file name. */
  version: string;
  kind: TargetKind;
  /** The whole file name, e.g. `my_app-1.0.tar.gz`. */
  filename: string;
}

export const ARCHIVE_SUFFIX = '.tar.gz';
export const PATCH_SUFFIX = '.patch';

const APP_NAME = /^[A-Za-z0-9_-]+$/;
// Greedy name, as tufup's `^(?P<name>[\w-]+)-(?P<version>.+)(?P<suffix>\.tar\.gz|\.patch)$`: the version is
// what follows the LAST hyphen that still leaves a match, so `app-2022-1.tar.gz` is `app-2022` version `1`.
// Python's \w is Unicode; names here are ASCII only.
const TARGET_NAME = /^(?<name>[A-Za-z0-9_-]+)-(?<version>.+)(?<suffix>\.tar\.gz|\.patch)$/;

/**
 * A platform token `os-arch` (`linux-x64`, `win-x64`, `darwin-arm64`): lowercase, one hyphen after the os part,
 * at most 32 characters. A platform build of app A is named `<A>-<platform>-<version>.tar.gz|.patch`.
 */
const PLATFORM = /^[a-z][a-z0-9]*-[a-z0-9_]+$/;
export const MAX_PLATFORM_LENGTH = 32;

/** Whether `platform` is an `os-arch` token. */
export function isValidPlatform(platform: unknown): platform is string {
  return typeof platform === 'string' && platform.length <= MAX_PLATFORM_LENGTH && PLATFORM.test(platform);
}

/** `platform`, or INVALID_PLATFORM. */
export function assertPlatform(platform: unknown): string {
  if (isValidPlatform(platform)) return platform;
  throw new MetadataError({
    code: 'INVALID_PLATFORM',
    message: `not a platform token (os-arch, e.g. linux-x64, win-x64, darwin-arm64; lowercase, at most ${MAX_PLATFORM_LENGTH} characters): ${JSON.stringify(platform)}`,
  });
}

/**
 * The name part of a build's target file names: `app` for a platform-less release, `<app>-<platform>` for a
 * platform build (so python tufup's greedy name regex reads `<app>-<platform>` as the app name).
 */
export function buildTargetName(app: string, platform?: string): string {
  return platform === undefined ? app : `${app}-${assertPlatform(platform)}`;
}

/** Whether `name` can be an app name in target file names. */
export function isValidAppName(name: string): boolean {
  return typeof name === 'string' && name.length <= 200 && APP_NAME.test(name);
}

/** Parses a target file name; throws INVALID_TARGET_NAME (also for a valid shape with an invalid version). */
export function parseTargetName(filename: string): TargetName {
  const parsed = tryParseTargetName(filename);
  if (!parsed) {
    throw new MetadataError({
      code: 'INVALID_TARGET_NAME',
      message: `not a tufup target name (<name>-<PEP 440 version>.tar.gz|.patch): ${JSON.stringify(filename)}`,
    });
  }
  return parsed;
}

/** Like parseTargetName, but undefined instead of an error (for scanning directories with other files). */
export function tryParseTargetName(filename: string): TargetName | undefined {
  if (typeof filename !== 'string' || filename.length > 512) return undefined;
  const groups = TARGET_NAME.exec(filename)?.groups;
  if (!groups?.name || !groups.version || !groups.suffix) return undefined;
  if (!isValidVersion(groups.version)) return undefined;
  return {
    name: groups.name,
    version: groups.version,
    kind: groups.suffix === PATCH_SUFFIX ? 'patch' : 'archive',
    filename,
  };
}

/**
 * `<name>-<version>.tar.gz|.patch`. Throws INVALID_TARGET_NAME for a bad name, INVALID_VERSION for a bad
 * version, and INVALID_TARGET_NAME for a pair the greedy parse would split differently
 * (`('app', '2022-1')` would read back as `('app-2022', '1')`).
 */
export function formatTargetName(name: string, version: string, kind: TargetKind): string {
  if (!isValidAppName(name)) {
    throw new MetadataError({
      code: 'INVALID_TARGET_NAME',
      message: `app name must match [A-Za-z0-9_-]+: ${JSON.stringify(name)}`,
    });
  }
  if (!isValidVersion(version)) {
    throw new MetadataError({
      code: 'INVALID_VERSION',
      message: `not a PEP 440 version: ${JSON.stringify(version)}`,
    });
  }
  if (kind !== 'archive' && kind !== 'patch') {
    throw new MetadataError({ code: 'INVALID_TARGET_NAME', message: `unknown target kind: ${String(kind)}` });
  }
  const filename = `${name}-${version}${kind === 'patch' ? PATCH_SUFFIX : ARCHIVE_SUFFIX}`;
  const back = tryParseTargetName(filename);
  if (!back || back.name !== name || back.version !== version) {
    throw new MetadataError({
      code: 'INVALID_TARGET_NAME',
      message:
        `${filename} would be read back as name ${JSON.stringify(back?.name)} version ` +
        `${JSON.stringify(back?.version)}; use the normalized version ${JSON.stringify(normalizeVersion(version))}`,
    });
  }
  return filename;
}

export function isArchive(filename: string): boolean {
  return tryParseTargetName(filename)?.kind === 'archive';
}

export function isPatch(filename: string): boolean {
  return tryParseTargetName(filename)?.kind === 'patch';
}

/** Orders by version (PEP 440), then archives before patches, then by file name (for a stable result). */
export function compareTargetNames(a: TargetName, b: TargetName): number {
  const byVersion = compareVersions(a.version, b.version);
  if (byVersion !== 0) return byVersion;
  if (a.kind !== b.kind) return a.kind === 'archive' ? -1 : 1;
  return a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : 0;
}

/** The parsed targets of one app (exact name match), sorted; names that do not parse are skipped. */
export function targetsForApp(filenames: Iterable<string>, appName: string): TargetName[] {
  const out: TargetName[] = [];
  for (const filename of filenames) {
    const parsed = tryParseTargetName(filename);
    if (parsed && parsed.name === appName) out.push(parsed);
  }
  return out.sort(compareTargetNames);
}

/**
 * Target paths end up in URLs and local paths on clients: relative, `/`-separated, no `.`/`..` or
 * empty segments, no backslashes or control characters.
 */
export function checkTargetPath(path: string): void {
  const ok =
    typeof path === 'string' &&
    path.length > 0 &&
    path.length <= 1024 &&
    !/[\\\u0000-\u001f\u007f]/.test(path) &&
    path.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
  if (!ok) {
    throw new MetadataError({
      code: 'INVALID_TARGET_PATH',
      message: `unusable target path ${JSON.stringify(path)}`,
    });
  }
}

// PEP 440 versions as tufup uses them: validation, ordering and the a/b/rc update channels.
import { compare as pep440Compare, explain as pep440Explain } from '@renovatebot/pep440';
import { MetadataError } from './errors.js';

/** An update channel: which pre-releases a client accepts besides final releases. */
export type Channel = 'a' | 'b' | 'rc';

export const CHANNELS: readonly Channel[] = ['a', 'b', 'rc'];

/** The pre-release labels each channel accepts (tufup's `pre_map`); finals are always accepted. */
const CHANNEL_ACCEPTS: Record<Channel, readonly string[]> = {
  a: ['a', 'b', 'rc'],
  b: ['b', 'rc'],
  rc: ['rc'],
};

interface ParsedVersion {
  /** The normalized pre-release label ('a' | 'b' | 'rc'), or undefined for a final/dev/post release. */
  preLabel: string | undefined;
}

function explain(version: string): ParsedVersion | undefined {
  // pep440's explain() accepts exactly what packaging.version.Version accepts, except surrounding
  // whitespace, which we reject too: a version ends up in a file name.
  if (typeof version !== 'string' || version.length === 0 || version.length > 256) return undefined;
  const known = explained.get(version);
  if (known !== undefined) return known ?? undefined;
  const parsed = pep440Explain(version);
  const result = parsed
    ? {
        preLabel: Array.isArray(parsed.pre) && parsed.pre.length > 0 ? String(parsed.pre[0]) : undefined,
      }
    : null;
  remember(explained, version, result);
  return result ?? undefined;
}

// Parsing a PEP 440 version is a regex match and some allocation; a repository's history names the same few
// thousand versions again and again (each target's name, every comparison of a sort or a plan). Both caches hold
// results of pure functions of their keys, and are emptied when they grow past MAX_CACHED.
const MAX_CACHED = 50_000;
const explained = new Map<string, ParsedVersion | null>();
const compared = new Map<string, number>();

function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(key, value);
}

/**
 * Returns `version` unchanged when it is a valid PEP 440 version; throws INVALID_VERSION otherwise.
 * The whole string is checked (python tufup's CLI only checks the first character).
 */
export function parseVersion(version: string): string {
  if (!explain(version)) {
    throw new MetadataError({
      code: 'INVALID_VERSION',
      message: `not a PEP 440 version: ${JSON.stringify(version)}`,
    });
  }
  return version;
}

export function isValidVersion(version: string): boolean {
  return explain(version) !== undefined;
}

/** The PEP 440 normal form (`1.0-RC1` → `1.0rc1`, `v2` → `2`); throws INVALID_VERSION. */
export function normalizeVersion(version: string): string {
  parseVersion(version);
  const parsed = pep440Explain(version);
  return parsed!.public + (parsed!.local ? `+${parsed!.local}` : '');
}

/** PEP 440 ordering: negative, zero or positive. Throws INVALID_VERSION for an invalid operand. */
export function compareVersions(a: string, b: string): number {
  parseVersion(a);
  parseVersion(b);
  if (a === b) return 0;
  const key = `${a}\n${b}`;
  let order = compared.get(key);
  if (order === undefined) {
    order = pep440Compare(a, b);
    remember(compared, key, order);
  }
  return order;
}

/** A new array, ascending in PEP 440 order (stable for equal versions such as `1.0` and `1.0.0`). */
export function sortVersions(versions: Iterable<string>): string[] {
  const list = [...versions];
  for (const v of list) parseVersion(v);
  return list.sort(pep440Compare);
}

/**
 * True for a/b/rc pre-releases. Like python tufup (which looks at `Version.pre`), `.devN` and `.postN`
 * releases are NOT pre-releases here, even though PEP 440 calls `1.0.dev1` one.
 */
export function isPrerelease(version: string): boolean {
  const parsed = explain(version);
  if (!parsed) parseVersion(version);
  return parsed!.preLabel !== undefined;
}

/** Validates a channel given as text (e.g. from a command line); undefined/null/'' mean finals only. */
export function parseChannel(channel: string | null | undefined): Channel | undefined {
  if (channel === undefined || channel === null || channel === '') return undefined;
  if ((CHANNELS as readonly string[]).includes(channel)) return channel as Channel;
  throw new MetadataError({
    code: 'INVALID_CHANNEL',
    message: `not an update channel: ${JSON.stringify(channel)} (expected one of ${CHANNELS.join(', ')})`,
  });
}

/**
 * Whether a client on channel `pre` may update to `version`, as python tufup decides it:
 * no channel → final releases only; 'a' → a, b, rc and finals; 'b' → b, rc and finals; 'rc' → rc and finals.
 * `.devN`/`.postN` releases without an a/b/rc part count as final (tufup checks `Version.pre is None`),
 * so `2.0.dev1` reaches every client; `2.0a1.dev1` is an 'a' pre-release.
 */
export function versionInChannel(version: string, pre?: Channel): boolean {
  const channel = parseChannel(pre);
  const parsed = explain(version);
  if (!parsed) parseVersion(version);
  const label = parsed!.preLabel;
  if (label === undefined) return true;
  return channel !== undefined && CHANNEL_ACCEPTS[channel].includes(label);
}

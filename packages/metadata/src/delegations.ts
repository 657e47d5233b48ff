// Delegated targets roles: the rules for their names and path patterns, the head/history pairs that keep what a
// client downloads per release small, and the routing of a target to the one role that signs it.
import { type Key, type Metadata, Targets } from '@tufjs/models';
import { MetadataError } from './errors.js';
import { SPEC_VERSION, isRoleName } from './roles.js';

/** @tufjs/models' classes for delegations (its index does not export them; they are reached through Targets). */
export type Delegations = NonNullable<Targets['delegations']>;
export type DelegatedRole = NonNullable<Delegations['roles']>[string];

const ROLE_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** A history role is `<head>.history`; user role names may not end so (the suffix is what clients read). */
export const HISTORY_SUFFIX = '.history';
/**
 * The signed field on a head's delegation entry saying how many releases it keeps after a move to its history
 * role (`k`: when the head holds 2k releases, the oldest k move). Clients ignore it; writers read it.
 */
export const HISTORY_AFTER_FIELD = 'x-tufup-history-after';
/**
 * Path patterns we write: file-name globs of `*` and `?` over the target-name alphabet (no `/`, no brackets or
 * braces), so python-tuf's fnmatch, tuf-js' minimatch and canMatchPrefix below agree on what they match.
 */
const PATH_PATTERN = /^[A-Za-z0-9._*?+-]{1,200}$/;

/**
 * A delegated role's name as a safe file name and not a top-level role; INVALID_ROLE_NAME otherwise. `head` (what
 * users name) must not end in `.history`, `history` must, `any` is what a loaded repository may hold.
 */
export function assertDelegatedRoleName(name: unknown, kind: 'head' | 'history' | 'any' = 'head'): string {
  const ok =
    typeof name === 'string' &&
    ROLE_NAME.test(name) &&
    !isRoleName(name) &&
    (kind === 'any' || (kind === 'history') === isHistoryRoleName(name));
  if (!ok) {
    throw new MetadataError({
      code: 'INVALID_ROLE_NAME',
      message: `invalid delegated role name ${JSON.stringify(name)} (lowercase letters, digits, ".", "_", "-", at most 64, not a top-level role name, not ending in ${HISTORY_SUFFIX})`,
    });
  }
  return name;
}

export function isHistoryRoleName(name: string): boolean {
  return name.endsWith(HISTORY_SUFFIX) && name.length > HISTORY_SUFFIX.length;
}

export function historyRoleName(head: string): string {
  return `${head}${HISTORY_SUFFIX}`;
}

/** The path patterns of a delegation we create: 1..64 globs of the safe alphabet; INVALID_PATH_PATTERN otherwise. */
export function assertPathPatterns(paths: unknown): string[] {
  if (!Array.isArray(paths) || paths.length === 0 || paths.length > 64) {
    throw new MetadataError({
      code: 'INVALID_PATH_PATTERN',
      message: 'a delegation needs 1 to 64 path patterns',
    });
  }
  for (const p of paths) {
    if (typeof p !== 'string' || !PATH_PATTERN.test(p)) {
      throw new MetadataError({
        code: 'INVALID_PATH_PATTERN',
        message: `invalid path pattern ${JSON.stringify(p)} (a file-name glob of letters, digits, ".", "_", "-", "+", "*" and "?")`,
      });
    }
  }
  return [...new Set(paths as string[])];
}

/**
 * Whether glob `pattern` (`*` any run, `?` one character, others literal) matches some name that starts with
 * `prefix`: the client visits only roles that can hold targets of its app (`<app>-…`). Conservative for anything
 * else a pattern may hold (brackets, braces, `/`): such a pattern "can match".
 */
export function canMatchPrefix(pattern: string, prefix: string): boolean {
  if (/[[\]{}\\/]/.test(pattern)) return true;
  for (let i = 0; i < prefix.length; i++) {
    const p = pattern[i];
    if (p === undefined) return false;
    if (p === '*') return true;
    if (p !== '?' && p !== prefix[i]) return false;
  }
  return true;
}

/**
 * A matcher equal to the entry's `isDelegatedPath` (tuf-js' minimatch per path part), compiled once: checking every
 * target of a big role would otherwise compile each pattern once per target. Patterns outside the alphabet we write
 * (and names starting with "." or holding "/") go to `isDelegatedPath` itself.
 */
export function delegationMatcher(entry: DelegatedRole): (path: string) => boolean {
  const paths: string[] | undefined = entry.paths;
  if (!paths?.every((p) => PATH_PATTERN.test(p))) return (path) => entry.isDelegatedPath(path);
  const res = paths.map(
    (p) => new RegExp(`^${p.replace(/[.+]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`),
  );
  return (path) =>
    path === '' || path.startsWith('.') || path.includes('/')
      ? entry.isDelegatedPath(path)
      : res.some((re) => re.test(path));
}

/** Whether a delegation entry can hold names starting with `prefix` (hash-prefix delegations always can). */
export function delegationCanMatchPrefix(role: DelegatedRole, prefix: string): boolean {
  if (!role.paths) return true;
  return role.paths.some((p: string) => canMatchPrefix(p, prefix));
}

/** The delegation entries of `md`, in its order (empty when it delegates nothing). */
export function delegatedEntries(md: Metadata<Targets>): DelegatedRole[] {
  return Object.values(md.signed.delegations?.roles ?? {});
}

/** The `k` of a head role's delegation entry, when it has a history role. */
export function historyAfter(entry: DelegatedRole): number | undefined {
  const k = entry.unrecognizedFields?.[HISTORY_AFTER_FIELD];
  return typeof k === 'number' && Number.isSafeInteger(k) && k >= 1 ? k : undefined;
}

export function assertHistoryAfter(k: unknown): number {
  if (typeof k !== 'number' || !Number.isSafeInteger(k) || k < 1 || k > 10_000) {
    throw new MetadataError({
      code: 'INVALID_ARGUMENT',
      message: `history-after must be an integer from 1 to 10000, got ${JSON.stringify(k)}`,
    });
  }
  return k;
}

/** A delegation entry as JSON (what a delegating role signs about a delegated one). */
export function delegatedRoleJson(opts: {
  name: string;
  keyids: readonly string[];
  threshold: number;
  paths: readonly string[];
  terminating?: boolean;
  historyAfter?: number;
}): Record<string, unknown> {
  return {
    name: opts.name,
    keyids: [...opts.keyids],
    threshold: opts.threshold,
    paths: [...opts.paths],
    terminating: opts.terminating ?? false,
    ...(opts.historyAfter !== undefined ? { [HISTORY_AFTER_FIELD]: opts.historyAfter } : {}),
  };
}

/**
 * Delegations from keys and ordered entries (existing ones or JSON); keys no entry uses are dropped; undefined
 * when no entry is left. Built through @tufjs/models' own parser, so it checks what a client will check.
 */
export function makeDelegations(
  keys: Record<string, Key>,
  entries: ReadonlyArray<DelegatedRole | Record<string, unknown>>,
  unrecognizedFields: Record<string, unknown> = {},
): Delegations | undefined {
  if (entries.length === 0) return undefined;
  const json = entries.map((e) =>
    typeof (e as DelegatedRole).toJSON === 'function' ? (e as DelegatedRole).toJSON() : e,
  ) as Array<{ keyids: string[] }>;
  const used = new Set(json.flatMap((e) => e.keyids));
  const kept = Object.fromEntries(
    Object.entries(keys)
      .filter(([id]) => used.has(id))
      .map(([id, k]) => [id, k.toJSON()]),
  );
  try {
    const targets = Targets.fromJSON({
      _type: 'targets',
      spec_version: SPEC_VERSION,
      version: 1,
      expires: '2030-01-01T00:00:00Z',
      targets: {},
      delegations: JSON.parse(JSON.stringify({ ...unrecognizedFields, keys: kept, roles: json })),
    } as Parameters<typeof Targets.fromJSON>[0]);
    return targets.delegations;
  } catch (err) {
    throw new MetadataError({
      code: 'INVALID_METADATA',
      message: `invalid delegations: ${(err as Error).message}`,
      cause: err,
    });
  }
}

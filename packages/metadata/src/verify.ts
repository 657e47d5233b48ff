// The one verifier of a repository's metadata: every problem a TUF client (or a careful operator) would have with
// it, as a list. MetadataStore.verify throws the first one; `tufup verify` and `tufup status` print them all.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { Metadata, MetaFile, Root, Snapshot, Targets, Timestamp } from '@tufjs/models';
import { isNotFound, lstatOrUndefined, readdirOrEmpty, sameDigest } from '@tufup/common';
import { readArchiveCustom, readPatchCustom } from './custom.js';
import { MetadataError, type MetadataErrorCode, type MetadataWarningCode } from './errors.js';
import type { RootFile } from './files.js';
import { type AnyRoleMetadata, ROLE_NAMES, type RoleName, parseExpires } from './roles.js';
import { type KeyHolder, countSignatures } from './signatures.js';
import { tryParseTargetName } from './target-names.js';

/** One finding: a stable code, a message for people, and the repository file it is about (`metadata/2.root.json`). */
export interface Problem<Code extends string = MetadataErrorCode> {
  code: Code;
  message: string;
  file?: string;
}

export interface VerifyOptions {
  /** Reference time for expiry (default: now). */
  now?: Date;
  /** Skip the expiry checks. */
  ignoreExpiry?: boolean;
}

export interface VerifyFilesOptions extends VerifyOptions {
  /** Also check every target file in this directory against targets metadata (length, hashes, custom metadata). */
  targetsDir?: string;
  signal?: AbortSignal;
}

export interface VerifyResult {
  /** No problems (warnings don't count). */
  ok: boolean;
  problems: Problem[];
  warnings: Problem<MetadataWarningCode>[];
  checked: { rootVersions: number; roles: number; targets: number; bytes: number };
}

/** Collects findings in the order they are found (the first problem is the one `verify` throws). */
export class Findings {
  readonly problems: Problem[] = [];
  readonly warnings: Problem<MetadataWarningCode>[] = [];
  readonly checked = { rootVersions: 0, roles: 0, targets: 0, bytes: 0 };

  problem(code: MetadataErrorCode, message: string, file?: string): void {
    this.problems.push({ code, message, ...(file !== undefined ? { file } : {}) });
  }

  warn(code: MetadataWarningCode, message: string, file?: string): void {
    this.warnings.push({ code, message, ...(file !== undefined ? { file } : {}) });
  }

  result(): VerifyResult {
    return {
      ok: this.problems.length === 0,
      problems: this.problems,
      warnings: this.warnings,
      checked: this.checked,
    };
  }

  /** Throws the first problem as a MetadataError. */
  throwFirst(): void {
    const [first] = this.problems;
    if (first) throw new MetadataError({ code: first.code, message: first.message });
  }
}

// ---- the checks ---------------------------------------------------------------------------------

/** Every role is in root, and no threshold asks for more keys than the role has. */
export function checkThresholds(f: Findings, root: Root): void {
  for (const role of ROLE_NAMES) {
    const r = root.roles[role];
    if (!r) f.problem('UNKNOWN_ROLE', `root has no ${role} role`, 'metadata/root.json');
    else if (r.threshold > r.keyIDs.length) {
      f.problem(
        'INVALID_THRESHOLD',
        `${role} threshold ${r.threshold} exceeds its ${r.keyIDs.length} key(s)`,
        'metadata/root.json',
      );
    }
  }
}

/**
 * `md` as `role` carries a threshold of valid signatures by the keys `keys` (a root) lists for the role:
 * BAD_SIGNATURE when a listed key's signature does not verify, else THRESHOLD_NOT_MET saying "n of t".
 */
export function checkSignatures(
  f: Findings,
  keys: Root | KeyHolder,
  role: RoleName | string,
  md: AnyRoleMetadata,
  file: string,
  whose = '',
): void {
  if (!keys.roles?.[role]) return; // reported by checkThresholds
  const what = `${role} v${md.signed.version}`;
  const count = countSignatures(keys, role, md);
  const n = `${count.valid.length} of ${count.threshold}`;
  if (count.invalid.length > 0) {
    f.problem(
      'BAD_SIGNATURE',
      `${what}: bad signature from ${count.invalid.join(', ')}; ${n} required ${whose}signatures valid`,
      file,
    );
  } else if (count.valid.length < count.threshold) {
    f.problem('THRESHOLD_NOT_MET', `${what} is signed by ${n} required ${whose}keys`, file);
  }
}

/** Not expired as of `now` (EXPIRED_METADATA). */
export function checkExpiry(
  f: Findings,
  role: RoleName | string,
  md: AnyRoleMetadata,
  file: string,
  opts: VerifyOptions,
): void {
  if (opts.ignoreExpiry) return;
  const now = opts.now ?? new Date();
  if (now.getTime() >= parseExpires(md.signed.expires).getTime()) {
    f.problem('EXPIRED_METADATA', `${role} v${md.signed.version} expired at ${md.signed.expires}`, file);
  }
}

/** Clients trusting `trusted` accept `next`: version N+1, signed by a threshold of the old root keys and of its own. */
export function checkRotation(
  f: Findings,
  trusted: Metadata<Root>,
  next: Metadata<Root>,
  file: string,
): void {
  const expected = trusted.signed.version + 1;
  if (next.signed.version !== expected) {
    f.problem(
      'BAD_VERSION',
      `root v${trusted.signed.version} must be followed by v${expected}, got v${next.signed.version}`,
      file,
    );
    return;
  }
  checkSignatures(f, trusted.signed, 'root', next, file, `old (v${trusted.signed.version}) `);
  checkSignatures(f, next.signed, 'root', next, file, 'new ');
}

/**
 * The root chain as a client that shipped with `1.root.json` walks it: the chain starts at 1, each file parses and
 * holds its own version, the first is signed by a threshold of its own keys, each next one is a valid rotation.
 */
export function checkRootChain(f: Findings, chain: readonly RootFile[]): void {
  if (chain[0]?.version !== 1)
    f.problem('ROOT_CHAIN_BROKEN', '1.root.json is missing', 'metadata/1.root.json');
  let previous: Metadata<Root> | undefined;
  for (const entry of chain) {
    const name = `${entry.version}.root.json`;
    const file = `metadata/${name}`;
    if (!entry.md) {
      f.problem(entry.error?.code ?? 'INVALID_METADATA', `${name}: ${entry.error?.message}`, file);
      previous = undefined;
      continue;
    }
    f.checked.rootVersions++;
    if (entry.md.signed.version !== entry.version) {
      f.problem('BAD_VERSION', `${name} holds root version ${entry.md.signed.version}`, file);
    }
    if (previous) checkRotation(f, previous, entry.md, file);
    else checkSignatures(f, entry.md.signed, 'root', entry.md, file);
    previous = entry.md;
  }
}

/** targets, snapshot or timestamp: of its type, signed by a threshold of root's keys for it, not expired. */
export function checkRole(
  f: Findings,
  root: Root,
  role: RoleName,
  md: AnyRoleMetadata,
  opts: VerifyOptions,
): void {
  const file = `metadata/${role}.json`;
  f.checked.roles++;
  if (md.signed.type !== (role as string)) {
    f.problem('INVALID_METADATA', `expected ${role} metadata, got ${md.signed.type}`, file);
    return;
  }
  checkSignatures(f, root, role, md, file);
  for (const keyid of Object.keys(md.signatures)) {
    if (role !== 'root' && !root.roles[role]?.keyIDs.includes(keyid)) {
      f.warn(
        'UNUSED_SIGNATURE',
        `${role}.json: signature by ${keyid.slice(0, 12)}… is not by a key of this role`,
        file,
      );
    }
  }
  checkExpiry(f, role, md, file, opts);
}

/** Snapshot names the current targets.json and timestamp the current snapshot.json (version; length and hashes when listed). */
export function checkLinks(
  f: Findings,
  roles: { targets: Metadata<Targets>; snapshot: Metadata<Snapshot>; timestamp: Metadata<Timestamp> },
  texts: { targets: string; snapshot: string },
): void {
  checkListed(
    f,
    'snapshot',
    'targets',
    roles.snapshot.signed.meta['targets.json'],
    roles.targets,
    texts.targets,
  );
  checkListed(
    f,
    'timestamp',
    'snapshot',
    roles.timestamp.signed.snapshotMeta,
    roles.snapshot,
    texts.snapshot,
  );
}

function checkListed(
  f: Findings,
  owner: 'snapshot' | 'timestamp',
  role: 'targets' | 'snapshot',
  meta: MetaFile | undefined,
  md: AnyRoleMetadata,
  text: string,
): void {
  const file = `metadata/${owner}.json`;
  if (!meta) {
    f.problem('BAD_VERSION', `${owner} does not list ${role}.json`, file);
    return;
  }
  if (meta.version !== md.signed.version) {
    f.problem(
      'BAD_VERSION',
      `${owner} lists ${role}.json v${meta.version}, ${role} is v${md.signed.version}`,
      file,
    );
  }
  const bytes = Buffer.from(text, 'utf8');
  if (meta.length !== undefined && meta.length !== bytes.length) {
    f.problem(
      'LENGTH_MISMATCH',
      `${role}.json is ${bytes.length} bytes, ${owner}.json says ${meta.length}`,
      file,
    );
  }
  for (const [alg, hex] of Object.entries(meta.hashes ?? {})) {
    const actual = digestOrUndefined(alg, bytes);
    if (actual === undefined) {
      f.problem(
        'HASH_MISMATCH',
        `${owner}.json uses an unknown hash algorithm ${alg} for ${role}.json`,
        file,
      );
    } else if (!sameDigest(actual, hex)) {
      f.problem('HASH_MISMATCH', `${role}.json: ${alg} differs from ${owner}.json`, file);
    }
  }
}

function digestOrUndefined(alg: string, bytes: Buffer): string | undefined {
  try {
    return createHash(alg).update(bytes).digest('hex');
  } catch {
    return undefined; // an algorithm node:crypto does not know
  }
}

/**
 * Every target file against targets metadata: a plain file name, on disk, of the listed length and hashes; its
 * custom metadata readable for its kind. Files in the directory that targets metadata does not list are warnings.
 */
export async function checkTargetFiles(
  f: Findings,
  targets: Metadata<Targets>,
  targetsDir: string,
  opts: { signal?: AbortSignal } = {},
): Promise<void> {
  const listed = new Set<string>();
  for (const [name, t] of Object.entries(targets.signed.targets)) {
    listed.add(name);
    const file = `targets/${name}`;
    if (!isPlainFileName(name)) {
      f.problem('INVALID_TARGET_PATH', `target path ${JSON.stringify(name)} is not a plain file name`, file);
      continue;
    }
    const algs = Object.keys(t.hashes);
    if (!algs.includes('sha256')) f.warn('WEAK_HASHES', `${name} has no sha256 hash`, file);
    if (algs.some((alg) => digestOrUndefined(alg, Buffer.alloc(0)) === undefined)) {
      f.problem('HASH_MISMATCH', `${name} uses an unknown hash algorithm (${algs.join(', ')})`, file);
      continue;
    }
    const hashers = algs.map((alg) => [alg, createHash(alg)] as const);
    let size = 0;
    try {
      const stream = createReadStream(join(targetsDir, name), {
        highWaterMark: 1 << 20,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      for await (const chunk of stream) {
        size += (chunk as Buffer).length;
        for (const [, h] of hashers) h.update(chunk as Buffer);
      }
    } catch (err) {
      if (!isNotFound(err)) throw err;
      f.problem('TARGET_FILE_MISSING', `${name} is in targets.json but not on disk`, file);
      continue;
    }
    f.checked.targets++;
    f.checked.bytes += size;
    if (size !== t.length)
      f.problem('LENGTH_MISMATCH', `${name} is ${size} bytes, targets.json says ${t.length}`, file);
    for (const [alg, h] of hashers) {
      if (!sameDigest(h.digest('hex'), t.hashes[alg] as string)) {
        f.problem('HASH_MISMATCH', `${name}: ${alg} differs from targets.json`, file);
      }
    }
  }
  if (!(await lstatOrUndefined(targetsDir))?.isDirectory()) {
    f.problem('TARGET_FILE_MISSING', `${targetsDir} is missing`);
  }
  for (const name of await readdirOrEmpty(targetsDir)) {
    if (!listed.has(name) && !name.startsWith('.')) {
      f.warn(
        'UNREGISTERED_FILE',
        `${name} is in the targets directory but not in targets.json`,
        `targets/${name}`,
      );
    }
  }
  checkCustomMetadata(f, targets);
}

/** Each tufup target's custom metadata reads as its kind's (archive or patch); other names are warnings. */
function checkCustomMetadata(f: Findings, targets: Metadata<Targets>): void {
  for (const [name, t] of Object.entries(targets.signed.targets)) {
    const parsed = tryParseTargetName(name);
    if (!parsed) {
      f.warn(
        'UNKNOWN_TARGET',
        `${name} is not a tufup target name (<app>-<version>.tar.gz|.patch)`,
        `targets/${name}`,
      );
      continue;
    }
    try {
      if (parsed.kind === 'archive') readArchiveCustom(t.unrecognizedFields.custom);
      else readPatchCustom(t.unrecognizedFields.custom);
    } catch (err) {
      if (!(err instanceof MetadataError)) throw err;
      f.problem('INVALID_CUSTOM_METADATA', `${name}: ${err.message}`, `targets/${name}`);
    }
  }
}

/** What python-tuf and tuf-js accept as a target path in a tufup repository: one flat file name. */
function isPlainFileName(name: string): boolean {
  return name.length > 0 && name.length <= 255 && !/[/\\\0]/.test(name) && name !== '.' && name !== '..';
}

/**
 * Throws the first problem with a client trusting `trusted` accepting `next`: signed by a threshold of the old
 * root's keys and of its own, the next version; then its expiry unless `ignoreExpiry`. The client checks each
 * root it fetches with this before handing the chain to tuf-js.
 */
export function verifyRootRotation(
  trusted: Metadata<Root>,
  next: Metadata<Root>,
  opts: VerifyOptions = {},
): void {
  const f = new Findings();
  checkRotation(f, trusted, next, `metadata/${next.signed.version}.root.json`);
  if (f.problems.length === 0) checkExpiry(f, 'root', next, 'metadata/root.json', opts);
  f.throwFirst();
}

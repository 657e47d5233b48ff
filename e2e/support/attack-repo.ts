// The attack suite's repositories: small releases published once with the real CLI, per-case copies, and an
// attacker's toolkit (keys from the keystore, re-signed or forged metadata, hostile archives).
import { createHash } from 'node:crypto';
import { chmod, cp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  type AnyRoleMetadata,
  MetaFile,
  type PrivateKey,
  type RoleName,
  type RoleMetadata,
  type SignedChanges,
  addSignatures,
  loadPrivateKeyFile,
  readMetadataFile,
  TargetFile,
  makeArchiveCustom,
  rebuild,
  writeMetadataFile,
} from '@tufup/metadata';
import { tufup } from './scenario.js';

/** The app every attack case updates. Short, and different from the flow's hello-app on purpose. */
export const ATTACK_APP = 'acme';

/** A string every genuine README carries: the wrong-tar case flips bytes inside it. */
export const GENUINE_MARK = 'GENUINE-BUILD-OF-ACME';

export interface AttackRepo {
  /** Holds `.tufup-repo-config`, `repository/`, `keystore/`, `bundles/` and `states/`. */
  workDir: string;
  repoDir: string;
  keysDir: string;
  /** version → the bundle dir it was published from. */
  bundles: Map<string, string>;
  /** `states/<version>/metadata`: the metadata dir as it was right after that release (for replays). */
  stateDir(version: string): string;
}

/**
 * A small bundle: a launcher script, a symlink, a README with the genuine mark, 48 KiB of data shared by
 * every version with a version stamp inside (so patches are small), and a file only this version has.
 */
export async function makeAcmeBundle(dir: string, version: string): Promise<void> {
  await mkdir(join(dir, 'bin'), { recursive: true });
  await mkdir(join(dir, 'data'), { recursive: true });
  await writeFile(join(dir, 'bin', 'acme'), `#!/bin/sh\necho "acme ${version}"\n`);
  await chmod(join(dir, 'bin', 'acme'), 0o755);
  await symlink('acme', join(dir, 'bin', 'launch'));
  await writeFile(
    join(dir, 'README.txt'),
    `acme ${version}\n${GENUINE_MARK} ${version}\n${'docs '.repeat(100)}\n`,
  );
  const payload = Buffer.alloc(48 * 1024);
  let block = createHash('sha256').update('acme payload').digest();
  for (let off = 0; off < payload.length; off += block.length) {
    block.copy(payload, off);
    block = createHash('sha256').update(block).digest();
  }
  payload.write(`version ${version}`, 4096);
  await writeFile(join(dir, 'data', 'payload.bin'), payload);
  await writeFile(join(dir, 'data', `only-in-${version}.txt`), `${version}\n`);
}

/**
 * `tufup init` + `tufup targets add` for each version (real CLI, small bundles), keeping a copy of the
 * metadata after each release so that old states can be replayed.
 */
export async function publishAcme(
  workDir: string,
  versions: string[],
  opts: { initArgs?: string[]; required?: string[] } = {},
): Promise<AttackRepo> {
  const repoDir = join(workDir, 'repository');
  const keysDir = join(workDir, 'keystore');
  const stateDir = (version: string) => join(workDir, 'states', version, 'metadata');
  await mkdir(workDir, { recursive: true });
  await tufup(
    [
      'init',
      '--non-interactive',
      '--app-name',
      ATTACK_APP,
      '--repo-dir',
      repoDir,
      '--keys-dir',
      keysDir,
      ...(opts.initArgs ?? []),
    ],
    { cwd: workDir },
  );
  const bundles = new Map<string, string>();
  for (const version of versions) {
    const bundle = join(workDir, 'bundles', version);
    await makeAcmeBundle(bundle, version);
    bundles.set(version, bundle);
    const required = opts.required?.includes(version) ? ['--required'] : [];
    await tufup(['targets', 'add', version, bundle, keysDir, ...required], { cwd: workDir });
    await cp(join(repoDir, 'metadata'), stateDir(version), { recursive: true });
  }
  return { workDir, repoDir, keysDir, bundles, stateDir };
}

/** A fresh copy of `repo`'s current repository (metadata + targets) at `dest`, for one case to tamper with. */
export async function copyRepository(repo: AttackRepo, dest: string): Promise<string> {
  await rm(dest, { recursive: true, force: true });
  await cp(repo.repoDir, dest, { recursive: true });
  return dest;
}

/** Replace `dest/metadata/<file>` by the same file of an older state (a replay, byte for byte). */
export async function replayMetadata(repo: AttackRepo, fromVersion: string, caseDir: string, file: string) {
  await cp(join(repo.stateDir(fromVersion), file), join(caseDir, 'metadata', file));
}

// ---- the attacker's toolkit -------------------------------------------------------------------------

/** A private key from the keystore: what an attacker who stole that key file holds. */
export function stealKey(repo: AttackRepo, name: string): Promise<PrivateKey> {
  return loadPrivateKeyFile(join(repo.keysDir, name));
}

export function readRole<R extends RoleName>(caseDir: string, role: R): Promise<RoleMetadata<R>> {
  return readMetadataFile(join(caseDir, 'metadata', `${role}.json`), role);
}

/**
 * Rebuild `md` with `changes`, sign it with `signers` only (earlier signatures dropped) and write it as
 * `file` in the case's metadata dir. No consistency check: an attacker writes whatever they like.
 */
export async function forge<M extends AnyRoleMetadata>(
  caseDir: string,
  file: string,
  md: M,
  changes: SignedChanges,
  signers: readonly PrivateKey[],
): Promise<M> {
  const forged = rebuild(md, changes);
  addSignatures(forged, signers);
  await writeMetadataFile(join(caseDir, 'metadata', file), forged);
  return forged;
}

export interface ReleaseSigners {
  targets: readonly PrivateKey[];
  snapshot: readonly PrivateKey[];
  timestamp: readonly PrivateKey[];
}

/**
 * What an attacker holding `signers` publishes: `archive` as the full archive of release `version`, added to
 * the targets the case already lists, then a snapshot and a timestamp that name the new versions.
 */
export async function forgeRelease(
  caseDir: string,
  version: string,
  archive: Buffer,
  signers: ReleaseSigners,
): Promise<void> {
  const filename = `${ATTACK_APP}-${version}.tar.gz`;
  await writeFile(join(caseDir, 'targets', filename), archive);
  const entry = TargetFile.fromJSON(filename, {
    length: archive.length,
    hashes: { sha256: await sha256Of(archive) },
    custom: JSON.parse(JSON.stringify(makeArchiveCustom({ required: false }))),
  });
  const targets = await readRole(caseDir, 'targets');
  const newTargets = await forge(
    caseDir,
    'targets.json',
    targets,
    { version: targets.signed.version + 1, targets: { ...targets.signed.targets, [filename]: entry } },
    signers.targets,
  );
  const snapshot = await readRole(caseDir, 'snapshot');
  const newSnapshot = await forge(
    caseDir,
    'snapshot.json',
    snapshot,
    {
      version: snapshot.signed.version + 1,
      meta: { 'targets.json': new MetaFile({ version: newTargets.signed.version }) },
    },
    signers.snapshot,
  );
  const ts = await readRole(caseDir, 'timestamp');
  await forge(
    caseDir,
    'timestamp.json',
    ts,
    { version: ts.signed.version + 1, snapshotMeta: new MetaFile({ version: newSnapshot.signed.version }) },
    signers.timestamp,
  );
}

// ---- hostile archives -------------------------------------------------------------------------------

export interface TarEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink';
  content?: string;
  linkname?: string;
  mode?: number;
}

/**
 * A gzipped ustar archive with exactly the entries given, names unchecked: how an attacker writes a
 * tar-slip archive that no well-behaved tar tool would produce.
 */
export function hostileTarGz(entries: readonly TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.content ?? '', 'utf8');
    const header = Buffer.alloc(512);
    const field = (value: string, offset: number, length: number) =>
      header.write(value, offset, Math.min(length, Buffer.byteLength(value)), 'utf8');
    const octal = (n: number, offset: number, length: number) =>
      field(`${n.toString(8).padStart(length - 1, '0')}\0`, offset, length);
    if (Buffer.byteLength(e.name) > 100) throw new Error(`tar name too long for ustar: ${e.name}`);
    field(e.name, 0, 100);
    octal(e.mode ?? (e.type === 'file' ? 0o644 : 0o755), 100, 8);
    octal(0, 108, 8);
    octal(0, 116, 8);
    octal(e.type === 'file' ? body.length : 0, 124, 12);
    octal(1_700_000_000, 136, 12);
    header.fill(0x20, 148, 156);
    field(e.type === 'file' ? '0' : e.type === 'dir' ? '5' : '2', 156, 1);
    if (e.linkname) field(e.linkname, 157, 100);
    field('ustar\0', 257, 6);
    field('00', 263, 2);
    let sum = 0;
    for (const byte of header) sum += byte;
    field(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
    blocks.push(header);
    if (e.type === 'file') {
      blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

/** sha256 hex of bytes or a file. */
export async function sha256Of(data: Buffer | string): Promise<string> {
  const bytes = typeof data === 'string' ? await readFile(data) : data;
  return createHash('sha256').update(bytes).digest('hex');
}

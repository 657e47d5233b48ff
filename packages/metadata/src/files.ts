// Metadata files on disk: python-tuf's format, size-capped reads, the versioned root files, a metadata dir as a whole.
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Metadata, Root } from '@tufjs/models';
import { isNotFound, readdirOrEmpty, writeFileAtomic } from '@tufup/common';
import { MetadataError } from './errors.js';
import { canonicalText } from './signatures.js';
import {
  type AnyRoleMetadata,
  type RoleMetadata,
  type RoleName,
  parseMetadata,
  serializeMetadata,
} from './roles.js';

const ROOT_FILE = /^([1-9][0-9]{0,8})\.root\.json$/;

/** The version of a versioned root file name (`3.root.json` → 3), else undefined: the one rule for these names. */
export function rootFileVersion(name: string): number | undefined {
  const m = ROOT_FILE.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** The versioned root files among `names`, by version, ascending. */
export function rootFileVersions(names: readonly string[]): number[] {
  return names
    .map(rootFileVersion)
    .filter((v): v is number => v !== undefined)
    .sort((a, b) => a - b);
}

/** Reads a metadata file; FILE_NOT_FOUND when missing. */
export async function readMetadataFile<R extends RoleName>(path: string, role: R): Promise<RoleMetadata<R>> {
  return parseMetadata(role, await readMetadataText(path));
}

/** @internal the text of a metadata file, size-capped so a stray huge file cannot exhaust memory. */
export async function readMetadataText(path: string): Promise<string> {
  try {
    const { size } = await stat(path);
    if (size > MAX_METADATA_BYTES) {
      throw new MetadataError({ code: 'INVALID_METADATA', message: `${path} is too large (${size} bytes)` });
    }
    return await readFile(path, 'utf8');
  } catch (err) {
    if (isNotFound(err)) {
      throw new MetadataError({ code: 'FILE_NOT_FOUND', message: `no metadata file ${path}`, cause: err });
    }
    throw err;
  }
}

const MAX_METADATA_BYTES = 64 * 1024 * 1024;

/** Writes metadata atomically in python-tuf's format. */
export async function writeMetadataFile(path: string, md: AnyRoleMetadata): Promise<void> {
  await writeFileAtomic(path, serializeMetadata(md));
}

/** One `N.root.json` of a metadata dir: parsed, or why it could not be. */
export interface RootFile {
  version: number;
  text?: string;
  md?: Metadata<Root>;
  error?: MetadataError;
}

/**
 * Every `N.root.json` in `dir` in version order, each read and parsed (a file that can't be is kept with its error):
 * the chain a client that shipped with `1.root.json` walks.
 */
export async function readRootFiles(dir: string, names?: readonly string[]): Promise<RootFile[]> {
  const out: RootFile[] = [];
  for (const version of rootFileVersions(names ?? (await readdirOrEmpty(dir)))) {
    try {
      const text = await readMetadataText(join(dir, `${version}.root.json`));
      out.push({ version, text, md: parseMetadata('root', text) });
    } catch (err) {
      if (!(err instanceof MetadataError)) throw err;
      out.push({ version, error: err });
    }
  }
  return out;
}

/** The texts of a metadata dir, checked for what makes it unloadable (see MetadataStore.load). */
export interface MetadataDirFiles {
  /** Every `N.root.json`, parsed or with its error. */
  history: RootFile[];
  /** The root clients walk to: the highest `N.root.json`, else `root.json`. */
  rootText: string;
  rootJsonText: string | undefined;
  texts: Record<'targets' | 'snapshot' | 'timestamp', string>;
}

/**
 * Reads `dir`: the highest `N.root.json` (else `root.json`) is the root; a `root.json` that lags it is fine (an
 * interrupted save), one that leads it is BAD_VERSION; FILE_NOT_FOUND if the dir or a role is missing.
 */
export async function readMetadataDir(dir: string): Promise<MetadataDirFiles> {
  const names = await readdir(dir).catch((err: unknown) => {
    if (isNotFound(err)) {
      throw new MetadataError({ code: 'FILE_NOT_FOUND', message: `no metadata dir ${dir}`, cause: err });
    }
    throw err;
  });
  const history = await readRootFiles(dir, names);
  const rootJsonText = names.includes('root.json')
    ? await readMetadataText(join(dir, 'root.json'))
    : undefined;
  const latest = history.at(-1);
  if (latest?.error) throw latest.error;
  const rootText = latest?.text ?? rootJsonText;
  if (rootText === undefined) {
    throw new MetadataError({ code: 'FILE_NOT_FOUND', message: `no root.json in ${dir}` });
  }
  const root = parseMetadata('root', rootText);
  if (rootJsonText !== undefined && rootText !== rootJsonText) {
    // root.json may lag N.root.json after an interrupted save (save() rewrites it); it must never lead.
    const rootJson = parseMetadata('root', rootJsonText);
    if (rootJson.signed.version >= root.signed.version) {
      throw new MetadataError({
        code: 'BAD_VERSION',
        message: `root.json (v${rootJson.signed.version}) differs from the latest versioned root ${latest?.version}.root.json`,
      });
    }
  }
  if (latest !== undefined && root.signed.version !== latest.version) {
    throw new MetadataError({
      code: 'BAD_VERSION',
      message: `${latest.version}.root.json holds root version ${root.signed.version}`,
    });
  }
  const texts = {
    targets: await readMetadataText(join(dir, 'targets.json')),
    snapshot: await readMetadataText(join(dir, 'snapshot.json')),
    timestamp: await readMetadataText(join(dir, 'timestamp.json')),
  };
  return { history, rootText, rootJsonText, texts };
}

/** One role as last read from (or written to) disk. */
export interface DiskRole {
  /** The file text (undefined for a role not on disk yet). */
  text: string | undefined;
  version: number;
  expires: string;
  /** The signed part then, as canonical JSON. */
  canonical: string;
  /**
   * The rest of the role then (signatures in order, unknown top-level fields), as JSON. With `canonical` it tells
   * whether the role still serializes as it did then, without keeping (or computing) that serialization: the
   * file is python's json.dumps of `{signatures, signed, ...}` with sorted keys, the same for equal values.
   */
  envelope: string;
}

/** What a role's file holds besides `signed`: its signatures in order and unknown top-level fields, as JSON. */
function envelopeOf(md: AnyRoleMetadata): string {
  return JSON.stringify([Object.values(md.signatures).map((sig) => sig.toJSON()), md.unrecognizedFields]);
}

/** A store's metadata as it is on disk (loaded or last saved): tells what changed and what a save must write. */
export class OnDisk {
  readonly #roles: Partial<Record<RoleName | string, DiskRole>> = {};
  /** Text of root.json, which may lag N.root.json after an interrupted save. */
  rootJsonText: string | undefined;
  /** Every `N.root.json`: the chain clients walk. */
  history: RootFile[] = [];

  /** The instance each role was recorded from, and its signatures then (see isRecorded). */
  readonly #recorded = new Map<string, { md: AnyRoleMetadata; sigs: string }>();

  /**
   * Records `md` as what is on disk (`text`). The canonical form is computed when first needed: a big delegated
   * role that is never changed costs one pass less.
   */
  record(role: RoleName | string, md: AnyRoleMetadata, text: string | undefined): void {
    let canon: string | undefined;
    this.#roles[role] = {
      text,
      version: md.signed.version,
      expires: md.signed.expires,
      get canonical() {
        canon ??= canonicalText(md);
        return canon;
      },
      envelope: envelopeOf(md),
    };
    this.#recorded.set(role, { md, sigs: JSON.stringify(md.signatures) });
  }

  /**
   * Whether `md` is the very instance recorded for `role`, with the same signatures: then it is what is on disk
   * (a role's `signed` is never changed in place: every edit rebuilds it).
   */
  isRecorded(role: RoleName | string, md: AnyRoleMetadata): boolean {
    const r = this.#recorded.get(role);
    return r !== undefined && r.md === md && r.sigs === JSON.stringify(md.signatures);
  }

  get(role: RoleName | string): DiskRole | undefined {
    return this.#roles[role];
  }

  /** Forgets a role (a delegated role that was removed and whose file is gone). */
  forget(role: string): void {
    delete this.#roles[role];
    this.#recorded.delete(role);
  }

  /** Whether `md`'s signed content differs from the role on disk (every role of a new store does). */
  isChanged(role: RoleName | string, md: AnyRoleMetadata): boolean {
    const r = this.#roles[role];
    if (r !== undefined && this.#recorded.get(role)?.md === md) return false;
    return r === undefined || canonicalText(md) !== r.canonical;
  }

  /** Whether `md` serializes exactly as the role did when it was recorded (read or saved). */
  sameAsRecorded(role: RoleName | string, md: AnyRoleMetadata): boolean {
    return this.sameEnvelope(role, md) && !this.isChanged(role, md);
  }

  /** Whether `md`'s signatures and unknown top-level fields are those recorded (see DiskRole.envelope). */
  sameEnvelope(role: RoleName | string, md: AnyRoleMetadata): boolean {
    const r = this.#roles[role];
    return r !== undefined && envelopeOf(md) === r.envelope;
  }

  /** `md`'s file content: the text on disk while `md` is what was read, else what saving it writes. */
  textOf(role: RoleName | string, md: AnyRoleMetadata): string {
    const text = this.#roles[role]?.text;
    return text !== undefined && this.sameAsRecorded(role, md) ? text : serializeMetadata(md);
  }
}

// All-or-nothing changes to a repository: stage every new file, commit with one journal write, then move in place.
//
// Why a journal and not just "write timestamp.json last": with consistent_snapshot false (python tufup's layout)
// targets.json, snapshot.json and timestamp.json have fixed names and reference each other by version, so any
// moment between two of those renames is a state TUF clients reject (snapshot names a targets version that is
// no longer on disk). So every file is first written and fsynced under `.tufup-staging/<id>/`; the commit point
// is the atomic creation of `journal.json` there; then the files are renamed in place (targets, then root,
// targets, snapshot, timestamp metadata) and replaced target files are deleted. A process killed before the
// commit point leaves the repository as it was (the staging dir is discarded later); one killed after it is
// completed ("rolled forward") by the next tufup that opens the repository. Renames are idempotent to replay.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, unlink } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import {
  type Logger,
  fsyncDir,
  isNotFound,
  pathExists,
  readFileOrUndefined,
  readdirOrEmpty,
  silentLogger,
  writeFileAtomic,
} from '@tufup/common';
import { MetadataError } from './errors.js';
import { rootFileVersion } from './files.js';
import type { RoleName } from './roles.js';

export const STAGING_DIRNAME = '.tufup-staging';
const JOURNAL = 'journal.json';
const PENDING = 'pending.json';
const FILES = 'files';

/** The plan of one change: which staged files go where, which repository files go away. */
export interface ChangePlan {
  format: 1;
  created: string;
  command: string;
  /** Repository-relative POSIX paths ("targets/app-2.0.tar.gz", "metadata/timestamp.json"), in commit order. */
  files: string[];
  deletes: string[];
  /** For a parked change: roles still short of their signature threshold. */
  unsignedRoles?: Array<{ role: RoleName | string; have: number; need: number }>;
  /** For a parked change: a human summary ("targets add 2.0"). */
  summary?: string;
}

/** The order in which staged files become visible: target files, then metadata from root to timestamp. */
function commitRank(file: string): number {
  if (file.startsWith('targets/')) return 0;
  const name = posix.basename(file);
  const rootVersion = rootFileVersion(name);
  if (rootVersion !== undefined) return 1 + rootVersion / 1e9;
  if (name === 'root.json') return 2;
  if (name === 'targets.json') return 3;
  if (name === 'snapshot.json') return 4;
  if (name === 'timestamp.json') return 5;
  // Delegated roles (and versioned role files): in place before the snapshot that names them.
  if (name.endsWith('.json')) return 3.5;
  return 6;
}

/**
 * A file of a change is `<dir>/<name>` below the repository dir: `targets/...`, `metadata/...` (or the name of
 * whatever dir a MetadataStore was given). Plans read back from disk are checked too, so none points elsewhere.
 */
function checkRelative(file: string): string {
  const parts = file.split('/');
  const ok =
    posix.normalize(file) === file &&
    parts.length === 2 &&
    parts.every((p) => p !== '' && p !== '.' && p !== '..' && !/[\\\0]/.test(p));
  if (!ok)
    throw new MetadataError({ code: 'INVALID_TARGET_PATH', message: `not a repository file path: ${file}` });
  return file;
}

async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A change being staged (or parked, waiting for more signatures). */
export class Publication {
  readonly #files = new Set<string>();
  readonly #deletes = new Set<string>();

  private constructor(
    readonly repoDir: string,
    /** `<repo>/.tufup-staging/<id>` */
    readonly dir: string,
    readonly command: string,
  ) {}

  static async begin(repoDir: string, command: string): Promise<Publication> {
    const id = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
    const dir = join(repoDir, STAGING_DIRNAME, id);
    await mkdir(join(dir, FILES), { recursive: true });
    return new Publication(repoDir, dir, command);
  }

  /** Where the staged copy of repository file `file` lives (write it there, then `add(file)`). */
  stagedPath(file: string): string {
    return join(this.dir, FILES, ...checkRelative(file).split('/'));
  }

  /** A scratch directory inside the staging dir (same volume; discarded with it). */
  async scratchDir(): Promise<string> {
    const dir = join(this.dir, 'work');
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /** Register a file already written at `stagedPath(file)`. */
  add(file: string): void {
    checkRelative(file);
    this.#files.add(file);
    this.#deletes.delete(file);
  }

  async writeFile(file: string, data: string | Uint8Array): Promise<void> {
    await writeFileAtomic(this.stagedPath(file), data);
    this.add(file);
  }

  /** Delete repository file `file` once the new metadata is in place (it no longer references it). */
  delete(file: string): void {
    checkRelative(file);
    if (!this.#files.has(file)) this.#deletes.add(file);
  }

  get files(): string[] {
    return [...this.#files].sort((a, b) => commitRank(a) - commitRank(b) || a.localeCompare(b));
  }

  get deletes(): string[] {
    return [...this.#deletes].sort();
  }

  plan(extra: Partial<ChangePlan> = {}): ChangePlan {
    return {
      format: 1,
      created: new Date().toISOString(),
      command: this.command,
      files: this.files,
      deletes: this.deletes,
      ...extra,
    };
  }

  async #syncStaged(): Promise<void> {
    for (const file of this.#files) await fsyncFile(this.stagedPath(file));
    await fsyncDir(join(this.dir, FILES, 'targets')).catch(() => {});
    await fsyncDir(join(this.dir, FILES, 'metadata')).catch(() => {});
  }

  /** The commit point, then the moves. After this returns the repository shows the new state. */
  async commit(): Promise<void> {
    await this.#syncStaged();
    await rm(join(this.dir, PENDING), { force: true });
    await writeFileAtomic(join(this.dir, JOURNAL), JSON.stringify(this.plan(), null, 1));
    await applyJournal(this.repoDir, this.dir, this.plan());
  }

  /** Keep the change staged for co-signing (`tufup sign <role>` by the other key holders). */
  async park(
    unsignedRoles: Array<{ role: RoleName | string; have: number; need: number }>,
    summary: string,
  ): Promise<void> {
    await this.#syncStaged();
    await writeFileAtomic(
      join(this.dir, PENDING),
      JSON.stringify(this.plan({ unsignedRoles, summary }), null, 1),
    );
  }

  async discard(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
    await removeIfEmpty(join(this.repoDir, STAGING_DIRNAME));
  }

  /** The parked change of this repository, if any. */
  static async loadParked(
    repoDir: string,
  ): Promise<{ publication: Publication; plan: ChangePlan } | undefined> {
    for (const id of await stagingIds(repoDir)) {
      const dir = join(repoDir, STAGING_DIRNAME, id);
      const plan = await readPlan(join(dir, PENDING));
      if (!plan) continue;
      const publication = new Publication(repoDir, dir, plan.command);
      for (const f of plan.files) publication.add(f);
      for (const f of plan.deletes) publication.delete(f);
      return { publication, plan };
    }
    return undefined;
  }

  /** Read a staged file (or, when this change doesn't touch it, the repository's current one). */
  async readCurrent(file: string): Promise<Buffer> {
    return readFile(this.#files.has(file) ? this.stagedPath(file) : join(this.repoDir, ...file.split('/')));
  }

  has(file: string): boolean {
    return this.#files.has(file);
  }
}

async function removeIfEmpty(dir: string): Promise<void> {
  if ((await readdirOrEmpty(dir)).length === 0) await rm(dir, { recursive: true, force: true });
}

async function stagingIds(repoDir: string): Promise<string[]> {
  return (await readdirOrEmpty(join(repoDir, STAGING_DIRNAME))).sort();
}

async function readPlan(path: string): Promise<ChangePlan | undefined> {
  const text = await readFileOrUndefined(path, 'utf8');
  if (text === undefined) return undefined;
  let plan: ChangePlan;
  try {
    plan = JSON.parse(text) as ChangePlan;
  } catch (cause) {
    throw new MetadataError({ code: 'METADATA_CORRUPT', message: `unreadable change plan ${path}`, cause });
  }
  if (plan.format !== 1 || !Array.isArray(plan.files) || !Array.isArray(plan.deletes)) {
    throw new MetadataError({ code: 'METADATA_CORRUPT', message: `unknown change plan format in ${path}` });
  }
  for (const f of [...plan.files, ...plan.deletes]) checkRelative(f);
  return plan;
}

/** Move staged files in place (skipping those already moved), delete the replaced ones, drop the staging dir. */
async function applyJournal(repoDir: string, dir: string, plan: ChangePlan): Promise<void> {
  const touched = new Set<string>();
  for (const file of plan.files) {
    const from = join(dir, FILES, ...file.split('/'));
    const to = join(repoDir, ...file.split('/'));
    try {
      await rename(from, to);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      // Already moved by an earlier (interrupted) run; but the destination dir may be what's missing.
      if (await pathExists(from)) {
        await mkdir(dirname(to), { recursive: true });
        await rename(from, to);
      }
    }
    touched.add(dirname(to));
  }
  for (const d of touched) await fsyncDir(d);
  for (const file of plan.deletes) await rm(join(repoDir, ...file.split('/')), { force: true });
  // Journal first: a staging dir without a journal is discarded whole, so a kill during cleanup is harmless.
  await unlink(join(dir, JOURNAL)).catch(() => {});
  await rm(dir, { recursive: true, force: true });
  await removeIfEmpty(join(repoDir, STAGING_DIRNAME));
}

export interface RecoveryReport {
  rolledForward: string[];
  discarded: string[];
  parked: string[];
}

/** True when an interrupted committed change waits to be completed (readers then take the lock and recover). */
export async function hasCommittedJournal(repoDir: string): Promise<boolean> {
  for (const id of await stagingIds(repoDir)) {
    if (await pathExists(join(repoDir, STAGING_DIRNAME, id, JOURNAL))) return true;
  }
  return false;
}

/**
 * Finish what a killed writer left: committed changes are completed, uncommitted staging is removed, parked
 * changes stay. Call only while holding the repository lock.
 */
export async function recoverInterrupted(
  repoDir: string,
  logger: Logger = silentLogger,
): Promise<RecoveryReport> {
  const report: RecoveryReport = { rolledForward: [], discarded: [], parked: [] };
  for (const id of await stagingIds(repoDir)) {
    const dir = join(repoDir, STAGING_DIRNAME, id);
    const journal = await readPlan(join(dir, JOURNAL));
    if (journal) {
      logger.warn(`completing an interrupted change (${journal.command}, ${journal.created})`);
      await applyJournal(repoDir, dir, journal);
      report.rolledForward.push(journal.command);
      continue;
    }
    const pending = await readPlan(join(dir, PENDING)).catch(() => undefined);
    if (pending) {
      report.parked.push(pending.command);
      continue;
    }
    logger.debug(`removing the staging files of an interrupted change (${id})`);
    await rm(dir, { recursive: true, force: true });
    report.discarded.push(id);
  }
  await removeIfEmpty(join(repoDir, STAGING_DIRNAME));
  return report;
}

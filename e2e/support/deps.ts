// Copies packages and their runtime dependency closure into an app's own node_modules, keeping npm's layout,
// the way a plain Node app ships its dependencies (the e2e example app is installed this way).
import { cp, readFile, realpath, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** Node's lookup: walk up from `fromDir` through node_modules dirs. */
async function resolvePackageDir(name: string, fromDir: string): Promise<string> {
  let dir = fromDir;
  for (;;) {
    const candidate = join(dir, 'node_modules', name);
    if (await exists(join(candidate, 'package.json'))) return realpath(candidate);
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot resolve ${name} from ${fromDir}`);
    dir = up;
  }
}

/**
 * Where a package of the repo goes under the app's node_modules: `<repo>/node_modules/X` → `X`,
 * `<repo>/packages/P` → `@tufup/P`, and anything nested in a node_modules below either keeps its nesting.
 */
function bundlePath(repoRoot: string, pkgDir: string): string {
  const rel = relative(repoRoot, pkgDir).split(sep);
  if (rel[0] === 'node_modules') return rel.slice(1).join(sep);
  if (rel[0] === 'packages' && rel[1]) return ['@tufup', rel[1], ...rel.slice(2)].join(sep);
  throw new Error(`${pkgDir} is outside ${repoRoot}`);
}

/** Copy `names` (resolved from `repoRoot`) and all they depend on at run time into `destNodeModules`. */
export async function copyDependencyClosure(
  repoRoot: string,
  names: string[],
  destNodeModules: string,
): Promise<number> {
  const done = new Set<string>();
  const visit = async (name: string, from: string): Promise<void> => {
    const src = await resolvePackageDir(name, from);
    if (done.has(src)) return;
    done.add(src);
    // Our own packages ship only dist/; third-party packages are copied whole (their `main` may be anywhere).
    const ours = !relative(repoRoot, src).startsWith('node_modules');
    const skip = ours
      ? /^(node_modules|test|src|\.git)(\/|\\|$)/
      : /^(node_modules|prebuilds|\.git)(\/|\\|$)/;
    await cp(src, join(destNodeModules, bundlePath(repoRoot, src)), {
      recursive: true,
      filter: (p) => {
        const inner = relative(src, p);
        return !skip.test(inner) && !/\.(tsbuildinfo|map)$/.test(inner);
      },
    });
    const pj = JSON.parse(await readFile(join(src, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    for (const dep of Object.keys(pj.dependencies ?? {})) await visit(dep, src);
  };
  for (const n of names) await visit(n, repoRoot);
  return done.size;
}

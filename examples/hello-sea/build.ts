// Builds a release bundle of hello-sea: app.ts and everything it imports bundled by esbuild into one script,
// made into Node's single-executable blob and injected with postject into a copy of a node binary.
//
//   node --import tsx examples/hello-sea/build.ts --version 1.0 --root repository/metadata/root.json --out dist/1.0
//   node --import tsx examples/hello-sea/build.ts --platform win-x64 --node path/to/node.exe --version 1.0 ...
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build, type Plugin } from 'esbuild';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

export type SeaPlatform = 'linux-x64' | 'win-x64';

/** Node's fixed sentinel: postject flips the byte after it so the binary knows it carries a blob. */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/** Beside the executable: files that bundled packages open relative to their own modules. */
export const RESOURCES_DIR = 'resources';

export interface BuildOptions {
  version: string;
  platform: SeaPlatform;
  /** The bundle dir to create (replaced if it exists). */
  outDir: string;
  /** The repository's trusted root.json, shipped beside the executable. */
  trustedRoot: string;
  /**
   * The node binary to make the executable from. Default for linux-x64: the node running this build. Required
   * for win-x64 (a Windows node.exe). It must be the Node release that writes the blob (this one).
   */
  nodeBinary?: string;
  /** Default `hello-sea-<platform>`: each platform is its own app in the repository. */
  appName?: string;
}

export interface BuiltBundle {
  bundleDir: string;
  executable: string;
  appName: string;
  /** Bytes of the executable. */
  size: number;
}

export function executableName(platform: SeaPlatform): string {
  return platform === 'win-x64' ? 'hello-sea.exe' : 'hello-sea';
}

/** `<package name>/<path inside the package>` for a file of an installed package, with its package dir. */
async function packagePathOf(
  file: string,
  roots: Map<string, { name: string; root: string }>,
): Promise<{ name: string; root: string; rel: string } | undefined> {
  let dir = dirname(file);
  for (;;) {
    let found = roots.get(dir);
    if (!found) {
      const pj = await readFile(join(dir, 'package.json'), 'utf8').catch(() => undefined);
      const name = pj ? (JSON.parse(pj) as { name?: string }).name : undefined;
      if (name) {
        found = { name, root: dir };
        roots.set(dir, found);
      }
    }
    if (found) return { ...found, rel: `${found.name}/${relative(dir, file).split(sep).join('/')}` };
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/**
 * A bundled module has no URL of its own. Each `import.meta.url` becomes the URL the module would have under
 * `resources/<package>/<path>` beside the executable; whatever a package opens relative to it (its WebAssembly,
 * its worker threads, its package.json) is laid out there. The packages that do so are collected in `used`.
 */
function moduleUrlPlugin(used: Map<string, { name: string; root: string }>): Plugin {
  const roots = new Map<string, { name: string; root: string }>();
  return {
    name: 'sea-module-url',
    setup(b) {
      b.onLoad({ filter: /\.[cm]?[jt]s$/ }, async (args) => {
        const text = await readFile(args.path, 'utf8');
        if (!text.includes('import.meta.url')) return undefined;
        const at = await packagePathOf(args.path, roots);
        if (!at) throw new Error(`${args.path} uses import.meta.url outside any package`);
        used.set(at.root, { name: at.name, root: at.root });
        return {
          contents: text.replaceAll('import.meta.url', `__seaModuleUrl(${JSON.stringify(at.rel)})`),
          loader: args.path.endsWith('ts') ? 'ts' : 'js',
          resolveDir: dirname(args.path),
        };
      });
    },
  };
}

async function filesUnder(dir: string, match: (rel: string) => boolean): Promise<string[]> {
  const names = (await readdir(dir, { recursive: true }).catch(() => [] as string[])) as string[];
  return names
    .map((n) => n.split(sep).join('/'))
    .filter((n) => !n.split('/').includes('node_modules') && match(n))
    .sort();
}

/**
 * The resources of one package that locates files from its modules: its package.json (name, version, module
 * type), every worker-thread entry under dist/ bundled on its own, and its WebAssembly modules.
 */
async function layOutResources(pkg: { name: string; root: string }, resourcesDir: string): Promise<void> {
  const dest = join(resourcesDir, ...pkg.name.split('/'));
  await mkdir(dest, { recursive: true });
  const pj = JSON.parse(await readFile(join(pkg.root, 'package.json'), 'utf8')) as Record<string, unknown>;
  const { name, version, type } = pj;
  await writeFile(join(dest, 'package.json'), `${JSON.stringify({ name, version, type })}\n`);
  // Only what the package publishes (its `files` dirs), never a test's leftovers.
  const published = ((pj.files as string[] | undefined) ?? ['dist']).filter((f) => /^[\w.-]+$/.test(f));
  for (const top of published) {
    for (const rel of await filesUnder(join(pkg.root, top), (n) => n.endsWith('.wasm'))) {
      await mkdir(dirname(join(dest, top, rel)), { recursive: true });
      await copyFile(join(pkg.root, top, rel), join(dest, top, rel));
    }
  }
  const workers = await filesUnder(join(pkg.root, 'dist'), (n) => n.endsWith('-worker.js'));
  for (const rel of workers) {
    const at = `${pkg.name}/dist/${rel}`;
    // A worker is a file of its own; its modules get URLs relative to where it lies under resources/.
    const up = '../'.repeat(at.split('/').length - 1);
    await build({
      entryPoints: [join(pkg.root, 'dist', rel)],
      outfile: join(dest, 'dist', rel),
      bundle: true,
      platform: 'node',
      format: pj.type === 'module' ? 'esm' : 'cjs',
      target: 'node20',
      logLevel: 'warning',
      banner: {
        js: `const __seaResources = new URL(${JSON.stringify(up)}, import.meta.url);\nconst __seaModuleUrl = (rel) => new URL(rel, __seaResources).href;`,
      },
      plugins: [moduleUrlPlugin(new Map())],
    });
  }
}

/** Builds the bundle dir: the executable, root.json and resources/. */
export async function buildHelloSea(o: BuildOptions): Promise<BuiltBundle> {
  const appName = o.appName ?? `hello-sea-${o.platform}`;
  const nodeBinary = o.nodeBinary ?? (o.platform === 'linux-x64' ? process.execPath : undefined);
  if (!nodeBinary) throw new Error(`building for ${o.platform} needs the platform's node binary (--node)`);
  const work = await mkdtemp(join(tmpdir(), 'hello-sea-build-'));
  try {
    // 1. One CommonJS script (a single executable runs no ES modules and can require only Node's built-ins).
    const used = new Map<string, { name: string; root: string }>();
    const main = join(work, 'main.cjs');
    await build({
      entryPoints: [join(here, 'app.ts')],
      outfile: main,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      logLevel: 'warning',
      // import.meta.resolve only appears in code paths for running from TypeScript sources.
      logOverride: { 'empty-import-meta': 'silent' },
      define: {
        HELLO_SEA_VERSION: JSON.stringify(o.version),
        HELLO_SEA_APP_NAME: JSON.stringify(appName),
      },
      banner: {
        js: `const __seaModuleUrl = (rel) => require('node:url').pathToFileURL(require('node:path').join(require('node:path').dirname(process.execPath), ${JSON.stringify(RESOURCES_DIR)}, rel)).href;`,
      },
      plugins: [moduleUrlPlugin(used)],
    });

    // 2. The blob (no code cache or snapshot: those are specific to the platform that makes them).
    const blob = join(work, 'sea.blob');
    const config = join(work, 'sea-config.json');
    await writeFile(
      config,
      // `main` relative to the work dir: the blob records the script's path as given, and a temp dir's random
      // name in it would make every build of the same version differ.
      JSON.stringify({
        main: 'main.cjs',
        output: blob,
        disableExperimentalSEAWarning: true,
        useCodeCache: false,
      }),
    );
    await run(process.execPath, ['--experimental-sea-config', config], { cwd: work });

    // 3. The bundle dir.
    await rm(o.outDir, { recursive: true, force: true });
    await mkdir(o.outDir, { recursive: true });
    const executable = join(o.outDir, executableName(o.platform));
    await copyFile(nodeBinary, executable);
    await chmod(executable, 0o755);
    // postject's CLI in a child: it prints its own progress, shown only when it fails.
    const postject = join(dirname(require.resolve('postject/package.json')), 'dist', 'cli.js');
    try {
      await run(
        process.execPath,
        [postject, executable, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE],
        {
          maxBuffer: 16 * 1024 * 1024,
        },
      );
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      throw new Error(`postject failed on ${executable}:\n${e.stderr ?? ''}${e.stdout ?? ''}`, {
        cause: err,
      });
    }
    await copyFile(o.trustedRoot, join(o.outDir, 'root.json'));
    for (const pkg of used.values()) await layOutResources(pkg, join(o.outDir, RESOURCES_DIR));
    return { bundleDir: o.outDir, executable, appName, size: (await stat(executable)).size };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function cli(argv: string[]): Promise<void> {
  const { parseArgs } = await import('node:util');
  const { values } = parseArgs({
    args: argv,
    options: {
      version: { type: 'string' },
      platform: { type: 'string', default: 'linux-x64' },
      root: { type: 'string' },
      out: { type: 'string' },
      node: { type: 'string' },
      'app-name': { type: 'string' },
    },
  });
  const platform = values.platform as SeaPlatform;
  if (!values.version || !values.root || !values.out || !['linux-x64', 'win-x64'].includes(platform)) {
    throw new Error(
      'usage: build.ts --version V --root ROOT_JSON --out DIR [--platform linux-x64|win-x64] [--node NODE_BINARY] [--app-name NAME]',
    );
  }
  const built = await buildHelloSea({
    version: values.version,
    platform,
    outDir: resolve(values.out),
    trustedRoot: resolve(values.root),
    ...(values.node ? { nodeBinary: resolve(values.node) } : {}),
    ...(values['app-name'] ? { appName: values['app-name'] } : {}),
  });
  console.log(`${built.appName} ${values.version}: ${built.executable} (${built.size} bytes)`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  cli(process.argv.slice(2)).catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}

// Each public package as `npm pack` would publish it: its listing, its package.json, its README's install line.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import {
  npmPack,
  type PackageJson,
  type PackReport,
  type PublicPackage,
  publicPackages,
  REPO_ROOT,
  readJson,
} from '../support/packing.js';

interface Manifest extends PackageJson {
  description?: string;
  keywords?: string[];
  homepage?: string;
  bugs?: { url?: string };
  repository?: { type?: string; url?: string; directory?: string };
  license?: string;
  author?: string;
  type?: string;
  bin?: Record<string, string>;
  exports?: Record<string, string | Record<string, string>>;
  main?: string;
  types?: string;
  files?: string[];
  sideEffects?: boolean;
  engines?: { node?: string };
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

// Upper bounds that catch a stray build artefact or data file, with room for the packages to grow.
const MAX_TARBALL_BYTES = 400_000;
const MAX_UNPACKED_BYTES = 1_500_000;
const MAX_FILE_BYTES = 300_000;

const builtins = new Set(builtinModules);

/** The package a bare specifier names (`@scope/name/deep` → `@scope/name`), or undefined for relative/builtin. */
function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:'))
    return undefined;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
  return builtins.has(name) ? undefined : name;
}

/** Module specifiers of the import/export statements and dynamic imports in a .js or .d.ts file. */
function importedSpecifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]/gm,
    /^\s*import\s*['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) found.push(m[1] as string);
  return found;
}

describe('npm pack of each public package', () => {
  let packages: PublicPackage[];
  let reports: Map<string, PackReport>;
  let root: Manifest;
  let rootLicense: string;
  let fixedVersion: string;

  before(async () => {
    packages = await publicPackages();
    reports = new Map((await npmPack(packages)).map((r) => [r.name, r]));
    root = await readJson<Manifest>(join(REPO_ROOT, 'package.json'));
    rootLicense = await readFile(join(REPO_ROOT, 'LICENSE'), 'utf8');
    fixedVersion = (await readJson<{ version: string }>(join(REPO_ROOT, 'lerna.json'))).version;
  });

  test('the repository has an MIT LICENSE and says so in the root package.json', () => {
    assert.match(rootLicense, /^MIT License\n/);
    assert.equal(root.license, 'MIT');
    assert.ok(packages.length >= 8, `public packages: ${packages.map((p) => p.manifest.name).join(', ')}`);
  });

  test('every package.json has the metadata npm users look for, agreeing with the root', () => {
    assert.ok(root.repository?.url && root.bugs?.url && root.homepage && root.author && root.engines?.node);
    const web = root.homepage.replace(/#readme$/, '');
    for (const { dir, manifest } of packages) {
      const m = manifest as Manifest;
      const at = `${m.name} (${dir})`;
      assert.ok(m.description && m.description.length > 20, `${at}: description`);
      assert.ok(Array.isArray(m.keywords) && m.keywords.includes('tuf'), `${at}: keywords`);
      assert.deepEqual(m.repository, { type: 'git', url: root.repository.url, directory: dir }, at);
      assert.equal(m.homepage, `${web}/tree/main/${dir}#readme`, at);
      assert.equal(m.bugs?.url, root.bugs.url, at);
      assert.equal(m.license, 'MIT', at);
      assert.equal(m.author, root.author, at);
      assert.equal(m.version, fixedVersion, `${at}: lerna's fixed version`);
      assert.equal(m.type, 'module', at);
      assert.equal(m.sideEffects, false, at);
      assert.equal(m.engines?.node, root.engines.node, `${at}: engines`);
      // One entry point, typed first (TypeScript reads conditions in order), and package.json for tools.
      const dot = m.exports?.['.'];
      assert.ok(dot && typeof dot === 'object', `${at}: exports["."]`);
      assert.deepEqual(Object.keys(dot), ['types', 'default'], `${at}: exports condition order`);
      assert.equal(dot.types, m.types, `${at}: types`);
      assert.equal(dot.default, m.main, `${at}: main`);
      assert.equal(m.exports?.['./package.json'], './package.json', at);
      // Scripts ship inside the tarball: none may run at install time or point at files that are not shipped.
      for (const name of ['test', 'preinstall', 'install', 'postinstall', 'prepare']) {
        assert.equal(m.scripts?.[name], undefined, `${at}: scripts.${name}`);
      }
      for (const [dep, range] of Object.entries(m.dependencies ?? {})) {
        if (dep.startsWith('@tufup/'))
          assert.equal(range, fixedVersion, `${at}: ${dep} at the fixed version`);
        else assert.match(range, /^\^\d/, `${at}: ${dep} takes a caret range, so apps can dedupe it`);
      }
    }
  });

  test('each tarball holds LICENSE, README, package.json, the JS with its types, and nothing else', async (t) => {
    for (const { dir, manifest } of packages) {
      const m = manifest as Manifest;
      const report = reports.get(m.name);
      assert.ok(report, `npm pack listed ${m.name}`);
      const files = new Map(report.files.map((f) => [f.path, f]));
      const at = m.name;
      for (const required of ['LICENSE', 'README.md', 'package.json'])
        assert.ok(files.has(required), `${at}: ${required}`);
      assert.equal(
        await readFile(join(REPO_ROOT, dir, 'LICENSE'), 'utf8'),
        rootLicense,
        `${at}: LICENSE is the root's`,
      );
      const entryPoints = [m.main, m.types, ...Object.values(m.bin ?? {})].map((p) =>
        p?.replace(/^\.\//, ''),
      );
      for (const p of entryPoints) assert.ok(p && files.has(p), `${at}: entry point ${p} is shipped`);
      for (const path of files.keys()) {
        assert.doesNotMatch(
          path,
          /\.map$|\.tsbuildinfo$|^src\/|^test\/|\.test\.|(^|\/)\./,
          `${at}: ${path} is not for users`,
        );
        if (path.startsWith('dist/') && path.endsWith('.js')) {
          assert.ok(files.has(path.replace(/\.js$/, '.d.ts')), `${at}: ${path} has its .d.ts`);
        }
      }
      for (const path of files.keys()) {
        if (!/\.(js|d\.ts)$/.test(path)) continue;
        const text = await readFile(join(REPO_ROOT, dir, path), 'utf8');
        assert.doesNotMatch(text, /sourceMappingURL/, `${at}: ${path} points at no source map`);
      }
      for (const [name, target] of Object.entries(m.bin ?? {})) {
        const text = await readFile(join(REPO_ROOT, dir, target), 'utf8');
        assert.match(text, /^#!\/usr\/bin\/env node\n/, `${at}: bin ${name} starts with a node shebang`);
      }
      assert.ok(report.size < MAX_TARBALL_BYTES, `${at}: tarball ${report.size} B`);
      assert.ok(report.unpackedSize < MAX_UNPACKED_BYTES, `${at}: unpacked ${report.unpackedSize} B`);
      for (const f of report.files) assert.ok(f.size < MAX_FILE_BYTES, `${at}: ${f.path} is ${f.size} B`);
      t.diagnostic(
        `${at}: ${report.files.length} files, ${report.size} B packed, ${report.unpackedSize} B unpacked`,
      );
    }
  });

  test('shipped code imports only declared dependencies, and every dependency is used', async () => {
    for (const { dir, manifest } of packages) {
      const m = manifest as Manifest;
      const declared = new Set([
        ...Object.keys(m.dependencies ?? {}),
        ...Object.keys(m.peerDependencies ?? {}),
      ]);
      const used = new Set<string>();
      const report = reports.get(m.name) as PackReport;
      for (const f of report.files) {
        if (!/\.(js|d\.ts)$/.test(f.path)) continue;
        const text = await readFile(join(REPO_ROOT, dir, f.path), 'utf8');
        for (const spec of importedSpecifiers(text)) {
          const name = packageOf(spec);
          if (!name || name === m.name) continue;
          assert.ok(declared.has(name), `${m.name}: ${f.path} imports ${spec}, not a dependency`);
          used.add(name);
        }
      }
      for (const dep of declared) {
        // @types/* packages are there for the types of a dependency's own .d.ts files (see the package README).
        if (dep.startsWith('@types/')) continue;
        assert.ok(used.has(dep), `${m.name}: dependency ${dep} is not imported by anything shipped`);
      }
    }
  });

  test('each README starts with the install line that names exactly what to install', async () => {
    const names = new Set(packages.map((p) => p.manifest.name));
    for (const { dir, manifest } of packages) {
      const readme = await readFile(join(REPO_ROOT, dir, 'README.md'), 'utf8');
      const lines = readme.split('\n');
      assert.equal(lines[0], `# ${manifest.name}`, `${manifest.name}: README title`);
      const fence = lines.findIndex((l) => l.startsWith('```'));
      assert.ok(fence > 0 && fence < 12, `${manifest.name}: a code block near the top`);
      assert.equal(lines[fence], '```sh', `${manifest.name}: the first code block is the install line`);
      const install = lines[fence + 1] ?? '';
      const m = /^npm install (?:--save-dev )?((?:@tufup\/[a-z-]+ ?)+)(?:\s+#.*)?$/.exec(install);
      assert.ok(m, `${manifest.name}: first line of the first block is an npm install: ${install}`);
      const named = (m[1] as string).trim().split(' ');
      assert.ok(named.includes(manifest.name), `${manifest.name}: the install line names the package itself`);
      for (const n of named) assert.ok(names.has(n), `${manifest.name}: ${n} is one of our public packages`);
    }
  });
});

// The packed tarballs in an app's TypeScript project, as users make them: an ESM one and a CommonJS one (what
// `npm init -y` makes), each compiling every package README's example with `skipLibCheck: false`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import ts from 'typescript';
import { npmPack, type PublicPackage, publicPackages, REPO_ROOT, readJson } from '../support/packing.js';

const run = promisify(execFile);
const TSC = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/** The first ```ts or ```js block of a package README: the example a user copies first. */
async function readmeExample(dir: string): Promise<string> {
  const readme = await readFile(join(REPO_ROOT, dir, 'README.md'), 'utf8');
  const m = /^```(?:ts|js)\n([\s\S]*?)^```$/m.exec(readme);
  assert.ok(m, `${dir}/README.md has a ts or js example`);
  return m[1] as string;
}

/**
 * The example as a CommonJS file can hold it: imports stay at the top, the rest (top-level await is ESM-only)
 * becomes the body of an exported async function.
 */
function asCommonJsModule(example: string): string {
  const sf = ts.createSourceFile('example.ts', example, ts.ScriptTarget.ES2022, true);
  const imports: string[] = [];
  const body: string[] = [];
  for (const st of sf.statements) {
    const text = example.slice(st.getFullStart(), st.getEnd());
    (ts.isImportDeclaration(st) ? imports : body).push(text);
  }
  return `${imports.join('')}\n\nexport async function main(): Promise<void> {${body.join('')}\n}\n`;
}

/** Runs a command; on failure the assertion shows what it printed. */
async function sh(cmd: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { cwd, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    assert.fail(`${cmd} ${args.join(' ')} in ${cwd} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}${e.message}`);
  }
}

/** What a TypeScript user's tsconfig says, strict and without skipLibCheck: our .d.ts and every one they pull in are checked. */
function tsconfig(kind: 'esm' | 'cjs'): object {
  return {
    compilerOptions: {
      target: 'es2022',
      module: 'nodenext',
      moduleResolution: 'nodenext',
      strict: true,
      noUncheckedIndexedAccess: true,
      exactOptionalPropertyTypes: true,
      skipLibCheck: false,
      types: ['node'],
      outDir: 'out',
      rootDir: '.',
      // What `tsc --init` sets; a CommonJS project that kept it could not write `import` at all.
      ...(kind === 'esm' ? { verbatimModuleSyntax: true } : {}),
    },
    include: ['*.ts'],
  };
}

describe('the packed packages in TypeScript consumer projects (skipLibCheck: false)', () => {
  let work: string;
  let packages: PublicPackage[];
  const projects: Record<'esm' | 'cjs', string> = { esm: '', cjs: '' };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'tufup-consumers-'));
    packages = await publicPackages();
    const tarballDir = join(work, 'tarballs');
    await mkdir(tarballDir);
    const packed = await npmPack(packages, tarballDir);
    const tarballs = packed.map((p) => join(tarballDir, p.filename));
    const root = await readJson<{ devDependencies: Record<string, string> }>(join(REPO_ROOT, 'package.json'));
    const typesNode = `@types/node@${root.devDependencies['@types/node']}`;
    await Promise.all(
      (['esm', 'cjs'] as const).map(async (kind) => {
        const dir = join(work, kind);
        projects[kind] = dir;
        await mkdir(dir);
        await sh('npm', ['init', '-y'], dir);
        if (kind === 'esm') await sh('npm', ['pkg', 'set', 'type=module'], dir);
        // The packages' own dependencies come from npm's cache (filled by the repository's `npm ci`).
        await sh(
          'npm',
          ['install', '--prefer-offline', '--no-audit', '--no-fund', ...tarballs, typesNode],
          dir,
        );
        await writeFile(join(dir, 'tsconfig.json'), `${JSON.stringify(tsconfig(kind), null, 2)}\n`);
      }),
    );
  });

  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('npm init -y makes a CommonJS project, and the other one is ESM', async () => {
    assert.equal(
      (await readJson<{ type?: string }>(join(projects.cjs, 'package.json'))).type ?? 'commonjs',
      'commonjs',
    );
    assert.equal((await readJson<{ type?: string }>(join(projects.esm, 'package.json'))).type, 'module');
  });

  test('ESM: every README example compiles as written, and every package loads with import()', async () => {
    for (const { dir } of packages) {
      await writeFile(join(projects.esm, `${dir.split('/').pop()}.ts`), await readmeExample(dir));
    }
    await sh(process.execPath, [TSC, '-p', '.'], projects.esm);
    for (const { manifest } of packages) {
      const out = await sh(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const m = await import(${JSON.stringify(manifest.name)}); console.log(Object.keys(m).length);`,
        ],
        projects.esm,
      );
      assert.ok(Number(out) > 0, `${manifest.name} exports something`);
    }
  });

  test('CommonJS: every README example compiles inside an async function, and the output runs require()', async () => {
    const names: string[] = [];
    for (const { dir } of packages) {
      const name = dir.split('/').pop() as string;
      names.push(name);
      await writeFile(join(projects.cjs, `${name}.ts`), asCommonJsModule(await readmeExample(dir)));
    }
    await sh(process.execPath, [TSC, '-p', '.'], projects.cjs);
    const emitted = await readdir(join(projects.cjs, 'out'));
    for (const name of names) {
      const js = await readFile(join(projects.cjs, 'out', `${name}.js`), 'utf8');
      assert.match(js, /require\("@tufup\//, `${name}.js loads our package with require()`);
      assert.ok(emitted.includes(`${name}.js`));
    }
    // Loading each file runs its require() of our ESM packages (Node >= 20.19 loads ESM that has no top-level await).
    const script = `for (const f of ${JSON.stringify(names)}) { const m = require('./out/' + f + '.js'); if (typeof m.main !== 'function') throw new Error(f); }`;
    await sh(process.execPath, ['-e', script], projects.cjs);
  });
});

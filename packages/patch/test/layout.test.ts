// The apply side is what a security reviewer audits on its own: nothing under src/apply/, nor anything it
// imports (transitively), may reach the diff side (src/diff/).
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { withTempDir } from '@tufup/common';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** Every .ts file under `dir`. */
async function sourcesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sourcesUnder(p)));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Relative module specifiers of a source file: static imports and re-exports, and dynamic imports. */
function relativeSpecifiers(source: string): string[] {
  const specs: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of source.matchAll(re)) specs.push(m[1] as string);
  return specs.filter((s) => s.startsWith('.'));
}

/**
 * Every source file reachable from `roots` through relative imports, each with the chain that reached it
 * (for the failure message). A specifier that resolves to no file fails the walk: a reviewer must see it.
 */
async function importClosure(roots: string[]): Promise<Map<string, string[]>> {
  const seen = new Map<string, string[]>();
  const queue = roots.map((r) => [r] as string[]);
  while (queue.length > 0) {
    const chain = queue.shift() as string[];
    const file = chain[chain.length - 1] as string;
    if (seen.has(file)) continue;
    seen.set(file, chain);
    for (const spec of relativeSpecifiers(await readFile(file, 'utf8'))) {
      const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
      await readFile(target).catch(() => assert.fail(`${file} imports ${spec}, which is no source file`));
      queue.push([...chain, target]);
    }
  }
  return seen;
}

/** The files of the closure of `applyDir` that lie under `diffDir`, as readable import chains. */
async function crossings(applyDir: string, diffDir: string, root: string): Promise<string[]> {
  const closure = await importClosure(await sourcesUnder(applyDir));
  const bad: string[] = [];
  for (const [file, chain] of closure) {
    if (file.startsWith(diffDir + sep)) bad.push(chain.map((f) => relative(root, f)).join(' -> '));
  }
  return bad;
}

test('nothing the apply side imports, directly or not, lies on the diff side', async () => {
  const closure = await importClosure(await sourcesUnder(join(SRC, 'apply')));
  // The walk really follows imports out of src/apply/: the shared format and the error class are reached.
  assert.ok(closure.has(join(SRC, 'format', 'native.ts')));
  assert.ok(closure.has(join(SRC, 'format', 'model.ts')));
  assert.ok(closure.has(join(SRC, 'errors.ts')));
  assert.deepEqual(await crossings(join(SRC, 'apply'), join(SRC, 'diff'), SRC), []);
});

test('the layout check finds an import that reaches the diff side through a shared file', async () => {
  await withTempDir(async (dir) => {
    await mkdir(join(dir, 'apply', 'native'), { recursive: true });
    await mkdir(join(dir, 'format'));
    await mkdir(join(dir, 'diff'));
    await writeFile(join(dir, 'apply', 'native', 'a.ts'), "import { b } from '../../format/b.js';\n");
    await writeFile(join(dir, 'format', 'b.ts'), "export { c as b } from '../diff/c.js';\n");
    await writeFile(join(dir, 'diff', 'c.ts'), 'export const c = 1;\n');
    assert.deepEqual(await crossings(join(dir, 'apply'), join(dir, 'diff'), dir), [
      ['apply/native/a.ts', 'format/b.ts', 'diff/c.ts'].map((p) => p.split('/').join(sep)).join(' -> '),
    ]);
    // A dynamic import is an import too.
    await writeFile(join(dir, 'format', 'b.ts'), "export const b = () => import('../diff/c.js');\n");
    assert.equal((await crossings(join(dir, 'apply'), join(dir, 'diff'), dir)).length, 1);
    // And without the crossing the check passes.
    await writeFile(join(dir, 'format', 'b.ts'), 'export const b = 1;\n');
    assert.deepEqual(await crossings(join(dir, 'apply'), join(dir, 'diff'), dir), []);
  });
});

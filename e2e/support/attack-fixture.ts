// The python tufup fixture as the interop tests read it: where it is, its manifest, and checks of an installed
// tree and of python-tuf's JSON formatting that don't rely on our own serializer.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PYTHON_TUFUP_FIXTURE } from '../../test-support/fixture.js';
import { treeDigest } from './scenario.js';

export const FIXTURE = PYTHON_TUFUP_FIXTURE;

export interface FixtureFile {
  type: 'file' | 'symlink';
  size?: number;
  sha256?: string;
  mode?: string;
  target?: string;
}

export interface FixtureBundle {
  version: string;
  required: boolean;
  user_custom: unknown;
  files: Record<string, FixtureFile>;
  archive: { path: string; tar_size: number; tar_sha256: string; custom: unknown };
  patch?: { path: string; from_version: string; custom: unknown };
}

export interface FixtureManifest {
  app_name: string;
  bundles: FixtureBundle[];
}

export interface FixtureScenarioStep {
  scenario: string;
  step: string;
  updated_to: string | null;
  mode: 'patch' | 'full' | null;
  downloaded: string[] | null;
  root_version?: number | null;
}

export async function readFixtureManifest(): Promise<FixtureManifest> {
  return JSON.parse(await readFile(join(FIXTURE, 'manifest.json'), 'utf8')) as FixtureManifest;
}

export async function readFixtureScenarios(): Promise<FixtureScenarioStep[]> {
  const text = await readFile(join(FIXTURE, 'client-scenarios.json'), 'utf8');
  return (JSON.parse(text) as { scenarios: FixtureScenarioStep[] }).scenarios;
}

/** `dir` holds exactly the files of `bundle` (no more, no fewer): type, size, sha256, mode, link target. */
export async function assertTreeIsBundle(dir: string, bundle: FixtureBundle): Promise<void> {
  const tree = await treeDigest(dir);
  const got: Record<string, FixtureFile> = {};
  for (const [path, e] of Object.entries(tree)) {
    if (e.type === 'dir') continue;
    got[path] =
      e.type === 'symlink'
        ? { type: 'symlink', target: e.target! }
        : { type: 'file', sha256: e.sha256!, mode: `0o${e.mode!.toString(8)}` };
  }
  const want: Record<string, FixtureFile> = {};
  for (const [path, f] of Object.entries(bundle.files)) {
    want[path] =
      f.type === 'symlink'
        ? { type: 'symlink', target: f.target! }
        : { type: 'file', sha256: f.sha256!, mode: f.mode! };
  }
  assert.deepEqual(got, want, `the installed tree is exactly bundle ${bundle.version}`);
}

/**
 * What python-tuf writes for `text`'s JSON: `json.dumps(indent=1, sort_keys=True)` with ensure_ascii, no
 * trailing newline. Built from JSON.stringify (same separators with an indent) plus python's \uXXXX escapes.
 */
export function pythonTufFormat(text: string): string {
  const sorted = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sorted);
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v)
          .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
          .map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return JSON.stringify(sorted(JSON.parse(text)), null, 1).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * The shape of a JSON value: objects keep their keys (keyids, which differ per repository, become `<keyid>`),
 * arrays become the set of their elements' shapes, scalars their JSON type.
 */
export function jsonShape(v: unknown): unknown {
  if (v === null) return 'null';
  if (Array.isArray(v)) {
    const shapes = new Map<string, unknown>();
    for (const e of v) shapes.set(JSON.stringify(jsonShape(e)), jsonShape(e));
    return [...shapes.keys()].sort().map((k) => shapes.get(k));
  }
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
      out[/^[0-9a-f]{64}$/.test(k) ? '<keyid>' : k] = jsonShape(val);
    }
    return out;
  }
  return typeof v === 'number' && Number.isInteger(v) ? 'integer' : typeof v;
}

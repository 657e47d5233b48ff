// The linear-time Targets/Snapshot conversions give exactly what @tufjs/models' own ones give, errors included.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Snapshot, Targets } from '@tufjs/models';
import { replacedConversions } from '../src/models-linear.js';
import { parseMetadata, serializeMetadata } from '../src/index.js';
import { FIXTURE_METADATA } from './helpers.js';

type Json = Record<string, unknown>;
// biome-ignore lint/suspicious/noExplicitAny: the patched classes' statics.
type Cls = any;

/** `data` converted by the original and by the replacement: fromJSON, then toJSON, compared as JSON text (key order too). */
function bothWays(cls: Cls, data: Json): { original: string; linear: string } {
  const original = replacedConversions.get(cls.name);
  assert.ok(original, `${cls.name} was replaced`);
  const a = original.fromJSON.call(cls, structuredClone(data));
  const b = cls.fromJSON(structuredClone(data));
  // Each object through both toJSONs: all four must agree.
  const texts = [a, b].flatMap((signed) => [
    JSON.stringify(original.toJSON.call(signed)),
    JSON.stringify(signed.toJSON()),
  ]);
  for (const t of texts) assert.equal(t, texts[0]);
  const field = cls === Targets ? 'targets' : 'meta';
  assert.deepEqual(Object.keys(b[field] as Json), Object.keys(a[field] as Json));
  return { original: texts[0]!, linear: texts[3]! };
}

/** Both fromJSONs on `data`: the same error (class and message), or the same result. */
function sameOutcome(cls: Cls, data: unknown): void {
  const original = replacedConversions.get(cls.name)!;
  const run = (f: () => unknown) => {
    try {
      return { ok: JSON.stringify((f() as { toJSON(): unknown }).toJSON()) };
    } catch (err) {
      return { error: `${(err as Error).constructor.name}: ${(err as Error).message}` };
    }
  };
  assert.deepEqual(
    run(() => cls.fromJSON(structuredClone(data))),
    run(() => original.fromJSON.call(cls, structuredClone(data) as Json)),
  );
}

const target = (n: number) => ({
  length: n,
  hashes: { sha256: n.toString(16).padStart(64, '0') },
  custom: { tufup: { required: n % 2 === 0 }, user: null },
});

const common = { _type: 'targets', spec_version: '1.0.31', version: 3, expires: '2030-01-01T00:00:00Z' };

describe('linear Targets and Snapshot conversions', () => {
  it("give the original's result for python tufup's targets.json and snapshot.json, byte for byte once serialized", async () => {
    for (const [file, cls] of [
      ['targets.json', Targets],
      ['snapshot.json', Snapshot],
    ] as const) {
      const text = await readFile(join(FIXTURE_METADATA, file), 'utf8');
      const json = JSON.parse(text) as { signed: Json };
      bothWays(cls, json.signed);
      assert.equal(serializeMetadata(parseMetadata(cls === Targets ? 'targets' : 'snapshot', text)), text);
    }
  });

  it('keep key order, integer-like and __proto__ keys, unrecognized fields and delegations', () => {
    const targets: Json = {};
    for (const name of ['b-1.0.tar.gz', '10', '2', 'a/b/c.patch', '__proto__', 'ünï.tar.gz', 'constructor']) {
      Object.defineProperty(targets, name, { value: target(name.length), enumerable: true, writable: true });
    }
    const delegations = {
      keys: {},
      roles: [{ name: 'win', keyids: [], threshold: 1, terminating: true, paths: ['app-win-x64-*'] }],
    };
    const { linear } = bothWays(Targets, { ...common, targets, delegations, x_extra: { a: 1 } });
    assert.match(linear, /"__proto__":\{"length":9/);
    const meta: Json = {};
    for (const name of ['targets.json', 'win.json', '7.json', '__proto__']) {
      Object.defineProperty(meta, name, {
        value: { version: name.length },
        enumerable: true,
        writable: true,
      });
    }
    bothWays(Snapshot, { ...common, _type: 'snapshot', meta });
  });

  it('1,000 targets convert the same', () => {
    const targets: Json = {};
    for (let i = 0; i < 1_000; i++) targets[`app-1.0.${i}.tar.gz`] = target(i);
    const { original, linear } = bothWays(Targets, { ...common, targets });
    assert.equal(linear.length, original.length);
  });

  it('refuse what the originals refuse, with the same error', () => {
    for (const targets of [
      null,
      'x',
      [1],
      { 'a.tar.gz': 'not an object' },
      { 'a.tar.gz': { length: -1 } },
      [],
    ]) {
      sameOutcome(Targets, { ...common, targets });
    }
    sameOutcome(Targets, { ...common, version: 'x', targets: { 'a.tar.gz': target(1) } });
    sameOutcome(Targets, { ...common }); // no targets: the original's default
    for (const meta of [null, { 'targets.json': 'x' }, { 'targets.json': { version: 0 } }, {}]) {
      sameOutcome(Snapshot, { ...common, _type: 'snapshot', meta });
    }
    sameOutcome(Snapshot, { ...common, _type: 'snapshot' });
  });
});

// Our canonical JSON writer gives exactly @tufjs/canonical-json's bytes (what tuf-js and python-tuf verify).
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { canonicalize } from '@tufjs/canonical-json';
import { Metadata, Targets } from '@tufjs/models';
import { canonical, canonicalText } from '../src/signatures.js';
import type { AnyRoleMetadata } from '../src/roles.js';
import { FIXTURE_METADATA } from './helpers.js';

/** A role whose `signed.toJSON()` is `json` as it is (to feed the writer any JSON value). */
const asRole = (json: unknown) => ({ signed: { toJSON: () => json } }) as unknown as AnyRoleMetadata;

test("canonicalText equals canonicalize for python tufup's metadata and for awkward values", async () => {
  for (const name of (await readdir(FIXTURE_METADATA)).filter((n) => n.endsWith('.json'))) {
    const json = JSON.parse(await readFile(join(FIXTURE_METADATA, name), 'utf8'));
    const role = name.includes('root') ? 'root' : name.replace(/^\d+\./, '').replace('.json', '');
    const md = Metadata.fromJSON(role as never, json) as unknown as AnyRoleMetadata;
    assert.equal(canonicalText(md), canonicalize(md.signed.toJSON()), name);
    assert.deepEqual(canonical(md), Buffer.from(canonicalize(md.signed.toJSON()), 'utf8'));
  }
  const awkward: unknown[] = [
    { b: 1, a: [true, false, null, -0, -12, 2 ** 53 - 1, 1e21], '10': {}, '9': [], '': '' },
    {
      'quote"key': 'back\\slash "and" quote',
      'é😀\uffff': 'ünï\n\t\u0000',
      nested: [[[{}]]],
      z: { y: { x: 'w' } },
    },
    'just a string',
    [],
    {},
    { Z: 1, a: 2, _: 3, '~': 4, ä: 5 },
  ];
  for (const value of awkward) assert.equal(canonicalText(asRole(value)), canonicalize(value as never));
  const many = new Targets({ version: 1, specVersion: '1.0.31', expires: '2030-01-01T00:00:00Z' });
  assert.equal(canonicalText(new Metadata(many) as never), canonicalize(many.toJSON()));
});

test('canonicalText refuses what canonicalize refuses (floats, undefined)', () => {
  for (const value of [{ a: 1.5 }, [undefined], { a: Number.NaN }, 1.5]) {
    assert.throws(() => canonicalText(asRole(value)), TypeError);
    assert.throws(() => canonicalize(value as never), TypeError);
  }
});

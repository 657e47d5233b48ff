// A seeded fuzz run over damaged native patches: every one is rebuilt exactly or refused with a coded error.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { fuzzNative } from './native-support.js';

test('2000 seeded damaged native patches: exact rebuild or a coded error, never a file left', async () => {
  const stats = await withTempDir((dir) => fuzzNative(dir, 2000, 20251126));
  assert.equal(stats.cases, 2000);
  console.log(`fuzz: ${JSON.stringify(stats)}`);
  // The damage must mostly be caught, by more than one check.
  assert.ok(Object.keys(stats.byCode).length >= 4, JSON.stringify(stats));
  assert.ok(stats.applied < stats.cases / 2, JSON.stringify(stats));
});

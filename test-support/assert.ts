// Assertions every package's tests share: a rejection with one of our coded errors.
import assert from 'node:assert/strict';

/** Asserts that `fn` throws or rejects with an instance of `type` whose `code` is `code`; returns the error. */
export async function assertRejectsWithCode<E extends Error & { code: string }>(
  fn: () => unknown,
  type: abstract new (...args: never[]) => E,
  code: E['code'],
  message?: RegExp,
): Promise<E> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught !== undefined, `expected a ${code} error, nothing was thrown`);
  assert.ok(caught instanceof type, `expected a ${type.name}, got ${String(caught)}`);
  assert.equal(caught.code, code, `expected ${code}, got ${caught.code}: ${caught.message}`);
  if (message) assert.match(caught.message, message);
  return caught;
}

// Runs the README's example as a user would, in a child process, so the documented API stays real.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { withTempDir } from '@tufup/common';

const pkg = fileURLToPath(new URL('..', import.meta.url));

test('the README example runs and publishes a release', async () => {
  const readme = await readFile(join(pkg, 'README.md'), 'utf8');
  const code = /## Example\n\n```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(code, 'README has an Example ts block');
  await withTempDir(async (dir) => {
    const file = join(dir, 'example.mts');
    // The example imports the package; run it against this checkout's sources.
    await writeFile(
      file,
      code.replace("from '@tufup/metadata'", `from ${JSON.stringify(join(pkg, 'src/index.ts'))}`),
    );
    // No time limit: on a busy machine tsx alone can take longer than any fixed bound.
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', file], { cwd: pkg });
    assert.match(stdout, /targets\.json.*snapshot\.json.*timestamp\.json/s);
  });
});

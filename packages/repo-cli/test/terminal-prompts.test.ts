// On a real terminal (a pty from util-linux `script`): interactive init, and passphrase prompts without echo.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withTempDir } from '@tufup/common';
import { BIN, childEnv, readJson } from './helpers.js';

/** A `tufup` running on a pseudo-terminal, driven like a person: wait for a prompt, type an answer. */
class TerminalSession {
  output = '';
  #seen = 0;
  readonly exited: Promise<number | null>;
  readonly #child;

  constructor(args: string[], cwd: string, env: Record<string, string> = {}) {
    const command = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    this.#child = spawn('script', ['-qec', command, '/dev/null'], {
      cwd,
      env: childEnv(env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.#child.stdout.on('data', (d: Buffer) => {
      this.output += d.toString();
    });
    this.exited = new Promise((resolve) => this.#child.on('close', (code) => resolve(code)));
  }

  /** Resolves once `pattern` appears in output not consumed by an earlier wait. */
  async waitFor(pattern: RegExp, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rest = this.output.slice(this.#seen);
      const m = pattern.exec(rest);
      if (m) {
        this.#seen += m.index + m[0].length;
        return;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; output:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  type(text: string): void {
    this.#child.stdin.write(text);
  }

  async answer(prompt: RegExp, text: string): Promise<void> {
    await this.waitFor(prompt);
    this.type(`${text}\r`);
  }
}

test('interactive init on a terminal, then a passphrase prompt that does not echo and asks again when wrong', async () => {
  await withTempDir(async (dir) => {
    const init = new TerminalSession(['init'], dir);
    await init.answer(/Application name:/, 'my_app');
    await init.answer(/Repository directory:/, '');
    await init.answer(/Directory for private keys:/, '');
    await init.answer(/Patch format:/, '');
    await init.answer(/Key names for the root role/, 'root root2');
    await init.answer(/Days until root signatures expire:/, '90');
    await init.answer(/Signatures needed for root \(1-2\):/, '2');
    for (const role of ['targets', 'snapshot', 'timestamp']) {
      await init.answer(new RegExp(`Key names for the ${role} role`), '');
      await init.answer(new RegExp(`Days until ${role} signatures expire:`), '');
    }
    await init.answer(/Encrypt key "root"/, 'y');
    for (const key of ['root2', 'targets', 'snapshot', 'timestamp'])
      await init.answer(new RegExp(`Encrypt key "${key}"`), '');
    await init.answer(/New passphrase for key "root":/, 'sw0rdfish-42');
    await init.answer(/Repeat the passphrase:/, 'sw0rdfish-42');
    assert.equal(await init.exited, 0, init.output);
    assert.ok(!init.output.includes('sw0rdfish-42'), 'the passphrase was echoed');
    const config = await readJson<{
      key_map: { root: string[] };
      thresholds: { root: number };
      expiration_days: { root: number };
      encrypted_keys: string[];
    }>(join(dir, '.tufup-repo-config'));
    assert.deepEqual(config.key_map.root, ['root', 'root2']);
    assert.equal(config.thresholds.root, 2);
    assert.equal(config.expiration_days.root, 90);
    assert.deepEqual(config.encrypted_keys, ['root']);
    assert.match(await readFile(join(dir, 'keystore', 'root'), 'utf8'), /@@@@/);

    // Re-signing root needs the encrypted key: a wrong passphrase is asked again, the right one works.
    const sign = new TerminalSession(['sign', 'root', '-e', 'keystore'], dir);
    await sign.answer(/Passphrase for key "root":/, 'not-it');
    await sign.answer(/Wrong passphrase\. Passphrase for key "root":/, 'sw0rdfish-42');
    assert.equal(await sign.exited, 0, sign.output);
    assert.match(sign.output, /root: re-signed/);
    assert.ok(
      !sign.output.includes('sw0rdfish-42') && !sign.output.includes('not-it'),
      'a passphrase was echoed',
    );
    assert.equal(
      (await readJson<{ signed: { version: number } }>(join(dir, 'repository/metadata/2.root.json'))).signed
        .version,
      2,
    );
  });
});

// The questions `tufup init` asks on a terminal (python tufup's order), answered into InitOptions.
import { dirname, relative } from 'node:path';
import { pathExists } from '@tufup/common';
import { DEFAULT_EXPIRATION_DAYS, ROLE_NAMES } from '@tufup/metadata';
import type { PatchFormat } from '@tufup/patch';
import {
  DEFAULT_KEYS_DIR,
  DEFAULT_REPO_DIR,
  DEFAULT_THRESHOLDS,
  assertAppName,
  assertKeyName,
  loadConfig,
  type PerRole,
  type RepoConfig,
} from './config.js';
import type { InitOptions } from './repository/types.js';

interface PromptIo {
  stderr: NodeJS.WriteStream;
  cwd: string;
  signal?: AbortSignal;
}

function validator(check: (v: string) => unknown): (v: string) => true | string {
  return (v) => {
    try {
      check(v);
      return true;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  };
}

function splitNames(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter(Boolean))];
}

/** Ask everything; undefined when the user keeps an existing configuration unchanged. */
export async function runInteractiveInit(configPath: string, io: PromptIo): Promise<InitOptions | undefined> {
  const { confirm, input, number, select } = await import('@inquirer/prompts');
  const ctx = { output: io.stderr, ...(io.signal ? { signal: io.signal } : {}) };
  let existing: RepoConfig | undefined;
  if (await pathExists(configPath)) {
    existing = await loadConfig(configPath);
    const modify = await confirm(
      { message: `Found existing configuration ${configPath}. Modify?`, default: false },
      ctx,
    );
    if (!modify) return undefined;
  }
  const appName = await input(
    { message: 'Application name:', default: existing?.appName, validate: validator(assertAppName) },
    ctx,
  );
  const configDir = dirname(configPath);
  const shown = (p: string | undefined, fallback: string) => (p ? relative(configDir, p) || '.' : fallback);
  const repoDir = await input(
    { message: 'Repository directory:', default: shown(existing?.repoDir, DEFAULT_REPO_DIR) },
    ctx,
  );
  const keysDir = await input(
    { message: 'Directory for private keys:', default: shown(existing?.keysDir, DEFAULT_KEYS_DIR) },
    ctx,
  );
  const patchFormat = await select<PatchFormat>(
    {
      message: 'Patch format:',
      choices: [
        { name: 'native (smaller and faster; for tufup-ts clients)', value: 'native' },
        { name: 'bsdiff4 (BSDIFF40; python tufup clients can apply it too)', value: 'bsdiff4' },
      ],
      default: existing?.patchFormat ?? 'native',
    },
    ctx,
  );
  const keyMap = {} as PerRole<string[]>;
  const thresholds = {} as PerRole<number>;
  const expirationDays = {} as PerRole<number>;
  for (const role of ROLE_NAMES) {
    const names = await input(
      {
        message: `Key names for the ${role} role (space separated):`,
        default: (existing?.keyMap[role] ?? [role]).join(' '),
        validate: validator((v) => {
          const list = splitNames(v);
          if (list.length === 0) throw new Error('at least one key');
          for (const n of list) assertKeyName(n);
        }),
      },
      ctx,
    );
    keyMap[role] = splitNames(names);
    expirationDays[role] =
      (await number(
        {
          message: `Days until ${role} signatures expire:`,
          default: existing?.expirationDays[role] ?? DEFAULT_EXPIRATION_DAYS[role],
          min: 1,
          required: true,
        },
        ctx,
      )) ?? DEFAULT_EXPIRATION_DAYS[role];
    const keyCount = keyMap[role].length;
    thresholds[role] =
      keyCount === 1
        ? 1
        : ((await number(
            {
              message: `Signatures needed for ${role} (1-${keyCount}):`,
              default: Math.min(existing?.thresholds[role] ?? DEFAULT_THRESHOLDS[role], keyCount),
              min: 1,
              max: keyCount,
              step: 1,
              required: true,
            },
            ctx,
          )) ?? 1);
  }
  const encryptedKeys: string[] = [];
  for (const key of new Set(ROLE_NAMES.flatMap((r) => keyMap[r]))) {
    const encrypt = await confirm(
      {
        message: `Encrypt key "${key}" with a passphrase? (yes for offline keys; no for keys used by automated jobs)`,
        default: existing?.encryptedKeys.includes(key) ?? false,
      },
      ctx,
    );
    if (encrypt) encryptedKeys.push(key);
  }
  return {
    appName,
    ...(repoDir ? { repoDir } : {}),
    ...(keysDir ? { keysDir } : {}),
    keyMap,
    thresholds,
    expirationDays,
    encryptedKeys,
    patchFormat,
    overwriteConfig: existing !== undefined,
  };
}

// Where passphrases for encrypted private keys come from: the environment, else a no-echo prompt on a terminal.
import { RepoError } from './errors.js';

/** `TUFUP_PASSPHRASE_<KEYNAME>`: upper-cased, every non-alphanumeric character as `_`. */
export function passphraseEnvVar(keyName: string): string {
  return `TUFUP_PASSPHRASE_${keyName.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

export interface PassphraseSource {
  /** The passphrase of an existing encrypted key. `attempt` counts from 1 (a prompt says when it retries). */
  forKey(keyName: string, attempt?: number): Promise<string>;
  /** A passphrase for a new encrypted key (asked twice on a terminal). */
  forNewKey(keyName: string): Promise<string>;
  /** True when a wrong passphrase can be asked for again (a human at a terminal), false for the environment. */
  canRetry(keyName: string): boolean;
}

export interface PassphraseSourceOptions {
  env?: NodeJS.ProcessEnv;
  /** Ask on the terminal when the environment has nothing. Default: stdin and stderr are both TTYs. */
  interactive?: boolean;
  signal?: AbortSignal;
}

/**
 * The environment wins when it names a passphrase (an explicit choice, e.g. in CI or a script); otherwise a
 * terminal prompt without echo; otherwise PASSPHRASE_REQUIRED. Passphrases are never logged or echoed.
 */
export function passphraseSource(opts: PassphraseSourceOptions = {}): PassphraseSource {
  const env = opts.env ?? process.env;
  const interactive = opts.interactive ?? Boolean(process.stdin.isTTY && process.stderr.isTTY);
  const fromEnv = (keyName: string): string | undefined => {
    const specific = env[passphraseEnvVar(keyName)];
    if (specific !== undefined) return specific;
    return env.TUFUP_PASSPHRASE;
  };
  const required = (keyName: string) =>
    new RepoError({
      code: 'PASSPHRASE_REQUIRED',
      message: `key "${keyName}" is encrypted: set ${passphraseEnvVar(keyName)} (or TUFUP_PASSPHRASE), or run on a terminal`,
    });
  const ask = async (message: string): Promise<string> => {
    const { password } = await import('@inquirer/prompts');
    return password(
      { message, mask: false },
      { output: process.stderr, ...(opts.signal ? { signal: opts.signal } : {}) },
    );
  };
  return {
    canRetry: (keyName) => fromEnv(keyName) === undefined && interactive,
    async forKey(keyName, attempt = 1) {
      const given = fromEnv(keyName);
      // An empty variable is almost always a CI secret that is not defined for this job, not a passphrase.
      if (given === '') throw emptyEnvPassphrase(keyName, env);
      if (given !== undefined) return given;
      if (!interactive) throw required(keyName);
      return ask(`${attempt > 1 ? 'Wrong passphrase. ' : ''}Passphrase for key "${keyName}":`);
    },
    async forNewKey(keyName) {
      const given = fromEnv(keyName);
      if (given !== undefined) {
        if (given === '') throw emptyPassphrase(keyName);
        return given;
      }
      if (!interactive) throw required(keyName);
      for (;;) {
        const first = await ask(`New passphrase for key "${keyName}":`);
        if (first === '') {
          process.stderr.write('The passphrase must not be empty.\n');
          continue;
        }
        const second = await ask('Repeat the passphrase:');
        if (first === second) return first;
        process.stderr.write('The passphrases differ; try again.\n');
      }
    },
  };
}

function emptyEnvPassphrase(keyName: string, env: NodeJS.ProcessEnv): RepoError {
  const name = env[passphraseEnvVar(keyName)] !== undefined ? passphraseEnvVar(keyName) : 'TUFUP_PASSPHRASE';
  return new RepoError({
    code: 'PASSPHRASE_REQUIRED',
    message: `key "${keyName}" is encrypted and ${name} is set but empty (is the CI secret defined for this job?)`,
  });
}

function emptyPassphrase(keyName: string): RepoError {
  return new RepoError({
    code: 'INVALID_ARGUMENT',
    message: `the passphrase for the new key "${keyName}" is empty`,
  });
}

// The command line's arguments: values of repeatable and typed options, empty strings, usage messages.
import { assertRoleName, type RoleName } from '@tufup/metadata';
import { RepoError } from './errors.js';
import type { Session } from './session.js';

/** `ROLE=VALUE` pairs of a repeatable option into a per-role map (unknown role: UNKNOWN_ROLE). */
export function rolePairs(values: unknown, option: string): Array<[RoleName, string]> {
  const list = values === undefined ? [] : Array.isArray(values) ? values : [values];
  return list.map((v) => {
    const text = String(v);
    const eq = text.indexOf('=');
    if (eq <= 0 || eq === text.length - 1) {
      throw new RepoError({ code: 'USAGE', message: `--${option} takes ROLE=VALUE, got "${text}"` });
    }
    return [assertRoleName(text.slice(0, eq)), text.slice(eq + 1)];
  });
}

export function positiveInt(value: string, what: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new RepoError({
      code: 'INVALID_ARGUMENT',
      message: `${what} must be a positive integer, got "${value}"`,
    });
  }
  return Number(value);
}

/** `--percent` / `--rollout`: an integer 0..100 (INVALID_ROLLOUT otherwise: 10.5, -1, 101, "ten"). */
export function parsePercent(value: string, option = '--percent'): number {
  if (!/^\d{1,3}$/.test(value) || Number(value) > 100) {
    throw new RepoError({
      code: 'INVALID_ROLLOUT',
      message: `${option} must be an integer from 0 to 100, got "${value}"`,
    });
  }
  return Number(value);
}

export function strings(v: unknown): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

/** `-m/--meta`: python tufup accepts only a JSON object here. */
export function parseMeta(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new RepoError({ code: 'INVALID_META_JSON', message: `--meta is not valid JSON: ${text}`, cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RepoError({
      code: 'INVALID_META_JSON',
      message: '--meta must be a JSON object, e.g. \'{"changes": ["..."]}\'',
    });
  }
  return value as Record<string, unknown>;
}

/**
 * python tufup's `sign -e` takes an optional number. To keep `tufup sign timestamp -e keystore` meaning "default
 * days, key dir keystore" (and not "-e keystore"), the token after -e is its value only when it is a number.
 */
export function normalizeSignArgs(args: string[]): string[] {
  const out: string[] = [];
  const signAt = args.indexOf('sign');
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (signAt >= 0 && i > signAt && (a === '-e' || a === '--expiration-days')) {
      const next = args[i + 1];
      if (next !== undefined && (/^\d+$/.test(next) || next === '')) {
        // An empty value (`-e "$DAYS"` with DAYS unset) stays a value, to be refused, not the default.
        out.push(`--expiration-days=${next}`);
        i++;
      } else {
        out.push('--expiration-days=default');
      }
      continue;
    }
    out.push(a);
  }
  return out;
}

/** The name of an option or positional as the user wrote it: `--app-name`, `KEY_DIRS`. */
function argName(key: string, session: Session): string {
  const positional = session.positionals.some((p) => p.replace(/[<>[\].]/g, '') === key);
  return positional ? key.toUpperCase() : `${key.length === 1 ? '-' : '--'}${key}`;
}

/**
 * An empty string is a value, never "absent": `--app-name "$APP"` with APP unset must not mean the default app,
 * and an empty bundle or key dir must not mean the current directory. Every string the user gave is checked.
 */
export function rejectEmptyStrings(argv: Record<string, unknown>, session: Session): void {
  for (const [key, value] of Object.entries(argv)) {
    // yargs adds a camelCase copy of each dashed option; the dashed one is checked.
    if (key === '_' || key === '$0' || /[A-Z]/.test(key)) continue;
    const values = Array.isArray(value) ? value : [value];
    if (values.some((v) => v === '')) {
      throw new RepoError({
        code: 'INVALID_ARGUMENT',
        message: `${argName(key, session)} is empty (an unset variable?); give it a value or leave it out`,
      });
    }
  }
}

/** yargs' "Not enough non-option arguments: got 1, need at least 3" with the names of what is missing. */
export function usageMessage(msg: string, session: Session): string {
  const m = /^Not enough non-option arguments: got (\d+), need at least (\d+)/.exec(msg);
  const usage = `tufup ${session.command ?? ''} ${session.positionals.join(' ')}`.replace(/\s+/g, ' ').trim();
  if (m && session.command) {
    const required = session.positionals.filter((p) => p.startsWith('<'));
    const missing = required.slice(Number(m[1])).map((p) => p.replace(/[<>.]/g, '').toUpperCase());
    if (missing.length) return `missing ${missing.join(' and ')} (usage: ${usage})`;
  }
  return `${msg} (see tufup ${session.command ? `${session.command} ` : ''}--help)`;
}

// The script's data file (and the journal, which starts as a copy of it): ASCII lines `key=<percent-encoded value>`.
import { InstallerWinError, invalid } from './errors.js';

/**
 * Encodes entries as `key=value` lines with every value percent-encoded (UTF-8), so the file is pure ASCII
 * and the script decodes it with `decodeURIComponent`: no code page, no quoting, no expansion anywhere.
 */
export function encodeRequestFile(entries: ReadonlyArray<readonly [string, string]>): string {
  let out = '';
  for (const [key, value] of entries) {
    if (!/^[A-Za-z][A-Za-z0-9_.]*$/.test(key)) throw invalid(`invalid request key ${JSON.stringify(key)}`);
    let encoded: string;
    try {
      encoded = encodeURIComponent(value);
    } catch (err) {
      // encodeURIComponent refuses lone UTF-16 surrogates, which no file system name or argument should carry.
      throw new InstallerWinError({
        code: 'INVALID_REQUEST',
        message: `${key} is not valid Unicode text`,
        cause: err,
      });
    }
    out += `${key}=${encoded}\r\n`;
  }
  return out;
}

/** A parsed request or journal: single values, repeated keys (`preserve`) and the phase lines the script appended. */
export interface RequestRecord {
  get(key: string): string | undefined;
  all(key: string): string[];
  /** `phase=...` values in file order. */
  phases: string[];
}

/** Parses lines written by `encodeRequestFile` (plus lines the script appends); a line cut off by a kill is ignored. */
export function parseRequestFile(text: string): RequestRecord {
  const map = new Map<string, string[]>();
  const lines = text.split(/\r?\n/);
  // Every complete line ends with a newline, so the last piece is either empty or cut off by a kill: drop it.
  const complete = lines.slice(0, -1);
  for (const line of complete) {
    const eq = line.indexOf('=');
    if (eq < 1) continue;
    const key = line.slice(0, eq);
    let value: string;
    try {
      value = decodeURIComponent(line.slice(eq + 1));
    } catch (err) {
      throw new InstallerWinError({
        code: 'JOURNAL_INVALID',
        message: `undecodable value for ${key}`,
        cause: err,
      });
    }
    const list = map.get(key);
    if (list) list.push(value);
    else map.set(key, [value]);
  }
  return {
    get: (key) => map.get(key)?.at(-1),
    all: (key) => [...(map.get(key) ?? [])],
    phases: [...(map.get('phase') ?? [])],
  };
}

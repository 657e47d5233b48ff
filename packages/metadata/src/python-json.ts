// Python's json.dumps, byte for byte: the on-disk form of python-tuf metadata and securesystemslib key files.
import { MetadataError } from './errors.js';

export interface PythonJsonOptions {
  /** Python's `indent`: undefined for one line (separators `, ` and `: `), a number for pretty output. */
  indent?: number;
  /** Python's `sort_keys`: object keys in code point order. */
  sortKeys?: boolean;
}

/**
 * `json.dumps(value, indent=..., sort_keys=..., ensure_ascii=True)` as Python 3 writes it. python-tuf
 * writes metadata with indent 1 and sorted keys; securesystemslib writes key files on one line in
 * insertion order. Non-ASCII characters become `\uXXXX` (surrogate pairs above U+FFFF).
 * Throws INVALID_METADATA for values JSON (or canonical JSON, which is what gets signed) cannot hold:
 * non-integer or unsafe numbers, undefined, functions, cycles.
 */
export function pythonJsonDumps(value: unknown, opts: PythonJsonOptions = {}): string {
  const out: string[] = [];
  write(value, out, opts, 0, new Set());
  return out.join('');
}

function write(
  value: unknown,
  out: string[],
  opts: PythonJsonOptions,
  depth: number,
  seen: Set<object>,
): void {
  if (value === null) {
    out.push('null');
  } else if (value === true || value === false) {
    out.push(value ? 'true' : 'false');
  } else if (typeof value === 'number') {
    // Python writes 1.0 for a float one; JS cannot tell 1.0 from 1, and canonical JSON has no floats anyway.
    if (!Number.isSafeInteger(value)) throw unserializable(`the number ${value} (only integers are allowed)`);
    out.push(String(value));
  } else if (typeof value === 'string') {
    out.push(quote(value));
  } else if (typeof value === 'object') {
    if (seen.has(value)) throw unserializable('a cyclic structure');
    seen.add(value);
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      write(toJSON.call(value), out, opts, depth, seen);
    } else if (Array.isArray(value)) {
      writeContainer(
        '[',
        ']',
        value.map((v) => (o: string[]) => write(v, o, opts, depth + 1, seen)),
        out,
        opts,
        depth,
      );
    } else {
      let keys = Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== undefined);
      if (opts.sortKeys) keys = keys.sort(compareCodePoints);
      writeContainer(
        '{',
        '}',
        keys.map((k) => (o: string[]) => {
          o.push(quote(k), ': ');
          write((value as Record<string, unknown>)[k], o, opts, depth + 1, seen);
        }),
        out,
        opts,
        depth,
      );
    }
    seen.delete(value);
  } else {
    throw unserializable(`a value of type ${typeof value}`);
  }
}

function writeContainer(
  open: string,
  close: string,
  items: Array<(out: string[]) => void>,
  out: string[],
  opts: PythonJsonOptions,
  depth: number,
): void {
  if (items.length === 0) {
    out.push(open, close);
    return;
  }
  if (opts.indent === undefined) {
    out.push(open);
    items.forEach((item, i) => {
      if (i > 0) out.push(', ');
      item(out);
    });
    out.push(close);
    return;
  }
  const inner = `\n${' '.repeat(opts.indent * (depth + 1))}`;
  out.push(open);
  items.forEach((item, i) => {
    out.push(i > 0 ? `,${inner}` : inner);
    item(out);
  });
  out.push(`\n${' '.repeat(opts.indent * depth)}`, close);
}

/** Python sorts str keys by code point; JS's default sort compares UTF-16 units (differs above U+FFFF). */
function compareCodePoints(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

const SHORT_ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
};

/** ensure_ascii quoting: everything outside printable ASCII (0x20-0x7e) is escaped, as Python does. */
function quote(s: string): string {
  return `"${s.replace(/[^\x20-\x7e]|["\\]/g, (ch) => SHORT_ESCAPES[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`;
}

function unserializable(what: string): MetadataError {
  return new MetadataError({ code: 'INVALID_METADATA', message: `cannot write ${what} as JSON` });
}

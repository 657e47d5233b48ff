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
  const out = { text: '' };
  write(value, out, opts, 0, new Set());
  return out.text;
}

/** The output so far: one growing string (V8 appends to it in place; an array of ~100k pieces joined was slower). */
interface Out {
  text: string;
}

function write(value: unknown, out: Out, opts: PythonJsonOptions, depth: number, seen: Set<object>): void {
  if (value === null) {
    out.text += 'null';
  } else if (value === true || value === false) {
    out.text += value ? 'true' : 'false';
  } else if (typeof value === 'number') {
    // Python writes 1.0 for a float one; JS cannot tell 1.0 from 1, and canonical JSON has no floats anyway.
    if (!Number.isSafeInteger(value)) throw unserializable(`the number ${value} (only integers are allowed)`);
    out.text += String(value);
  } else if (typeof value === 'string') {
    out.text += quote(value);
  } else if (typeof value === 'object') {
    if (seen.has(value)) throw unserializable('a cyclic structure');
    seen.add(value);
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      write(toJSON.call(value), out, opts, depth, seen);
    } else if (Array.isArray(value)) {
      writeItems('[', ']', value.length, out, opts, depth, (i) =>
        write(value[i], out, opts, depth + 1, seen),
      );
    } else {
      const record = value as Record<string, unknown>;
      let keys = Object.keys(record).filter((k) => record[k] !== undefined);
      if (opts.sortKeys) keys = keys.sort(compareCodePoints);
      writeItems('{', '}', keys.length, out, opts, depth, (i) => {
        const k = keys[i]!;
        out.text += `${quote(k)}: `;
        write(record[k], out, opts, depth + 1, seen);
      });
    }
    seen.delete(value);
  } else {
    throw unserializable(`a value of type ${typeof value}`);
  }
}

/** A container's `count` items, each written by `item(i)`, with Python's separators and indentation. */
function writeItems(
  open: string,
  close: string,
  count: number,
  out: Out,
  opts: PythonJsonOptions,
  depth: number,
  item: (i: number) => void,
): void {
  if (count === 0) {
    out.text += open + close;
    return;
  }
  if (opts.indent === undefined) {
    out.text += open;
    for (let i = 0; i < count; i++) {
      if (i > 0) out.text += ', ';
      item(i);
    }
    out.text += close;
    return;
  }
  const inner = `\n${' '.repeat(opts.indent * (depth + 1))}`;
  out.text += open;
  for (let i = 0; i < count; i++) {
    out.text += i > 0 ? `,${inner}` : inner;
    item(i);
  }
  out.text += `\n${' '.repeat(opts.indent * depth)}${close}`;
}

/**
 * Python sorts str keys by code point; JS's default sort compares UTF-16 units, which differs only where a
 * surrogate (U+D800–U+DFFF, half of a character above U+FFFF) meets a unit above it. So units are compared as
 * they are up to the first difference, and only a difference involving a surrogate compares code points.
 */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (isSurrogate(x) || isSurrogate(y)) return compareByCodePoint(a, b);
    return x - y;
  }
  return a.length - b.length;
}

function isSurrogate(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdfff;
}

function compareByCodePoint(a: string, b: string): number {
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

const NEEDS_ESCAPE = /[^\x20-\x7e]|["\\]/;

/** ensure_ascii quoting: everything outside printable ASCII (0x20-0x7e) is escaped, as Python does. */
function quote(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return `"${s}"`;
  return `"${s.replace(/[^\x20-\x7e]|["\\]/g, (ch) => SHORT_ESCAPES[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`;
}

function unserializable(what: string): MetadataError {
  return new MetadataError({ code: 'INVALID_METADATA', message: `cannot write ${what} as JSON` });
}

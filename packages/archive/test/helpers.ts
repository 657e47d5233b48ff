// Test support: raw tar headers written by hand (independent of src/), tree walking and error assertions.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { PYTHON_TUFUP_FIXTURE } from '../../../test-support/fixture.js';

/** The repository and bundles made by the real python tufup 0.10 (override: TUFUP_FIXTURE). */
export const FIXTURE = PYTHON_TUFUP_FIXTURE;

/** One member of a hand-made tar. `typeflag` is the raw header byte, so any type can be written. */
export interface RawMember {
  name: string;
  typeflag?: string;
  mode?: number;
  data?: Buffer | string;
  /** Size field when it must differ from the data length. */
  size?: number;
  linkname?: string;
  /** A pax extended header ('x') written before this member. */
  pax?: Record<string, string>;
  /** A GNU long-name header ('L') written before this member. */
  gnuLongName?: string;
  /** A GNU long-link header ('K') written before this member. */
  gnuLongLink?: string;
  /** A pax global header ('g') written before this member. */
  paxGlobal?: Record<string, string>;
  /** A pax extended header ('x') with exactly these bytes as its content (for malformed records). */
  rawPax?: Buffer;
  /** The name field's bytes as they are (e.g. not UTF-8). */
  nameBytes?: Buffer;
  /** GNU magic (`ustar ` ` \0`) instead of POSIX ustar's. */
  gnu?: boolean;
  /** No magic at all (a pre-POSIX v7 header). */
  noMagic?: boolean;
  /** Write the size field in base-256 (GNU's form for sizes octal cannot hold). */
  base256Size?: boolean;
  /** Store the checksum as the sum of signed bytes, as some old writers did. */
  signedChecksum?: boolean;
  /** Added to the stored checksum, to make it wrong. */
  checksumDelta?: number;
}

/** A tar written byte by byte, so hostile archives can hold what no well-behaved writer would make. */
export function rawTar(members: RawMember[], opts: { end?: boolean; trailing?: Buffer } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    if (m.paxGlobal) {
      const body = Buffer.from(
        Object.entries(m.paxGlobal)
          .map(([k, v]) => paxRecord(k, v))
          .join(''),
        'utf8',
      );
      parts.push(headerBlock({ name: 'GlobalHead', typeflag: 'g', size: body.length }), pad(body));
    }
    if (m.rawPax) {
      parts.push(headerBlock({ name: 'PaxHeader', typeflag: 'x', size: m.rawPax.length }), pad(m.rawPax));
    }
    if (m.pax) {
      const body = Buffer.from(
        Object.entries(m.pax)
          .map(([k, v]) => paxRecord(k, v))
          .join(''),
        'utf8',
      );
      parts.push(headerBlock({ name: 'PaxHeader', typeflag: 'x', size: body.length }), pad(body));
    }
    if (m.gnuLongName !== undefined) {
      const body = Buffer.from(`${m.gnuLongName}\0`, 'utf8');
      parts.push(headerBlock({ name: '././@LongLink', typeflag: 'L', size: body.length }), pad(body));
    }
    if (m.gnuLongLink !== undefined) {
      const body = Buffer.from(`${m.gnuLongLink}\0`, 'utf8');
      parts.push(headerBlock({ name: '././@LongLink', typeflag: 'K', size: body.length }), pad(body));
    }
    const data = typeof m.data === 'string' ? Buffer.from(m.data) : (m.data ?? Buffer.alloc(0));
    parts.push(headerBlock({ ...m, size: m.size ?? data.length }));
    if (data.length > 0) parts.push(pad(data));
  }
  if (opts.end !== false) parts.push(Buffer.alloc(1024));
  if (opts.trailing) parts.push(opts.trailing);
  return Buffer.concat(parts);
}

export function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len)
    len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

function pad(data: Buffer): Buffer {
  const rest = data.length % 512;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(512 - rest)]);
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function headerBlock(m: RawMember & { size: number }): Buffer {
  const b = Buffer.alloc(512);
  (m.nameBytes ?? Buffer.from(m.name, 'utf8')).copy(b, 0, 0, 100);
  b.write(octal(m.mode ?? 0o644, 8), 100, 'ascii');
  b.write(octal(0, 8), 108, 'ascii');
  b.write(octal(0, 8), 116, 'ascii');
  if (m.base256Size) {
    b[124] = 0x80;
    b.writeUIntBE(m.size, 130, 6);
  } else {
    b.write(octal(m.size, 12), 124, 'ascii');
  }
  b.write(octal(946684800, 12), 136, 'ascii');
  b.write(m.typeflag ?? '0', 156, 'ascii');
  if (m.linkname) Buffer.from(m.linkname, 'utf8').copy(b, 157, 0, 100);
  if (!m.noMagic) b.write(m.gnu ? 'ustar  \0' : 'ustar\0' + '00', 257, 'ascii');
  // A GNU header keeps other data where ustar has its prefix: a reader must not take it as part of the name.
  if (m.gnu) b.write('12345670123', 345, 'ascii');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += m.signedChecksum && byte > 127 ? byte - 256 : byte;
  b.write(`${(sum + (m.checksumDelta ?? 0)).toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return b;
}

export interface ListedMember {
  name: string;
  type: string;
  mode: number;
  size: number;
  linkname: string | null;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  pax: Record<string, string> | null;
}

/** Members of a tar (bytes), read with tar-stream: an independent reader of what src/ writes. */
export async function listTar(bytes: Buffer): Promise<ListedMember[]> {
  const extract = tar.extract();
  const members: ListedMember[] = [];
  const reading = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      members.push({
        name: h.name,
        type: h.type,
        mode: h.mode,
        size: h.size,
        linkname: h.linkname,
        uid: h.uid,
        gid: h.gid,
        uname: h.uname,
        gname: h.gname,
        mtime: h.mtime.getTime() / 1000,
        pax: (h.pax as Record<string, string> | null) ?? null,
      });
      entry.resume();
    }
  })();
  Readable.from([bytes]).pipe(extract as unknown as NodeJS.WritableStream);
  await reading;
  return members;
}

/** The first member header tar-stream parses from `bytes` (its content need not follow). */
export function firstHeader(bytes: Buffer): Promise<tar.Header> {
  return new Promise((resolve, reject) => {
    const extract = tar.extract();
    extract.on('entry', (header) => {
      resolve(header);
      extract.destroy();
    });
    extract.on('error', reject);
    extract.write(bytes);
  });
}

export interface TreeEntry {
  type: 'file' | 'directory' | 'symlink';
  mode?: number;
  size?: number;
  sha256?: string;
  target?: string;
}

/** Everything below `root` (not root itself), keyed by `/`-joined relative path. */
export async function readTree(root: string): Promise<Map<string, TreeEntry>> {
  const out = new Map<string, TreeEntry>();
  const walk = async (dir: string, prefix: string) => {
    for (const name of (await readdir(dir)).sort()) {
      const abs = join(dir, name);
      const rel = prefix ? `${prefix}/${name}` : name;
      const st = await lstat(abs);
      if (st.isSymbolicLink()) {
        out.set(rel, { type: 'symlink', target: await readlink(abs) });
      } else if (st.isDirectory()) {
        out.set(rel, { type: 'directory', mode: st.mode & 0o7777 });
        await walk(abs, rel);
      } else {
        const data = await readFile(abs);
        out.set(rel, {
          type: 'file',
          mode: st.mode & 0o7777,
          size: data.length,
          sha256: createHash('sha256').update(data).digest('hex'),
        });
      }
    }
  };
  await walk(root, '');
  return out;
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Assert that `promise` rejects with an error carrying `code`. */
export async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.equal((err as { code?: unknown }).code, code, `expected ${code}, got ${String(err)}`);
    return true;
  });
}

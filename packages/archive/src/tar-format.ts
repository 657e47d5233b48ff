// Writes POSIX pax/ustar headers byte for byte as we define them, so archive bytes never depend on a library version.
//
// Layout of every member we write (the layout python tufup's tarfile PAX_FORMAT writes, minus its float mtimes):
//   [pax extended header "././@PaxHeader", typeflag 'x', with path / linkpath / size / mtime records]  only when needed
//   ustar header: name (<=100 bytes), mode, uid 0, gid 0, size, mtime, checksum, typeflag, linkname,
//                 "ustar\0" "00", uname "", gname "", devmajor 0, devminor 0, prefix unused
//   content padded with NULs to a 512-byte block
// A pax header is written when the name or link target is not ASCII or longer than 100 bytes, when the size
// is 8 GiB or more (11 octal digits end at 8 GiB - 1), or when the mtime does not fit 11 octal digits.
// The archive ends with two zero blocks, padded with zeros to a multiple of 10240 bytes (the default tar
// record size of GNU tar and python's tarfile).

export const BLOCK_SIZE = 512;
export const RECORD_SIZE = 10240;

export type MemberType = 'file' | 'directory' | 'symlink';

export interface MemberHeader {
  /** Member name as stored, e.g. `./bin/app`; directories get a trailing `/` added here. */
  name: string;
  type: MemberType;
  /** Permission bits (at most 0o7777). */
  mode: number;
  /** Content size in bytes (0 for directories and symlinks). */
  size: number;
  /** Modification time, whole seconds since the epoch. */
  mtime: number;
  /** Symlink target. */
  linkTarget?: string;
}

const TYPEFLAG: Record<MemberType, string> = { file: '0', symlink: '2', directory: '5' };
const PAX_HEADER_NAME = '././@PaxHeader';

/** The header block(s) of one member: a pax extended header when needed, then the ustar header. */
export function encodeMemberHeader(member: MemberHeader): Buffer {
  const name = member.type === 'directory' && !member.name.endsWith('/') ? `${member.name}/` : member.name;
  const linkTarget = member.type === 'symlink' ? (member.linkTarget ?? '') : '';
  const size = member.type === 'file' ? member.size : 0;

  const pax: [string, string][] = [];
  if (!fitsUstarString(name)) pax.push(['path', name]);
  if (!fitsUstarString(linkTarget)) pax.push(['linkpath', linkTarget]);
  const sizeFits = fitsOctal(size, 12);
  if (!sizeFits) pax.push(['size', String(size)]);
  const mtimeFits = fitsOctal(member.mtime, 12);
  if (!mtimeFits) pax.push(['mtime', String(member.mtime)]);

  const ustar = ustarBlock({
    name: asciiFallback(name),
    mode: member.mode & 0o7777,
    size: sizeFits ? size : 0,
    mtime: mtimeFits ? member.mtime : 0,
    typeflag: TYPEFLAG[member.type],
    linkname: asciiFallback(linkTarget),
  });
  if (pax.length === 0) return ustar;

  const records = encodePaxRecords(pax);
  const paxHeader = ustarBlock({
    name: PAX_HEADER_NAME,
    mode: 0,
    size: records.length,
    mtime: 0,
    typeflag: 'x',
    linkname: '',
  });
  return Buffer.concat([paxHeader, records, Buffer.alloc(paddingAfter(records.length)), ustar]);
}

/** Bytes of zero padding that follow `size` bytes of content to end on a block boundary. */
export function paddingAfter(size: number): number {
  const rest = size % BLOCK_SIZE;
  return rest === 0 ? 0 : BLOCK_SIZE - rest;
}

/** The end-of-archive marker (two zero blocks) plus zeros up to a whole record, given the bytes before it. */
export function endOfArchive(bytesBefore: number): Buffer {
  const end = bytesBefore + 2 * BLOCK_SIZE;
  const rest = end % RECORD_SIZE;
  return Buffer.alloc(2 * BLOCK_SIZE + (rest === 0 ? 0 : RECORD_SIZE - rest));
}

interface UstarFields {
  name: string;
  mode: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
}

function ustarBlock(f: UstarFields): Buffer {
  const block = Buffer.alloc(BLOCK_SIZE);
  block.write(f.name, 0, 100, 'latin1');
  writeOctal(block, 100, 8, f.mode);
  writeOctal(block, 108, 8, 0); // uid
  writeOctal(block, 116, 8, 0); // gid
  writeOctal(block, 124, 12, f.size);
  writeOctal(block, 136, 12, f.mtime);
  block.write(f.typeflag, 156, 1, 'latin1');
  block.write(f.linkname, 157, 100, 'latin1');
  block.write('ustar\0', 257, 6, 'latin1');
  block.write('00', 263, 2, 'latin1');
  // uname (265) and gname (297) stay empty: names of the build machine's users are not part of a release.
  writeOctal(block, 329, 8, 0); // devmajor
  writeOctal(block, 337, 8, 0); // devminor
  // The checksum is computed with its own field read as spaces, then stored as 6 digits, NUL, space.
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) sum += block[i]!;
  block.write(`${sum.toString(8).padStart(6, '0')}\0`, 148, 7, 'latin1');
  return block;
}

/** Zero-padded octal digits filling the field but its last byte, which is NUL. */
function writeOctal(block: Buffer, offset: number, width: number, value: number): void {
  block.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, width, 'latin1');
}

function fitsOctal(value: number, width: number): boolean {
  return Number.isSafeInteger(value) && value >= 0 && value < 8 ** (width - 1);
}

function fitsUstarString(value: string): boolean {
  if (value.length > 100) return false;
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** What a reader without pax support sees: ASCII with `?` for anything else, cut to 100 bytes (as tarfile does). */
function asciiFallback(value: string): string {
  let out = '';
  for (const ch of value) out += ch.charCodeAt(0) > 0x7f ? '?' : ch;
  return out.slice(0, 100);
}

/** pax records `"<len> <key>=<value>\n"`, where `<len>` counts the whole record, its own digits included. */
function encodePaxRecords(records: readonly [string, string][]): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of records) {
    const body = Buffer.byteLength(` ${key}=${value}\n`, 'utf8');
    let length = body + String(body).length;
    if (String(length).length !== String(body).length) length = body + String(length).length;
    parts.push(Buffer.from(`${length} ${key}=${value}\n`, 'utf8'));
  }
  return Buffer.concat(parts);
}

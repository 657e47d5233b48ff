// Reads tar members (ustar, GNU and pax headers) from a byte source whose buffers are reused between reads.
//
// Why not tar-stream: it hands out slices of every chunk it was given, so each chunk must be a fresh buffer,
// and first-touching ~150 MB of fresh memory per extraction costs more than the parsing (a page fault per
// 4 KiB). Here the source may refill the same buffers: a member's content is either copied out
// (readContent) or handed to a callback that is done with it before the next read (streamContent).
//
// Accepted: POSIX ustar (`ustar\0` `00`) and GNU (`ustar ` ` \0`) headers with octal or base-256 numbers
// and an unsigned (or old signed) checksum; pax extended headers, local ('x') and global ('g'), whose
// `path`, `linkpath`, `size` and `mtime` are used; GNU long names ('L') and link targets ('K'). Refused as
// CORRUPT_ARCHIVE: a bad checksum or magic, a malformed number or pax record, an extension header larger
// than 1 MiB or not followed by a member, truncation, and anything but zeros after the end-of-archive
// block (so no member can hide behind it). A source that ends on a block boundary without the end
// blocks is accepted, as GNU tar and python's tarfile accept it.
import { ArchiveError } from './errors.js';
import { BLOCK_SIZE, paddingAfter } from './tar-format.js';

/** Bytes of an archive in order. A returned buffer stays valid only until the next call. */
export interface ByteSource {
  read(): Promise<Buffer | undefined>;
}

export type TarMemberType =
  | 'file'
  | 'directory'
  | 'symlink'
  | 'link'
  | 'character-device'
  | 'block-device'
  | 'fifo'
  | 'unsupported';

export interface TarMember {
  name: string;
  type: TarMemberType;
  /** The raw typeflag byte, for messages about unsupported members. */
  typeflag: string;
  mode: number;
  /** Bytes of content that follow the header. */
  size: number;
  mtime: Date;
  /** Symlink or hard-link target ('' when none). */
  linkname: string;
}

/** pax records and GNU long names larger than this are refused (real ones are a few hundred bytes). */
const MAX_EXTENSION_BYTES = 1024 * 1024;

const EMPTY = Buffer.alloc(0);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** An explicit undefined is a key an empty record deleted: spread over a global default, it removes it. */
interface PaxFields {
  path?: string | undefined;
  linkpath?: string | undefined;
  size?: number | undefined;
  mtime?: number | undefined;
}

function corrupt(message: string): ArchiveError {
  return new ArchiveError({ code: 'CORRUPT_ARCHIVE', message: `not a valid tar: ${message}` });
}

export class TarReader {
  readonly #source: ByteSource;
  #chunk: Buffer = EMPTY;
  #pos = 0;
  #sourceEnded = false;
  /** Content bytes of the current member not consumed yet, then the padding after them. */
  #contentLeft = 0;
  #paddingLeft = 0;
  #finished = false;
  #globalPax: PaxFields = {};
  readonly #header = Buffer.alloc(BLOCK_SIZE);

  constructor(source: ByteSource) {
    this.#source = source;
  }

  /** The next member's header, after skipping what is left of the previous one; undefined at the end. */
  async next(): Promise<TarMember | undefined> {
    if (this.#finished) return undefined;
    await this.#skip(this.#contentLeft + this.#paddingLeft);
    this.#contentLeft = 0;
    this.#paddingLeft = 0;
    let pax: PaxFields | undefined;
    let longName: string | undefined;
    let longLink: string | undefined;
    const extended = () => pax !== undefined || longName !== undefined || longLink !== undefined;
    for (;;) {
      const got = await this.#fill(this.#header);
      if (got === 0) {
        if (extended()) throw corrupt('an extension header is not followed by a member');
        this.#finished = true;
        return undefined;
      }
      if (got < BLOCK_SIZE) throw corrupt('the archive ends inside a header');
      if (isZeroBlock(this.#header)) {
        if (extended()) throw corrupt('an extension header is followed by the end of the archive');
        await this.#expectOnlyZeros();
        this.#finished = true;
        return undefined;
      }
      const h = parseHeader(this.#header);
      if (h.typeflag === 'x' || h.typeflag === 'g' || h.typeflag === 'L' || h.typeflag === 'K') {
        if (h.size > MAX_EXTENSION_BYTES) {
          throw corrupt(`an extension header ('${h.typeflag}') of ${h.size} bytes`);
        }
        const body = Buffer.alloc(h.size);
        if ((await this.#fill(body)) < h.size) throw corrupt('the archive ends inside an extension header');
        await this.#skip(paddingAfter(h.size));
        if (h.typeflag === 'x') pax = { ...pax, ...parsePax(body) };
        else if (h.typeflag === 'g') this.#globalPax = { ...this.#globalPax, ...parsePax(body) };
        else if (h.typeflag === 'L') longName = decodeName(body, 0, body.length);
        else longLink = decodeName(body, 0, body.length);
        continue;
      }
      const fields = { ...this.#globalPax, ...pax };
      const name = fields.path ?? longName ?? h.name;
      const mtime = new Date(1000 * (fields.mtime ?? h.mtime));
      // Beyond a Date's range (±275,000 years) no file system call can set it.
      if (Number.isNaN(mtime.getTime())) throw corrupt(`member ${name} has an mtime out of range`);
      const member: TarMember = {
        name,
        type: h.type,
        typeflag: h.typeflag,
        mode: h.mode,
        size: fields.size ?? h.size,
        mtime,
        linkname: fields.linkpath ?? longLink ?? h.linkname,
      };
      this.#contentLeft = member.size;
      this.#paddingLeft = paddingAfter(member.size);
      return member;
    }
  }

  /** The rest of the current member's content, copied into a buffer of its own. */
  async readContent(): Promise<Buffer> {
    const out = Buffer.allocUnsafe(this.#contentLeft);
    const got = await this.#fill(out);
    this.#contentLeft -= got;
    if (got < out.length) throw corrupt('the archive ends inside a member');
    return out;
  }

  /** Copy the rest of the current member's content into `into`, which must be exactly that long. */
  async readContentInto(into: Uint8Array): Promise<void> {
    if (into.length !== this.#contentLeft) {
      throw new RangeError(`readContentInto: ${into.length} bytes given for ${this.#contentLeft} of content`);
    }
    const target = Buffer.from(into.buffer, into.byteOffset, into.length);
    const got = await this.#fill(target);
    this.#contentLeft -= got;
    if (got < target.length) throw corrupt('the archive ends inside a member');
  }

  /** Hand the rest of the current member's content to `consume` piece by piece; each piece is valid until it resolves. */
  async streamContent(consume: (piece: Buffer) => Promise<void>): Promise<void> {
    while (this.#contentLeft > 0) {
      if (!(await this.#ensureBytes())) throw corrupt('the archive ends inside a member');
      const n = Math.min(this.#contentLeft, this.#chunk.length - this.#pos);
      const piece = this.#chunk.subarray(this.#pos, this.#pos + n);
      this.#pos += n;
      this.#contentLeft -= n;
      await consume(piece);
    }
  }

  /** True when unread bytes are in the current chunk, reading the next chunk if needed. */
  async #ensureBytes(): Promise<boolean> {
    while (this.#pos >= this.#chunk.length) {
      if (this.#sourceEnded) return false;
      const next = await this.#source.read();
      if (next === undefined) {
        this.#sourceEnded = true;
        this.#chunk = EMPTY;
        this.#pos = 0;
        return false;
      }
      this.#chunk = next;
      this.#pos = 0;
    }
    return true;
  }

  /** Copy the next bytes into `out` until it is full or the source ends; returns how many were copied. */
  async #fill(out: Buffer): Promise<number> {
    let done = 0;
    while (done < out.length && (await this.#ensureBytes())) {
      const n = Math.min(out.length - done, this.#chunk.length - this.#pos);
      this.#chunk.copy(out, done, this.#pos, this.#pos + n);
      this.#pos += n;
      done += n;
    }
    return done;
  }

  async #skip(bytes: number): Promise<void> {
    let left = bytes;
    while (left > 0) {
      if (!(await this.#ensureBytes())) throw corrupt('the archive ends inside a member');
      const n = Math.min(left, this.#chunk.length - this.#pos);
      this.#pos += n;
      left -= n;
    }
  }

  /** After the end-of-archive block only zeros may follow (the second block and the record padding). */
  async #expectOnlyZeros(): Promise<void> {
    while (await this.#ensureBytes()) {
      const rest = this.#chunk.subarray(this.#pos);
      for (let i = 0; i < rest.length; i++) {
        if (rest[i] !== 0) throw corrupt('data after the end-of-archive marker');
      }
      this.#pos = this.#chunk.length;
    }
  }
}

interface ParsedHeader {
  name: string;
  type: TarMemberType;
  typeflag: string;
  mode: number;
  size: number;
  mtime: number;
  linkname: string;
}

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK_SIZE; i++) if (block[i] !== 0) return false;
  return true;
}

function parseHeader(block: Buffer): ParsedHeader {
  checkChecksum(block);
  const magic = block.toString('latin1', 257, 265);
  const posix = magic === 'ustar\u000000';
  if (!posix && magic !== 'ustar  \u0000') throw corrupt('a header of unknown format (no ustar magic)');
  let name = decodeName(block, 0, 100);
  // The prefix field is POSIX ustar's; GNU headers keep other data there.
  if (posix && block[345] !== 0) name = `${decodeName(block, 345, 155)}/${name}`;
  const typeflag = block[156] === 0 ? '0' : String.fromCharCode(block[156]!);
  const size = readNumber(block, 124, 12, 'size');
  if (size < 0) throw corrupt(`member ${name} has a negative size`);
  return {
    name,
    type: memberType(typeflag),
    typeflag,
    mode: readNumber(block, 100, 8, 'mode') & 0o7777,
    size,
    mtime: readNumber(block, 136, 12, 'mtime'),
    linkname: decodeName(block, 157, 100),
  };
}

function memberType(typeflag: string): TarMemberType {
  switch (typeflag) {
    case '0':
    case '7':
      return 'file';
    case '1':
      return 'link';
    case '2':
      return 'symlink';
    case '3':
      return 'character-device';
    case '4':
      return 'block-device';
    case '5':
      return 'directory';
    case '6':
      return 'fifo';
    default:
      return 'unsupported';
  }
}

/** The stored checksum must be the sum of the header's bytes with the checksum field read as spaces. */
function checkChecksum(block: Buffer): void {
  const stored = readNumber(block, 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  // Some old writers summed signed chars; POSIX says unsigned. Either matches an intact header.
  if (stored !== unsigned && stored !== signed) throw corrupt('a header checksum does not match');
}

/** An octal field (leading spaces, digits, then NULs or spaces) or a base-256 one (first byte 0x80 or 0xff). */
function readNumber(block: Buffer, offset: number, width: number, what: string): number {
  const first = block[offset]!;
  if (first === 0x80 || first === 0xff) {
    const negative = first === 0xff;
    let value = 0;
    for (let i = offset + 1; i < offset + width; i++) {
      value = value * 256 + (negative ? 0xff - block[i]! : block[i]!);
    }
    if (negative) value = -value - 1;
    if (!Number.isSafeInteger(value)) throw corrupt(`a header's ${what} is out of range`);
    return value;
  }
  const end = offset + width;
  let i = offset;
  while (i < end && block[i] === 0x20) i++;
  let value = 0;
  let digits = 0;
  for (; i < end && block[i]! >= 0x30 && block[i]! <= 0x37; i++, digits++)
    value = value * 8 + block[i]! - 0x30;
  for (; i < end; i++) {
    if (block[i] !== 0 && block[i] !== 0x20) throw corrupt(`a header's ${what} field is not a number`);
  }
  if (digits > 0 && !Number.isSafeInteger(value)) throw corrupt(`a header's ${what} is out of range`);
  return value;
}

/** A NUL-terminated UTF-8 string field; a name that is not UTF-8 cannot be written as it was meant. */
function decodeName(bytes: Buffer, offset: number, width: number): string {
  let end = offset;
  while (end < offset + width && bytes[end] !== 0) end++;
  try {
    return utf8.decode(bytes.subarray(offset, end));
  } catch (err) {
    throw new ArchiveError({
      code: 'UNSAFE_PATH',
      message: `a member name or link target is not valid UTF-8: ${JSON.stringify(bytes.toString('latin1', offset, end))}`,
      cause: err,
    });
  }
}

/**
 * pax records `"<len> <key>=<value>\n"`, `<len>` counting the whole record. An empty value unsets the key
 * (for a local header: the global value does not apply). Keys other than the four used are skipped.
 */
function parsePax(body: Buffer): PaxFields {
  const out: PaxFields = {};
  let pos = 0;
  while (pos < body.length) {
    const space = body.indexOf(0x20, pos);
    const lengthText = space < 0 ? '' : body.toString('latin1', pos, space);
    if (!/^[1-9][0-9]{0,6}$/.test(lengthText)) throw corrupt('a pax record with a bad length');
    const end = pos + Number(lengthText);
    if (end > body.length || body[end - 1] !== 0x0a)
      throw corrupt('a pax record that does not end where its length says');
    const equals = body.indexOf(0x3d, space + 1);
    if (equals < 0 || equals >= end - 1) throw corrupt('a pax record without "="');
    const key = body.toString('latin1', space + 1, equals);
    const raw = body.subarray(equals + 1, end - 1);
    pos = end;
    if (key !== 'path' && key !== 'linkpath' && key !== 'size' && key !== 'mtime') continue;
    if (raw.length === 0) {
      // An empty value deletes the key; undefined makes the spread drop a global default too.
      out[key] = undefined;
      continue;
    }
    let value: string;
    try {
      value = utf8.decode(raw);
    } catch (err) {
      throw new ArchiveError({ code: 'UNSAFE_PATH', message: `a pax ${key} is not valid UTF-8`, cause: err });
    }
    if (key === 'path' || key === 'linkpath') {
      out[key] = value;
    } else if (key === 'size') {
      if (!/^[0-9]{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) {
        throw corrupt(`a pax size ${JSON.stringify(value)}`);
      }
      out.size = Number(value);
    } else {
      if (!/^-?[0-9]{1,16}(\.[0-9]*)?$/.test(value)) throw corrupt(`a pax mtime ${JSON.stringify(value)}`);
      out.mtime = Number(value);
    }
  }
  return out;
}

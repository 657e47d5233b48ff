// Hostile archives, crafted byte by byte: each is refused with its code and nothing is left outside dest (or in it).
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { withTempDir } from '@tufup/common';
import { type ArchiveErrorCode, extractArchive } from '../src/index.js';
import { splitMemberName, symlinkTargetProblem } from '../src/paths.js';
import { type RawMember, paxRecord, rawTar, rejectsWithCode } from './helpers.js';

interface HostileCase {
  name: string;
  code: ArchiveErrorCode;
  /** Members, given the absolute path of a directory beside dest that must stay untouched. */
  members: (outside: string) => RawMember[];
  gzip?: boolean;
  maxBytes?: number;
  /** Leave off the end-of-archive blocks. */
  noEnd?: boolean;
  /** Bytes after the end-of-archive blocks. */
  trailing?: Buffer;
}

const file = (name: string, data = 'evil'): RawMember => ({ name, data });
const dir = (name: string): RawMember => ({ name, typeflag: '5', mode: 0o755 });
const link = (name: string, target: string): RawMember => ({
  name,
  typeflag: '2',
  linkname: target,
  mode: 0o777,
});

const CASES: HostileCase[] = [
  // Names that leave dest.
  { name: 'absolute path', code: 'UNSAFE_PATH', members: (out) => [file(`${out}/evil`)] },
  { name: '.. at the start', code: 'UNSAFE_PATH', members: () => [file('../outside/evil')] },
  { name: '.. in the middle', code: 'UNSAFE_PATH', members: () => [file('./a/../../outside/evil')] },
  { name: 'drive letter', code: 'UNSAFE_PATH', members: () => [file('C:/outside/evil')] },
  { name: 'drive-relative', code: 'UNSAFE_PATH', members: () => [file('C:evil')] },
  { name: 'backslash ..', code: 'UNSAFE_PATH', members: () => [file('a\\..\\..\\outside\\evil')] },
  { name: 'UNC-style backslashes', code: 'UNSAFE_PATH', members: () => [file('\\\\server\\share\\evil')] },
  {
    name: 'pax path overrides a harmless ustar name',
    code: 'UNSAFE_PATH',
    members: () => [{ ...file('harmless.txt'), pax: { path: '../outside/evil' } }],
  },
  {
    name: 'GNU long name with ..',
    code: 'UNSAFE_PATH',
    members: () => [{ ...file('././@LongLink'), gnuLongName: `../outside/${'x'.repeat(120)}` }],
  },
  { name: 'root entry that is a file', code: 'UNSAFE_PATH', members: () => [file('./')] },
  {
    name: 'pax global path leaving dest',
    code: 'UNSAFE_PATH',
    members: () => [{ ...file('harmless.txt'), paxGlobal: { path: '../outside/evil' } }],
  },
  {
    name: 'name that is not UTF-8',
    code: 'UNSAFE_PATH',
    members: () => [{ ...file('x'), nameBytes: Buffer.from([0x65, 0x76, 0xff, 0xfe, 0x6c]) }],
  },
  // Symlinks.
  {
    name: 'symlink then file through it (poisoning)',
    code: 'UNSAFE_SYMLINK_TARGET',
    members: () => [link('escape', '../outside'), file('escape/evil')],
  },
  {
    name: 'symlink inside dest then file through it',
    code: 'ENTRY_THROUGH_SYMLINK',
    members: () => [dir('sub/'), link('alias', 'sub'), file('alias/evil')],
  },
  {
    name: 'symlink then directory through it',
    code: 'ENTRY_THROUGH_SYMLINK',
    members: () => [dir('sub/'), link('alias', 'sub'), dir('alias/deeper/')],
  },
  {
    name: 'absolute symlink target',
    code: 'UNSAFE_SYMLINK_TARGET',
    members: (out) => [link('l', `${out}/x`)],
  },
  {
    name: 'symlink climbing above dest',
    code: 'UNSAFE_SYMLINK_TARGET',
    members: () => [link('a/b/l', '../../..')],
  },
  {
    name: 'symlink with .. after a name (escapes through another symlink)',
    code: 'UNSAFE_SYMLINK_TARGET',
    members: () => [link('p/s', '.'), link('t', 'p/s/../..')],
  },
  {
    name: 'symlink target with a backslash',
    code: 'UNSAFE_SYMLINK_TARGET',
    members: () => [link('l', '..\\..\\x')],
  },
  {
    name: 'GNU long link target escaping',
    code: 'UNSAFE_SYMLINK_TARGET',
    members: () => [{ ...link('l', 'harmless'), gnuLongLink: `../../outside/${'x'.repeat(120)}` }],
  },
  {
    name: 'pax linkpath escaping',
    code: 'UNSAFE_SYMLINK_TARGET',
    members: () => [{ ...link('l', 'harmless'), pax: { linkpath: '../../outside' } }],
  },
  // Types that are never extracted.
  {
    name: 'hard link',
    code: 'HARDLINK_ENTRY',
    members: () => [{ name: 'h', typeflag: '1', linkname: '/etc/passwd' }],
  },
  { name: 'character device', code: 'SPECIAL_FILE_ENTRY', members: () => [{ name: 'c', typeflag: '3' }] },
  { name: 'block device', code: 'SPECIAL_FILE_ENTRY', members: () => [{ name: 'b', typeflag: '4' }] },
  { name: 'fifo', code: 'SPECIAL_FILE_ENTRY', members: () => [{ name: 'f', typeflag: '6' }] },
  { name: 'GNU sparse file', code: 'UNSUPPORTED_ENTRY', members: () => [{ name: 's', typeflag: 'S' }] },
  // Replacing what is already there.
  { name: 'file replacing a directory', code: 'REPLACES_DIRECTORY', members: () => [dir('a/'), file('a')] },
  {
    name: 'file replacing an implied directory',
    code: 'REPLACES_DIRECTORY',
    members: () => [file('a/b'), file('a')],
  },
  {
    name: 'symlink replacing a directory',
    code: 'REPLACES_DIRECTORY',
    members: () => [dir('a/'), link('a', '.')],
  },
  { name: 'duplicate file', code: 'DUPLICATE_ENTRY', members: () => [file('f', 'one'), file('f', 'two')] },
  { name: 'duplicate directory', code: 'DUPLICATE_ENTRY', members: () => [dir('d/'), dir('d')] },
  { name: 'duplicate symlink', code: 'DUPLICATE_ENTRY', members: () => [link('l', 'a'), link('l', 'b')] },
  {
    name: 'file after a symlink of the same name',
    code: 'DUPLICATE_ENTRY',
    members: () => [link('l', 'a'), file('l')],
  },
  {
    name: 'symlink after a file of the same name',
    code: 'DUPLICATE_ENTRY',
    members: () => [file('l'), link('l', 'a')],
  },
  { name: 'directory where a file is', code: 'DUPLICATE_ENTRY', members: () => [file('f'), dir('f/')] },
  { name: 'member below a file', code: 'PARENT_NOT_DIRECTORY', members: () => [file('f'), file('f/x')] },
  // Sizes and corruption.
  {
    name: 'gzip bomb past maxBytes',
    code: 'SIZE_LIMIT_EXCEEDED',
    gzip: true,
    maxBytes: 64 * 1024,
    members: () => [file('zeros', '\0'.repeat(16 * 1024 * 1024))],
  },
  {
    name: 'plain tar past maxBytes',
    code: 'SIZE_LIMIT_EXCEEDED',
    maxBytes: 4096,
    members: () => [file('a', 'x'.repeat(2000)), file('b', 'y'.repeat(2000))],
  },
  {
    name: 'bad header checksum',
    code: 'CORRUPT_ARCHIVE',
    members: () => [{ ...file('f'), checksumDelta: 1 }],
  },
  {
    name: 'truncated content',
    code: 'CORRUPT_ARCHIVE',
    noEnd: true,
    members: () => [{ ...file('f'), size: 100_000 }],
  },
  {
    name: 'a member hidden after the end-of-archive marker',
    code: 'CORRUPT_ARCHIVE',
    members: () => [file('shown', 'ok')],
    trailing: rawTar([file('hidden')]),
  },
  {
    name: 'an archive ending inside a header',
    code: 'CORRUPT_ARCHIVE',
    noEnd: true,
    members: () => [file('a', 'ok')],
    trailing: Buffer.alloc(300, 0x61),
  },
  {
    name: 'header without ustar magic',
    code: 'CORRUPT_ARCHIVE',
    members: () => [{ ...file('v7'), noMagic: true }],
  },
  {
    name: 'pax record whose length overruns the header',
    code: 'CORRUPT_ARCHIVE',
    members: () => [{ ...file('f'), rawPax: Buffer.from('99 path=f\n') }],
  },
  {
    name: 'pax record without "="',
    code: 'CORRUPT_ARCHIVE',
    members: () => [{ ...file('f'), rawPax: Buffer.from('9 pathf\n') }],
  },
  {
    name: 'pax size that is not a number',
    code: 'CORRUPT_ARCHIVE',
    members: () => [{ ...file('f'), pax: { size: '4e3' } }],
  },
  {
    name: 'extension header followed by the end of the archive',
    code: 'CORRUPT_ARCHIVE',
    members: () => [{ name: 'PaxHeader', typeflag: 'x', data: paxRecord('path', 'f') }],
  },
  {
    name: 'extension header larger than 1 MiB',
    code: 'CORRUPT_ARCHIVE',
    noEnd: true,
    members: () => [{ name: '././@LongLink', typeflag: 'L', size: 2 * 1024 * 1024 }],
  },
  {
    name: 'directory carrying data',
    code: 'CORRUPT_ARCHIVE',
    members: () => [{ ...dir('d/'), data: rawTar([file('hidden')], { end: false }) }],
  },
  {
    name: 'symlink carrying data',
    code: 'CORRUPT_ARCHIVE',
    members: () => [{ ...link('l', 'a'), data: 'payload' }],
  },
];

for (const c of CASES) {
  test(`refuses ${c.name} with ${c.code}, leaving nothing behind`, async () => {
    await withTempDir(async (tmp) => {
      const outside = join(tmp, 'outside');
      await mkdir(outside);
      let bytes = rawTar(c.members(outside), {
        end: !c.noEnd,
        ...(c.trailing ? { trailing: c.trailing } : {}),
      });
      if (c.gzip) bytes = gzipSync(bytes);
      const archive = join(tmp, c.gzip ? 'hostile.tar.gz' : 'hostile.tar');
      await writeFile(archive, bytes);
      // Once into a missing dest (removed again), once into an existing empty one (emptied again).
      await rejectsWithCode(extractArchive(archive, join(tmp, 'new-dest'), { maxBytes: c.maxBytes }), c.code);
      await mkdir(join(tmp, 'empty-dest'));
      await rejectsWithCode(
        extractArchive(archive, join(tmp, 'empty-dest'), { maxBytes: c.maxBytes }),
        c.code,
      );
      assert.deepEqual(await readdir(join(tmp, 'empty-dest')), []);
      assert.deepEqual(await readdir(outside), []);
      assert.deepEqual(
        (await readdir(tmp)).sort(),
        ['empty-dest', archive.slice(tmp.length + 1), 'outside'].sort(),
      );
    });
  });
}

test('the well-formed twins of the hostile cases extract (the refusals are not blanket ones)', async () => {
  await withTempDir(async (tmp) => {
    const members: RawMember[] = [
      dir('./'),
      dir('sub/'),
      file('sub/f', 'data'),
      link('alias', 'sub'),
      link('a/b/l', '../../sub/f'),
      link('up', '.'),
      { ...file('harmless.txt'), pax: { path: 'pax/renamed.txt' } },
      { ...file('././@LongLink'), gnuLongName: `long/${'x'.repeat(120)}` },
      file('a/b/c/d', 'deep'),
    ];
    await writeFile(join(tmp, 'ok.tar'), rawTar(members));
    const result = await extractArchive(join(tmp, 'ok.tar'), join(tmp, 'dest'), { maxBytes: 64 * 1024 });
    assert.deepEqual(result, { files: 4, directories: 6, symlinks: 3, bytes: 4 + 4 + 4 + 4 });
    assert.deepEqual((await readdir(join(tmp, 'dest'))).sort(), ['a', 'alias', 'long', 'pax', 'sub', 'up']);
  });
});

test('member names follow the Windows rules on win32: device names, streams, trailing dots', () => {
  for (const name of ['aux', 'docs/NUL.txt', 'com1.log', 'docs/a:stream', 'dir./f', 'f ']) {
    assert.throws(() => splitMemberName(name, 'win32'), { code: 'UNSAFE_PATH' }, name);
    assert.deepEqual(splitMemberName(name, 'linux'), name.split('/'), name);
  }
  assert.deepEqual(splitMemberName('./a//b/./c/', 'win32'), ['a', 'b', 'c']);
  assert.deepEqual(splitMemberName('.', 'linux'), []);
});

test('symlink targets: leading .. up to the link depth, then names only', () => {
  assert.equal(symlinkTargetProblem(['l'], 'x/y'), undefined);
  assert.equal(symlinkTargetProblem(['a', 'l'], '..'), undefined);
  assert.equal(symlinkTargetProblem(['a', 'l'], '../..'), 'leaves-root');
  assert.equal(symlinkTargetProblem(['a', 'b', 'l'], '../../c/./d/'), undefined);
  assert.equal(symlinkTargetProblem(['l'], 'c/../d'), 'dotdot-after-name');
  assert.equal(symlinkTargetProblem(['l'], '/etc'), 'absolute');
  assert.equal(symlinkTargetProblem(['l'], 'C:\\x'), 'invalid');
  assert.equal(symlinkTargetProblem(['l'], 'C:/x'), 'absolute');
  assert.equal(symlinkTargetProblem(['l'], ''), 'invalid');
});

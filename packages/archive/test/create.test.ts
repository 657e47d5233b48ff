// createArchive: reproducibility, python tufup's layout, pax headers, options, refusals.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, cp, link, mkdir, readFile, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { type ProgressEvent, withTempDir } from '@tufup/common';
import { DEFAULT_MTIME, createArchive, createTar } from '../src/index.js';
import { encodeMemberHeader } from '../src/tar-format.js';
import { FIXTURE, firstHeader, listTar, rejectsWithCode, sha256 } from './helpers.js';

interface TreeSpec {
  files: [path: string, content: string, mode: number][];
  dirs: string[];
  symlinks: [path: string, target: string][];
}

const SPEC: TreeSpec = {
  dirs: ['empty', 'lib/deep/er'],
  files: [
    ['README.txt', 'hello\n', 0o644],
    ['bin/app', '#!/bin/sh\necho app\n', 0o755],
    ['bin/tool', '#!/bin/sh\n', 0o700],
    ['lib/deep/er/data.bin', 'x'.repeat(70000), 0o600],
    ['lib/a-b', 'dash', 0o664],
    ['docs/naïve café ✓.txt', 'unicode', 0o644],
    [`long/${'d'.repeat(90)}/${'f'.repeat(60)}.txt`, 'long name', 0o644],
  ],
  symlinks: [
    ['bin/launch', 'app'],
    ['lib/current', 'deep/er'],
    ['lib/deep/er/up', '../../../README.txt'],
  ],
};

/** Build SPEC under `root` in the given order, with the given mtime for every entry. */
async function buildTree(root: string, reverse: boolean, mtime: Date): Promise<void> {
  const order = <T>(xs: T[]) => (reverse ? [...xs].reverse() : xs);
  await mkdir(root, { recursive: true });
  for (const d of order(SPEC.dirs)) await mkdir(join(root, d), { recursive: true });
  for (const [p, content, mode] of order(SPEC.files)) {
    await mkdir(join(root, p, '..'), { recursive: true });
    await writeFile(join(root, p), content, { mode });
    await chmod(join(root, p), mode);
    await utimes(join(root, p), mtime, mtime);
  }
  for (const [p, target] of order(SPEC.symlinks)) await symlink(target, join(root, p));
}

test('the same tree built twice (other order, mtimes, umask) gives identical .tar and .tar.gz', async () => {
  await withTempDir(async (tmp) => {
    const oldUmask = process.umask(0o022);
    try {
      await buildTree(join(tmp, 'a'), false, new Date('2021-05-05T10:00:00Z'));
      process.umask(0o077);
      await buildTree(join(tmp, 'b'), true, new Date('2024-12-24T18:30:00Z'));
      // Same content, different permission bits beyond the owner-exec bit.
      await chmod(join(tmp, 'b', 'bin', 'tool'), 0o755);
      await chmod(join(tmp, 'b', 'lib', 'a-b'), 0o600);
    } finally {
      process.umask(oldUmask);
    }
    const a = await createArchive(join(tmp, 'a'), join(tmp, 'a.tar.gz'), { tarPath: join(tmp, 'a.tar') });
    const b = await createArchive(join(tmp, 'b'), join(tmp, 'b.tar.gz'), { tarPath: join(tmp, 'b.tar') });
    assert.deepEqual(a, b);
    assert.equal(sha256(await readFile(join(tmp, 'a.tar'))), sha256(await readFile(join(tmp, 'b.tar'))));
    assert.equal(
      sha256(await readFile(join(tmp, 'a.tar.gz'))),
      sha256(await readFile(join(tmp, 'b.tar.gz'))),
    );
    // The trees really did differ on disk.
    const modes = (root: string) =>
      spawnSync('stat', ['-c', '%a %Y', join(root, 'lib', 'a-b')]).stdout.toString();
    assert.notEqual(modes(join(tmp, 'a')), modes(join(tmp, 'b')));
  });
});

test('the result reports the size and sha256 of the files it wrote, and progress ends at the tar size', async () => {
  await withTempDir(async (tmp) => {
    await buildTree(join(tmp, 'b'), false, new Date());
    const events: ProgressEvent[] = [];
    const result = await createArchive(join(tmp, 'b'), join(tmp, 'out', 'b.tar.gz'), {
      tarPath: join(tmp, 'out', 'b.tar'),
      onProgress: (e) => events.push(e),
    });
    const gz = await readFile(join(tmp, 'out', 'b.tar.gz'));
    const tarBytes = await readFile(join(tmp, 'out', 'b.tar'));
    assert.deepEqual(result.gzip, { size: gz.length, sha256: sha256(gz) });
    assert.deepEqual(result.tar, { size: tarBytes.length, sha256: sha256(tarBytes) });
    assert.ok(gunzipSync(gz).equals(tarBytes), 'the .tar.gz holds exactly the .tar');
    assert.equal(tarBytes.length % 10240, 0, 'padded to whole 10240-byte records like GNU tar and tarfile');
    const last = events.at(-1)!;
    assert.equal(last.phase, 'archive');
    assert.equal(last.done, tarBytes.length);
    assert.equal(last.total, tarBytes.length);
    assert.equal(gz[9], 3, 'gzip header OS byte normalized to Unix');
    assert.deepEqual(
      (await readdir(join(tmp, 'out'))).sort(),
      ['b.tar', 'b.tar.gz'],
      'no temp files left behind',
    );
  });
});

test('members are ./-named, depth-first with siblings in UTF-8 byte order, owned by 0, at one mtime', async () => {
  await withTempDir(async (tmp) => {
    const root = join(tmp, 'b');
    for (const d of ['a', 'a/c']) await mkdir(join(root, d), { recursive: true });
    for (const f of ['a-b', 'B', 'z', 'é', 'a/c/f', 'a/c.txt']) await writeFile(join(root, f), f);
    await createArchive(root, join(tmp, 'b.tar.gz'), { tarPath: join(tmp, 'b.tar') });
    const members = await listTar(await readFile(join(tmp, 'b.tar')));
    // '/' sorts before '-' here because a directory's entries follow it (GNU tar --sort=name, python tufup).
    assert.deepEqual(
      members.map((m) => m.name),
      ['./', './B', './a/', './a/c/', './a/c/f', './a/c.txt', './a-b', './z', './é'],
    );
    for (const m of members) {
      assert.equal(m.uid, 0);
      assert.equal(m.gid, 0);
      assert.equal(m.uname, '');
      assert.equal(m.gname, '');
      assert.equal(m.mtime, DEFAULT_MTIME);
    }
  });
});

test('the layout matches python tufup archives of the same bundle, member for member', async () => {
  await withTempDir(async (tmp) => {
    for (const version of ['1.0', '3.0']) {
      const bundle = join(tmp, version);
      await cp(join(FIXTURE, 'bundles', version), bundle, { recursive: true });
      await chmod(join(bundle, 'bin'), 0o755);
      // The fixture's copy of the bundle lost its symlink (it is a plain file there); the manifest and
      // python's archive have bin/launch → example_app.
      await rm(join(bundle, 'bin', 'launch'));
      await symlink('example_app', join(bundle, 'bin', 'launch'));
      await createArchive(bundle, join(tmp, `${version}.tar.gz`), { tarPath: join(tmp, `${version}.tar`) });
      const ours = await listTar(await readFile(join(tmp, `${version}.tar`)));
      const python = await listTar(
        gunzipSync(readFileSync(join(FIXTURE, 'repository', 'targets', `example_app-${version}.tar.gz`))),
      );
      const shape = (m: (typeof ours)[number]) => ({
        name: m.name,
        type: m.type,
        mode: m.mode,
        size: m.size,
        linkname: m.linkname,
      });
      assert.deepEqual(ours.map(shape), python.map(shape));
      // Like python's tarfile, a pax `path` record only where the name needs one.
      const paxPaths = (ms: typeof ours) => ms.filter((m) => m.pax?.path).map((m) => m.name);
      assert.deepEqual(paxPaths(ours), paxPaths(python));
    }
  });
});

test('non-ASCII and long names and link targets get pax records that GNU tar reads back', async () => {
  await withTempDir(async (tmp) => {
    const root = join(tmp, 'b');
    const longDir = `${'d'.repeat(120)}`;
    const longTarget = `${longDir}/${'t'.repeat(40)}.txt`;
    await mkdir(join(root, longDir), { recursive: true });
    await writeFile(join(root, longDir, `${'t'.repeat(40)}.txt`), 'x');
    await writeFile(join(root, 'ünï-名前.txt'), 'u');
    await symlink(longTarget, join(root, 'long-link'));
    await symlink('ünï-名前.txt', join(root, 'uni-link'));
    await createArchive(root, join(tmp, 'b.tar.gz'), { tarPath: join(tmp, 'b.tar') });
    const members = await listTar(await readFile(join(tmp, 'b.tar')));
    const byName = new Map(members.map((m) => [m.name, m]));
    assert.equal(byName.get('./ünï-名前.txt')?.pax?.path, './ünï-名前.txt');
    assert.equal(byName.get(`./${longDir}/`)?.pax?.path, `./${longDir}/`);
    assert.equal(byName.get('./long-link')?.pax?.linkpath, longTarget);
    assert.equal(byName.get('./uni-link')?.pax?.linkpath, 'ünï-名前.txt');
    assert.equal(byName.get('./')?.pax, null, 'short ASCII names need no pax header');
    const gnu = spawnSync('tar', ['-tvf', join(tmp, 'b.tar')], { encoding: 'utf8' });
    assert.equal(gnu.status, 0, gnu.stderr);
    assert.match(gnu.stdout, new RegExp(`long-link -> ${longTarget}`));
    assert.match(gnu.stdout, /\.\/ünï-名前\.txt/);
    assert.match(gnu.stdout, /uni-link -> ünï-名前\.txt/);
  });
});

test('a file of 8 GiB or more gets a pax size record; one byte less fits the ustar field', async () => {
  const big = 8 * 1024 ** 3;
  const mtime = DEFAULT_MTIME;
  const over = encodeMemberHeader({ name: './big', type: 'file', mode: 0o644, size: big, mtime });
  const under = encodeMemberHeader({ name: './big', type: 'file', mode: 0o644, size: big - 1, mtime });
  assert.equal(under.length, 512);
  assert.equal(under.subarray(124, 136).toString('latin1'), '77777777777\0');
  assert.equal(over.length, 1536, 'pax header, pax records, ustar header');
  assert.match(over.subarray(512, 1024).toString('latin1'), /^\d+ size=8589934592\n/);
  assert.equal(over.subarray(1024 + 124, 1024 + 136).toString('latin1'), '00000000000\0');
  // tar-stream, an independent reader, takes the size from the pax record.
  assert.equal((await firstHeader(over)).size, big);
  assert.equal((await firstHeader(under)).size, big - 1);
});

test('SOURCE_DATE_EPOCH sets the mtime, the mtime option wins, keepMtimes keeps the real ones', async () => {
  await withTempDir(async (tmp) => {
    const root = join(tmp, 'b');
    await mkdir(root);
    await writeFile(join(root, 'f'), 'f');
    await utimes(join(root, 'f'), 1_600_000_000, 1_600_000_123);
    const mtimes = async (opts: Parameters<typeof createArchive>[2]) => {
      await createArchive(root, join(tmp, 'o.tar.gz'), { ...opts, tarPath: join(tmp, 'o.tar') });
      return (await listTar(await readFile(join(tmp, 'o.tar')))).map((m) => m.mtime);
    };
    const saved = process.env.SOURCE_DATE_EPOCH;
    try {
      process.env.SOURCE_DATE_EPOCH = '1700000000';
      assert.deepEqual(await mtimes({}), [1_700_000_000, 1_700_000_000]);
      assert.deepEqual(
        await mtimes({ mtime: new Date('2010-01-01T00:00:00Z') }),
        [1_262_304_000, 1_262_304_000],
      );
      assert.equal((await mtimes({ keepMtimes: true }))[1], 1_600_000_123);
      process.env.SOURCE_DATE_EPOCH = 'yesterday';
      await rejectsWithCode(mtimes({}), 'INVALID_OPTION');
      delete process.env.SOURCE_DATE_EPOCH;
      assert.deepEqual(await mtimes({}), [DEFAULT_MTIME, DEFAULT_MTIME]);
    } finally {
      if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
      else process.env.SOURCE_DATE_EPOCH = saved;
    }
  });
});

test('modes are 0644/0755 by the owner-exec bit unless keepModes', async () => {
  await withTempDir(async (tmp) => {
    const root = join(tmp, 'b');
    await mkdir(join(root, 'd'), { recursive: true });
    await chmod(join(root, 'd'), 0o750);
    for (const [name, mode] of [
      ['r', 0o400],
      ['x', 0o700],
      ['gx', 0o654],
      ['w', 0o666],
    ] as const) {
      await writeFile(join(root, name), name);
      await chmod(join(root, name), mode);
    }
    const modes = async (keepModes: boolean) => {
      await createArchive(root, join(tmp, 'o.tar.gz'), { keepModes, tarPath: join(tmp, 'o.tar') });
      const ms = await listTar(await readFile(join(tmp, 'o.tar')));
      return Object.fromEntries(ms.map((m) => [m.name, m.mode]));
    };
    assert.deepEqual(await modes(false), {
      './': 0o755,
      './d/': 0o755,
      './gx': 0o644,
      './r': 0o644,
      './w': 0o644,
      './x': 0o755,
    });
    const kept = await modes(true);
    assert.equal(kept['./d/'], 0o750);
    assert.equal(kept['./gx'], 0o654);
    assert.equal(kept['./r'], 0o400);
  });
});

test('symlinks leaving the bundle are refused unless allowed; ambiguous targets always are', async () => {
  await withTempDir(async (tmp) => {
    const root = join(tmp, 'b');
    await mkdir(join(root, 'sub'), { recursive: true });
    await symlink('../../outside', join(root, 'sub', 'escape'));
    await rejectsWithCode(createArchive(root, join(tmp, 'o.tar.gz')), 'SYMLINK_OUTSIDE_BUNDLE');
    const allowed = await createArchive(root, join(tmp, 'o.tar.gz'), {
      allowExternalSymlinks: true,
      tarPath: join(tmp, 'o.tar'),
    });
    assert.equal(allowed.members, 3);
    const escaping = (await listTar(await readFile(join(tmp, 'o.tar')))).find(
      (m) => m.name === './sub/escape',
    );
    assert.equal(escaping?.linkname, '../../outside');

    await rm(join(root, 'sub', 'escape'));
    await symlink('/etc/passwd', join(root, 'abs'));
    await rejectsWithCode(createArchive(root, join(tmp, 'o.tar.gz')), 'SYMLINK_OUTSIDE_BUNDLE');

    await rm(join(root, 'abs'));
    await symlink('sub/../sub', join(root, 'ambiguous'));
    await rejectsWithCode(
      createArchive(root, join(tmp, 'o.tar.gz'), { allowExternalSymlinks: true }),
      'UNSAFE_SYMLINK_TARGET',
    );
  });
});

test('hard links, FIFOs and sockets in a bundle are refused, and nothing is written', async () => {
  await withTempDir(async (tmp) => {
    const cases: [string, (root: string) => Promise<void>, string][] = [
      ['hardlink', (root) => link(join(root, 'f'), join(root, 'f2')), 'HARDLINK_IN_BUNDLE'],
      [
        'fifo',
        async (root) => {
          const r = spawnSync('mkfifo', [join(root, 'pipe')]);
          assert.equal(r.status, 0);
        },
        'UNSUPPORTED_FILE_TYPE',
      ],
    ];
    for (const [name, make, code] of cases) {
      const root = join(tmp, name);
      await mkdir(root);
      await writeFile(join(root, 'f'), 'f');
      await make(root);
      await rejectsWithCode(createArchive(root, join(tmp, 'out', `${name}.tar.gz`)), code);
    }
    // A listening Unix socket.
    const root = join(tmp, 'socket');
    await mkdir(root);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(root, 's.sock'), resolve));
    try {
      await rejectsWithCode(createArchive(root, join(tmp, 'out', 'socket.tar.gz')), 'UNSUPPORTED_FILE_TYPE');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    assert.deepEqual(await readdir(join(tmp, 'out')).catch(() => []), []);
  });
});

test('bad inputs are refused with their codes', async () => {
  await withTempDir(async (tmp) => {
    await rejectsWithCode(createArchive(join(tmp, 'missing'), join(tmp, 'o.tar.gz')), 'BUNDLE_NOT_DIRECTORY');
    await writeFile(join(tmp, 'file'), 'x');
    await rejectsWithCode(createArchive(join(tmp, 'file'), join(tmp, 'o.tar.gz')), 'BUNDLE_NOT_DIRECTORY');
    const root = join(tmp, 'b');
    await mkdir(root);
    await rejectsWithCode(createArchive(root, join(root, 'self.tar.gz')), 'INVALID_OPTION');
    await rejectsWithCode(createArchive(root, join(tmp, 'o.tar.gz'), { gzipLevel: 10 }), 'INVALID_OPTION');
    await writeFile(join(root, 'back\\slash'), 'x');
    await rejectsWithCode(createArchive(root, join(tmp, 'o.tar.gz')), 'UNPORTABLE_NAME');
  });
});

test('an aborted create rejects with AbortError and leaves no files', async () => {
  await withTempDir(async (tmp) => {
    const root = join(tmp, 'b');
    await mkdir(root);
    // Enough data that the pipeline is still running when the first progress event aborts it.
    await writeFile(join(root, 'big'), Buffer.alloc(8 * 1024 * 1024, 1));
    const controller = new AbortController();
    await assert.rejects(
      createArchive(root, join(tmp, 'out', 'o.tar.gz'), {
        tarPath: join(tmp, 'out', 'o.tar'),
        signal: controller.signal,
        onProgress: (e) => {
          if (e.done > 0) controller.abort();
        },
      }),
      { name: 'AbortError' },
    );
    assert.deepEqual(await readdir(join(tmp, 'out')), []);
  });
});

test('createTar writes the very tar createArchive makes, refuses a bundle of another size before reading it', async () => {
  await withTempDir(async (tmp) => {
    const bundle = join(tmp, 'bundle');
    await buildTree(bundle, false, new Date('2022-02-02T00:00:00Z'));
    const made = await createArchive(bundle, join(tmp, 'out.tar.gz'), { tarPath: join(tmp, 'out.tar') });
    const mtime = 1_700_000_000;
    const other = await createArchive(bundle, join(tmp, 'other.tar.gz'), { mtime });

    const tar = await createTar(bundle, join(tmp, 'again.tar'));
    assert.deepEqual(tar.tar, made.tar);
    assert.equal(tar.members, made.members);
    assert.deepEqual(await readFile(join(tmp, 'again.tar')), await readFile(join(tmp, 'out.tar')));
    // The mtime option (and only it) decides the members' mtime, as for createArchive.
    const scratch = await createTar(bundle, join(tmp, 'scratch.tar'), {
      mtime,
      durable: false,
      expectSize: other.tar.size,
    });
    assert.deepEqual(scratch.tar, other.tar);
    assert.notEqual(scratch.tar.sha256, made.tar.sha256);

    // A file that grew past the tar's last 10 KiB record: refused from the scan alone, nothing written.
    await writeFile(join(bundle, 'README.txt'), 'hello\n'.repeat(4000));
    await rejectsWithCode(
      createTar(bundle, join(tmp, 'grown.tar'), { expectSize: made.tar.size }),
      'TAR_SIZE_MISMATCH',
    );
    assert.deepEqual(
      (await readdir(tmp)).filter((n) => n.includes('grown')),
      [],
    );
    await rejectsWithCode(createTar(bundle, join(bundle, 'inside.tar')), 'INVALID_OPTION');
  });
});

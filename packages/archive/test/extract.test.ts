// extractArchive and gunzipToTar on well-formed archives: round trips and python tufup's own archives.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, readdir, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { type ProgressEvent, withTempDir } from '@tufup/common';
import { createArchive, extractArchive, gunzipToTar, isGzipFile } from '../src/index.js';
import type { FixtureManifestFile } from '../../../test-support/fixture.js';
import {
  FIXTURE,
  type RawMember,
  type TreeEntry,
  rawTar,
  readTree,
  rejectsWithCode,
  sha256,
} from './helpers.js';

interface Manifest {
  bundles: {
    version: string;
    archive: { path: string; tar_size: number; tar_sha256: string };
    files: Record<string, FixtureManifestFile>;
  }[];
}
const manifest = JSON.parse(readFileSync(join(FIXTURE, 'manifest.json'), 'utf8')) as Manifest;

test('a round trip keeps files, exec bits, symlinks, empty dirs and unicode names, gzipped or not', async () => {
  await withTempDir(async (tmp) => {
    const src = join(tmp, 'src');
    await mkdir(join(src, 'bin'), { recursive: true });
    await mkdir(join(src, 'empty'));
    await mkdir(join(src, 'lib', 'v1'), { recursive: true });
    await writeFile(join(src, 'bin', 'app'), '#!/bin/sh\necho hi\n');
    await chmod(join(src, 'bin', 'app'), 0o755);
    await writeFile(join(src, 'bin', 'data'), Buffer.alloc(300_000, 7));
    await writeFile(join(src, 'empty-file'), '');
    await writeFile(join(src, 'lib', 'v1', 'naïve 名前.txt'), 'unicode');
    await symlink('app', join(src, 'bin', 'launch'));
    await symlink('v1', join(src, 'lib', 'current'));
    await symlink('../bin/app', join(src, 'lib', 'app-link'));
    await createArchive(src, join(tmp, 'a.tar.gz'), { tarPath: join(tmp, 'a.tar') });

    const expected = await readTree(src);
    for (const archive of ['a.tar.gz', 'a.tar']) {
      const dest = join(tmp, `out-${archive}`);
      const result = await extractArchive(join(tmp, archive), dest);
      const got = await readTree(dest);
      assert.deepEqual(normalizeDirModes(got), normalizeDirModes(expected));
      assert.equal((await stat(join(dest, 'bin', 'app'))).mode & 0o777, 0o755);
      assert.equal((await stat(join(dest, 'bin', 'data'))).mode & 0o777, 0o644);
      assert.equal(await readFile(join(dest, 'lib', 'current', 'naïve 名前.txt'), 'utf8'), 'unicode');
      assert.deepEqual(result, { files: 4, directories: 4, symlinks: 3, bytes: 300_000 + 18 + 7 });
    }
  });
});

/** Directory modes on disk depend on the umask of whoever made the source; archives store 0755. */
function normalizeDirModes(tree: Map<string, TreeEntry>): Map<string, TreeEntry> {
  return new Map(
    [...tree].map(([k, v]) => [k, v.type === 'directory' ? { type: v.type } : v] as [string, TreeEntry]),
  );
}

test("python tufup's archives extract to exactly the files, modes, symlinks and sha256s of its manifest", async () => {
  await withTempDir(async (tmp) => {
    for (const bundle of manifest.bundles) {
      const dest = join(tmp, bundle.version);
      await extractArchive(join(FIXTURE, 'repository', 'targets', bundle.archive.path), dest, {
        maxBytes: bundle.archive.tar_size,
      });
      const tree = await readTree(dest);
      const got: Record<string, FixtureManifestFile> = {};
      for (const [path, entry] of tree) {
        if (entry.type === 'directory') continue;
        got[path] =
          entry.type === 'symlink'
            ? { type: 'symlink', target: entry.target! }
            : {
                type: 'file',
                size: entry.size!,
                sha256: entry.sha256!,
                mode: `0o${entry.mode!.toString(8)}`,
              };
      }
      assert.deepEqual(got, bundle.files, `version ${bundle.version}`);
    }
  });
});

test("gunzipToTar gives python tufup's tar_size and tar_hash for each archive, with progress", async () => {
  await withTempDir(async (tmp) => {
    for (const bundle of manifest.bundles) {
      const events: ProgressEvent[] = [];
      const gz = join(FIXTURE, 'repository', 'targets', bundle.archive.path);
      const out = join(tmp, `${bundle.version}.tar`);
      const result = await gunzipToTar(gz, out, {
        maxBytes: bundle.archive.tar_size,
        onProgress: (e) => events.push(e),
      });
      assert.deepEqual(result, { size: bundle.archive.tar_size, sha256: bundle.archive.tar_sha256 });
      assert.equal(sha256(await readFile(out)), bundle.archive.tar_sha256);
      const size = (await stat(gz)).size;
      assert.deepEqual(events.at(-1), { phase: 'gunzip', done: size, total: size, unit: 'bytes' });
    }
  });
});

test('gunzipToTar stops at maxBytes with SIZE_LIMIT_EXCEEDED and leaves no tar behind', async () => {
  await withTempDir(async (tmp) => {
    const bundle = manifest.bundles[0]!;
    const gz = join(FIXTURE, 'repository', 'targets', bundle.archive.path);
    await rejectsWithCode(
      gunzipToTar(gz, join(tmp, 'out', 'x.tar'), { maxBytes: bundle.archive.tar_size - 1 }),
      'SIZE_LIMIT_EXCEEDED',
    );
    assert.deepEqual(await readdir(join(tmp, 'out')), []);
    await writeFile(join(tmp, 'not.gz'), 'plain text, not gzip');
    await rejectsWithCode(gunzipToTar(join(tmp, 'not.gz'), join(tmp, 'out', 'y.tar')), 'CORRUPT_ARCHIVE');
    const truncated = gzipSync(Buffer.alloc(100_000, 1)).subarray(0, 50);
    await writeFile(join(tmp, 'cut.gz'), truncated);
    await rejectsWithCode(gunzipToTar(join(tmp, 'cut.gz'), join(tmp, 'out', 'z.tar')), 'CORRUPT_ARCHIVE');
    assert.deepEqual(await readdir(join(tmp, 'out')), []);
  });
});

test('gunzipToTar into a scratch file (durable: false) gives the same tar, refuses an existing file and leaves nothing on failure', async () => {
  await withTempDir(async (tmp) => {
    const bundle = manifest.bundles[0]!;
    const gz = join(FIXTURE, 'repository', 'targets', bundle.archive.path);
    const out = join(tmp, 'scratch.tar');
    const result = await gunzipToTar(gz, out, { durable: false, maxBytes: bundle.archive.tar_size });
    assert.deepEqual(result, { size: bundle.archive.tar_size, sha256: bundle.archive.tar_sha256 });
    assert.equal(sha256(await readFile(out)), bundle.archive.tar_sha256);
    // Never written through or over something that is there already.
    await rejectsWithCode(gunzipToTar(gz, out, { durable: false }), 'IO_ERROR');
    assert.equal(sha256(await readFile(out)), bundle.archive.tar_sha256);
    await rejectsWithCode(
      gunzipToTar(gz, join(tmp, 'limited.tar'), { durable: false, maxBytes: bundle.archive.tar_size - 1 }),
      'SIZE_LIMIT_EXCEEDED',
    );
    await writeFile(join(tmp, 'cut.gz'), gzipSync(Buffer.alloc(100_000, 1)).subarray(0, 50));
    await rejectsWithCode(
      gunzipToTar(join(tmp, 'cut.gz'), join(tmp, 'cut.tar'), { durable: false }),
      'CORRUPT_ARCHIVE',
    );
    assert.deepEqual((await readdir(tmp)).sort(), ['cut.gz', 'scratch.tar']);
  });
});

test('extractArchive wants an empty or missing destination', async () => {
  await withTempDir(async (tmp) => {
    const gz = join(FIXTURE, 'repository', 'targets', manifest.bundles[0]!.archive.path);
    await mkdir(join(tmp, 'full'));
    await writeFile(join(tmp, 'full', 'keep.txt'), 'mine');
    await rejectsWithCode(extractArchive(gz, join(tmp, 'full')), 'DEST_NOT_EMPTY');
    assert.equal(await readFile(join(tmp, 'full', 'keep.txt'), 'utf8'), 'mine');
    await writeFile(join(tmp, 'a-file'), 'x');
    await rejectsWithCode(extractArchive(gz, join(tmp, 'a-file')), 'DEST_NOT_EMPTY');
    await mkdir(join(tmp, 'empty'));
    const result = await extractArchive(gz, join(tmp, 'empty'));
    assert.equal(result.files, 9);
    assert.equal(await isGzipFile(gz), true);
  });
});

test('an aborted extraction rejects with AbortError and removes what it wrote', async () => {
  await withTempDir(async (tmp) => {
    const src = join(tmp, 'src');
    await mkdir(src);
    for (let i = 0; i < 20; i++) await writeFile(join(src, `f${i}`), Buffer.alloc(1024 * 1024, i));
    await createArchive(src, join(tmp, 'a.tar.gz'), { gzipLevel: 1, tarPath: join(tmp, 'a.tar') });
    const controller = new AbortController();
    await assert.rejects(
      extractArchive(join(tmp, 'a.tar'), join(tmp, 'dest'), {
        signal: controller.signal,
        // The last read of the plain tar happens while the extractor is still some members behind
        // (backpressure), so this aborts mid-extraction.
        onProgress: (e) => {
          if (e.done === e.total) controller.abort();
        },
      }),
      { name: 'AbortError' },
    );
    assert.deepEqual(await readdir(tmp).then((names) => names.sort()), ['a.tar', 'a.tar.gz', 'src']);
  });
});

test("extracted modes do not depend on the extracting process's umask", async () => {
  await withTempDir(async (tmp) => {
    const gz = join(FIXTURE, 'repository', 'targets', manifest.bundles[0]!.archive.path);
    const old = process.umask(0o077);
    try {
      await extractArchive(gz, join(tmp, 'x'));
    } finally {
      process.umask(old);
    }
    const tree = await readTree(join(tmp, 'x'));
    assert.equal((await stat(join(tmp, 'x'))).mode & 0o777, 0o755, "the root `./`'s mode, not 0700");
    assert.equal(tree.get('bin')?.mode, 0o755);
    assert.equal(tree.get('lib/plugins/extra')?.mode, 0o755);
    assert.equal(tree.get('bin/example_app')?.mode, 0o755);
    assert.equal(tree.get('README.txt')?.mode, 0o644);
  });
});

test('reads what other writers make: GNU headers, base-256 sizes, signed checksums, pax size/mtime, long links, no end blocks', async () => {
  await withTempDir(async (tmp) => {
    const longTarget = `${'d'.repeat(120)}/f`;
    const members: RawMember[] = [
      { name: 'dir', typeflag: '5', mode: 0o755, gnu: true, gnuLongName: `${'d'.repeat(120)}/` },
      { name: 'cut', data: 'long', gnu: true, gnuLongName: longTarget },
      { name: 'big-ish', data: Buffer.alloc(70_000, 3), gnu: true, base256Size: true },
      { name: 'é-signed', data: 'sum', signedChecksum: true },
      { name: 'sized', data: 'twelve bytes', size: 0, pax: { size: '12', mtime: '1234567890.5' } },
      { name: 'global', data: 'g', paxGlobal: { mtime: '1000000000' } },
      { name: 'ln', typeflag: '2', mode: 0o777, linkname: 'x', gnuLongLink: longTarget },
    ];
    await writeFile(join(tmp, 'other.tar'), rawTar(members, { end: false }));
    const dest = join(tmp, 'dest');
    const result = await extractArchive(join(tmp, 'other.tar'), dest);
    assert.deepEqual(result, { files: 5, directories: 1, symlinks: 1, bytes: 4 + 70_000 + 3 + 12 + 1 });
    assert.equal(await readFile(join(dest, longTarget), 'utf8'), 'long');
    assert.deepEqual(await readFile(join(dest, 'big-ish')), Buffer.alloc(70_000, 3));
    assert.equal(await readFile(join(dest, 'é-signed'), 'utf8'), 'sum');
    assert.equal(await readFile(join(dest, 'sized'), 'utf8'), 'twelve bytes');
    assert.equal((await stat(join(dest, 'sized'))).mtimeMs, 1234567890500);
    assert.equal((await stat(join(dest, 'global'))).mtimeMs, 1000000000000);
    assert.equal(await readlink(join(dest, 'ln')), longTarget);
    assert.equal(await readFile(join(dest, 'ln'), 'utf8'), 'long');
  });
});

test('members of odd sizes spanning the pieces the archive is read in extract intact, plain or gzipped', async () => {
  await withTempDir(async (tmp) => {
    const src = join(tmp, 'src');
    await mkdir(join(src, 'sub'), { recursive: true });
    // Sizes around the 256 KiB small-file cut and a few MiB in all, none a multiple of 512.
    for (let i = 0; i < 40; i++) {
      const size = 1 + ((i * 104_729) % 300_000);
      const bytes = Buffer.alloc(size);
      for (let j = 0; j < size; j += 997) bytes[j] = (i + j) & 0xff;
      await writeFile(join(src, i % 3 ? 'sub' : '', `f${i}`), bytes);
    }
    await createArchive(src, join(tmp, 'a.tar.gz'), { gzipLevel: 1, tarPath: join(tmp, 'a.tar') });
    const expected = normalizeDirModes(await readTree(src));
    for (const archive of ['a.tar', 'a.tar.gz']) {
      const dest = join(tmp, `out-${archive}`);
      await extractArchive(join(tmp, archive), dest, { maxBytes: (await stat(join(tmp, 'a.tar'))).size });
      assert.deepEqual(normalizeDirModes(await readTree(dest)), expected, archive);
    }
  });
});

test('hundreds of small files (the later ones written in batches by a worker thread) keep content, modes and mtimes', async () => {
  await withTempDir(async (tmp) => {
    const members: RawMember[] = [];
    for (let d = 0; d < 6; d++) {
      members.push({ name: `d${d}/`, typeflag: '5', mode: 0o755 });
      for (let i = 0; i < 60; i++) {
        const size = (d * 60 + i) * 37;
        members.push({
          name: `d${d}/f${i}`,
          data: Buffer.alloc(size, (d + i) & 0xff),
          mode: i % 5 ? 0o644 : 0o755,
        });
      }
    }
    // One file bigger than the worker's 1 MiB slab can share, between small ones.
    members.push({ name: 'd0/big', data: Buffer.alloc(200_000, 9) });
    members.push({ name: 'd5/last', data: 'end' });
    await writeFile(join(tmp, 'many.tar'), rawTar(members));
    const dest = join(tmp, 'dest');
    const result = await extractArchive(join(tmp, 'many.tar'), dest);
    assert.equal(result.files, 362);
    const tree = await readTree(dest);
    for (let d = 0; d < 6; d++) {
      for (let i = 0; i < 60; i++) {
        const size = (d * 60 + i) * 37;
        assert.deepEqual(
          tree.get(`d${d}/f${i}`),
          {
            type: 'file',
            mode: i % 5 ? 0o644 : 0o755,
            size,
            sha256: sha256(Buffer.alloc(size, (d + i) & 0xff)),
          },
          `d${d}/f${i}`,
        );
      }
    }
    assert.equal(tree.get('d0/big')?.sha256, sha256(Buffer.alloc(200_000, 9)));
    assert.equal(await readFile(join(dest, 'd5/last'), 'utf8'), 'end');
    // rawTar stamps every member with 2000-01-01.
    assert.equal((await stat(join(dest, 'd5/f59'))).mtimeMs, 946684800000);
    assert.equal((await stat(join(dest, 'd0/f1'))).mtimeMs, 946684800000);
  });
});

test('a file the worker thread cannot create fails the extraction with IO_ERROR and leaves nothing behind', async () => {
  await withTempDir(async (tmp) => {
    const members: RawMember[] = [];
    for (let i = 0; i < 100; i++) members.push({ name: `f${i}`, data: `file ${i}` });
    // A name component longer than file systems allow (ENAMETOOLONG), after the worker has taken over.
    members.push({ name: 'long', data: 'x', pax: { path: 'n'.repeat(300) } });
    for (let i = 100; i < 120; i++) members.push({ name: `f${i}`, data: `file ${i}` });
    await writeFile(join(tmp, 'bad.tar'), rawTar(members));
    await mkdir(join(tmp, 'dest'));
    await rejectsWithCode(extractArchive(join(tmp, 'bad.tar'), join(tmp, 'dest')), 'IO_ERROR');
    assert.deepEqual(await readdir(join(tmp, 'dest')), []);
  });
});

test("the root member's mode is applied to destDir (a staging dir made 0700 becomes the bundle's 0755)", async () => {
  await withTempDir(async (tmp) => {
    const cases: { rootMode?: number; want: number }[] = [
      { rootMode: 0o755, want: 0o755 },
      { rootMode: 0o750, want: 0o750 },
      // Group/other write is dropped and the owner keeps rwx, as for every directory.
      { rootMode: 0o777, want: 0o755 },
      { rootMode: 0o500, want: 0o700 },
      // No root member: destDir keeps the mode it was made with.
      { want: 0o700 },
    ];
    for (const [i, c] of cases.entries()) {
      const members: RawMember[] = [
        ...(c.rootMode !== undefined ? [{ name: './', typeflag: '5', mode: c.rootMode }] : []),
        { name: './a.txt', typeflag: '0', mode: 0o644, data: 'a' },
      ];
      const tarPath = join(tmp, `${i}.tar`);
      await writeFile(tarPath, rawTar(members));
      const dest = join(tmp, `dest-${i}`);
      await mkdir(dest, { mode: 0o700 });
      await chmod(dest, 0o700); // as mkdtemp makes it, whatever the umask
      await extractArchive(tarPath, dest);
      assert.equal((await stat(dest)).mode & 0o777, c.want, `root member mode ${c.rootMode?.toString(8)}`);
      assert.equal(await readFile(join(dest, 'a.txt'), 'utf8'), 'a');
    }
  });
});

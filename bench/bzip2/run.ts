// bzip2 speed: our encoder and decoder beside Debian's bzip2 on a ~20 MB tar, checking every result.
// Run: node --import tsx bench/bzip2/run.ts [--file PATH]   (builds its input under /root/.cache/tufup-bench/bzip2 once)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { Bzip2Reader } from '../../packages/patch/src/apply/bzip2/decoder.js';
import { bzip2Compress } from '../../packages/patch/src/diff/bzip2/encoder.js';

const CACHE = process.env.TUFUP_BENCH_CACHE ?? '/root/.cache/tufup-bench/bzip2';
const SIZE = 20_000_000;

async function input(): Promise<string> {
  const at = process.argv.indexOf('--file');
  if (at > 0 && process.argv[at + 1]) return process.argv[at + 1] as string;
  const file = join(CACHE, 'typescript-lib-20MB.tar');
  if (!existsSync(file)) {
    await mkdir(CACHE, { recursive: true });
    // The installed typescript's lib dir: JS, .d.ts and localized JSON, like an app bundle's tar.
    const tsDir = dirname(dirname(createRequire(import.meta.url).resolve('typescript')));
    const tar = execFileSync('tar', ['cf', '-', '-C', dirname(tsDir), 'typescript/lib'], {
      maxBuffer: 1 << 30,
    });
    await writeFile(file, tar.subarray(0, SIZE));
  }
  return file;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Wall and CPU seconds; CPU time stays meaningful when other work shares the machine. */
interface Timing {
  wall: number;
  cpu: number;
}

async function timedOurs<T>(fn: () => T | Promise<T>): Promise<[T, Timing]> {
  const t = performance.now();
  const c = process.cpuUsage();
  const r = await fn();
  const used = process.cpuUsage(c);
  return [r, { wall: (performance.now() - t) / 1000, cpu: (used.user + used.system) / 1e6 }];
}

/** Runs a Debian tool under bash's `time` (user + sys of the child) with stdout to `outFile`. */
function timedTool(args: string[], outFile: string): Timing {
  const t = performance.now();
  const script = 'TIMEFORMAT="%U %S"; { time "$@" > "$OUT"; } 2>&1';
  const report = execFileSync('bash', ['-c', script, 'bash', ...args], {
    env: { ...process.env, OUT: outFile },
  });
  const [user, sys] = report.toString().trim().split(/\s+/).slice(-2).map(Number) as [number, number];
  return { wall: (performance.now() - t) / 1000, cpu: user + sys };
}

/** Streams a .bz2 file through our decoder the way BSDIFF40 apply does (file reads, 1 MiB output reads). */
async function ourDecodeFile(path: string, size: number): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    let at = 0;
    const reader = new Bzip2Reader(
      {
        async read(dst, offset, length) {
          const { bytesRead } = await fh.read(dst, offset, length, at);
          at += bytesRead;
          return bytesRead;
        },
      },
      { maxOutput: size },
    );
    const out = new Uint8Array(size);
    let got = 0;
    while (got < size) {
      const n = await reader.read(out, got, Math.min(1 << 20, size - got));
      if (n === 0) break;
      got += n;
    }
    await reader.finish();
    return out.subarray(0, got);
  } finally {
    await fh.close();
  }
}

const file = await input();
const data = await readFile(file);
const want = sha256(data);
const mb = data.length / 1e6;
const work = join(CACHE, 'work');
await mkdir(work, { recursive: true });
const rows: string[][] = [];
const row = (tool: string, op: string, t: Timing, bytes: number, ok: boolean) =>
  rows.push([
    tool,
    op,
    t.wall.toFixed(2),
    t.cpu.toFixed(2),
    (mb / t.cpu).toFixed(1),
    String(bytes),
    ok ? 'yes' : 'NO',
  ]);

const debianBz2 = join(work, 'debian.bz2');
const tEnc = timedTool(['bzip2', '-9', '-c', file], debianBz2);
row('Debian bzip2 -9', 'compress', tEnc, (await readFile(debianBz2)).length, true);
const tDec = timedTool(['bzip2', '-dc', debianBz2], join(work, 'debian.out'));
const theirsBack = await readFile(join(work, 'debian.out'));
row('Debian bzip2 -d', 'decompress', tDec, theirsBack.length, sha256(theirsBack) === want);

const [ours, oEnc] = await timedOurs(() => bzip2Compress(data, { level: 9 }));
await writeFile(join(work, 'ours.bz2'), ours);
const oursByDebian = execFileSync('bzip2', ['-dc', join(work, 'ours.bz2')], { maxBuffer: 1 << 30 });
row('ours -9', 'compress', oEnc, ours.length, sha256(oursByDebian) === want);
const [a, oDec1] = await timedOurs(() => ourDecodeFile(debianBz2, data.length));
row('ours', 'decompress Debian .bz2', oDec1, a.length, sha256(a) === want);
const [b, oDec2] = await timedOurs(() => ourDecodeFile(join(work, 'ours.bz2'), data.length));
row('ours', 'decompress our .bz2', oDec2, b.length, sha256(b) === want);

console.log(
  `input: ${file} (${data.length} bytes), node ${process.version}, load average ${loadavg()[0]?.toFixed(1)}`,
);
const head = ['tool', 'operation', 'wall s', 'cpu s', 'MB/s (cpu)', 'bytes out', 'verified'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padEnd(widths[i] as number)).join('  '));
if (rows.some((r) => r[6] !== 'yes')) process.exitCode = 1;

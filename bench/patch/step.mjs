// Child of bench/patch/run.ts: runs one @tufup/patch operation and reports time, CPU and peak RSS as JSON.
//
//   node bench/patch/step.mjs diff OLD NEW PATCH FORMAT
//   node bench/patch/step.mjs apply OLD PATCH OUT
//   node bench/patch/step.mjs apply-client OLD PATCH OUT NEW_SHA256 NEW_SIZE
//
// apply-client calls apply as packages/client does: the old file's size and hash already verified (hashed
// here before the clock starts, as the client checks its cached tar against signed metadata), the new
// file's expected, and durable: false (the client verifies its cache before use).
import { hashFile } from '@tufup/common';
import { apply, diff } from '@tufup/patch';

const [op, a, b, c, d, e] = process.argv.slice(2);
let opts;
if (op === 'apply-client') {
  const old = await hashFile(a);
  opts = {
    oldVerified: { size: old.size, sha256: old.sha256 },
    expect: { size: Number(e), sha256: d },
    durable: false,
  };
}
const cpu0 = process.cpuUsage();
const start = process.hrtime.bigint();
const result =
  op === 'diff'
    ? await diff(a, b, c, { format: d })
    : op === 'apply' || op === 'apply-client'
      ? await apply(a, b, c, opts)
      : undefined;
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
const cpu = process.cpuUsage(cpu0);
// maxRSS is in kilobytes: the high-water mark of this process's resident memory.
process.stdout.write(
  `${JSON.stringify({
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
    result,
  })}\n`,
);

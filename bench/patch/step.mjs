// Child of bench/patch/run.ts: runs one @tufup/patch operation and reports time, CPU and peak RSS as JSON.
import { apply, diff } from '@tufup/patch';

const [op, a, b, c, format] = process.argv.slice(2);
const cpu0 = process.cpuUsage();
const start = process.hrtime.bigint();
const result =
  op === 'diff' ? await diff(a, b, c, { format }) : op === 'apply' ? await apply(a, b, c) : undefined;
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

// Child of bench/archive/rss.ts: runs one @tufup/archive operation and reports its time and peak RSS as JSON.
import { createArchive, extractArchive } from '@tufup/archive';

const [op, from, to, maxBytes] = process.argv.slice(2);
const start = process.hrtime.bigint();
const result =
  op === 'create'
    ? await createArchive(from, to)
    : await extractArchive(from, to, maxBytes ? { maxBytes: Number(maxBytes) } : {});
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
// maxRSS is in kilobytes: the high-water mark of this process's resident memory.
process.stdout.write(
  `${JSON.stringify({ op, seconds, peakRssMB: process.resourceUsage().maxRSS / 1024, result })}\n`,
);

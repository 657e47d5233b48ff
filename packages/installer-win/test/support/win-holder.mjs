// Holds a directory the way antivirus or a second app would: as its current dir plus an unshared open file inside.
import { existsSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, file, marker, releaseFile, maxMs] = process.argv.slice(2);
process.chdir(dir);
// 0x10000000 is libuv's UV_FS_O_EXLOCK (share mode 0); 0 is O_RDONLY.
openSync(join(dir, file), 0x10000000);
writeFileSync(marker, String(process.pid));
// Let go when the test says so (or after maxMs, so a failed test leaves no process behind).
const deadline = Date.now() + Number(maxMs);
const poll = setInterval(() => {
  if (existsSync(releaseFile) || Date.now() > deadline) {
    clearInterval(poll);
    process.exit(0);
  }
}, 100);

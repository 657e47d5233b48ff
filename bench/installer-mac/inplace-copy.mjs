// Baseline for the crash bench: an in-place "purge, then copy the new files over" install, as python tufup does on macOS.
// argv: <srcDir> <dstDir> <stepDelayMs>. Prints "ready" once loaded, then works with a pause after every entry.
import { chmod, copyFile, lstat, mkdir, readdir, readlink, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const [src, dst, delayArg] = process.argv.slice(2);
const delay = Number(delayArg);
const step = () => (delay > 0 ? sleep(delay) : undefined);

async function copyOver(from, to) {
  const st = await lstat(from);
  if (st.isDirectory()) {
    await mkdir(to, { recursive: true });
    for (const name of await readdir(from)) await copyOver(join(from, name), join(to, name));
    await chmod(to, st.mode & 0o7777);
  } else if (st.isSymbolicLink()) {
    await rm(to, { force: true });
    await symlink(await readlink(from), to);
  } else {
    await rm(to, { force: true });
    await copyFile(from, to);
    await chmod(to, st.mode & 0o7777);
  }
  await step();
}

async function makeWritable(path) {
  const st = await lstat(path);
  if (!st.isDirectory()) return;
  await chmod(path, (st.mode & 0o7777) | 0o700);
  for (const name of await readdir(path)) await makeWritable(join(path, name));
}

process.stdout.write('ready\n');
// purge: every top-level entry of the install dir goes
for (const name of await readdir(dst)) {
  await makeWritable(join(dst, name));
  await rm(join(dst, name), { recursive: true, force: true });
  await step();
}
// then the new version is copied over, entry by entry
await copyOver(src, dst);
await rm(src, { recursive: true, force: true });

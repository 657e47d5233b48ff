// An app's update-at-start as a process of its own, for tests that SIGKILL it: check, download, stage, hand off.
// Plain JavaScript on the built package, as an installed app runs it (and it starts in a fraction of tsx's time).
import { rm } from 'node:fs/promises';
import { Client } from '@tufup/client';

const options = JSON.parse(process.argv[2] ?? '{}');
const client = new Client({ ...options, refreshRequired: true });
const info = await client.checkForUpdates({ patch: false });
if (info) {
  await client.downloadAndApplyUpdate({
    // The test is about the metadata: the staged version is dropped instead of installed.
    install: async ({ srcDir }) => rm(srcDir, { recursive: true, force: true }),
  });
}
process.stdout.write(`done ${info?.version ?? 'none'}\n`);

// A stand-in app for the install-on-quit test: it updates in the background and quits; argv[2] is its JSON setup.
import { once } from 'node:events';
import { appendFile } from 'node:fs/promises';
import { AutoUpdater } from '../../src/index.js';
import { type AppDirs, makeClient, renameInstaller } from './app.js';

const setup = JSON.parse(process.argv[2] ?? '{}') as {
  dirs: AppDirs;
  url: string;
  app: string;
  /** Each installer call appends one JSON line here. */
  calls: string;
  /** 'beforeExit': the app just lets its event loop run dry; 'onQuit': its quit path calls onQuit() too. */
  mode: 'beforeExit' | 'onQuit';
};

const swap = renameInstaller();
const updater = new AutoUpdater({
  client: makeClient(setup.dirs, setup.url, setup.app, '1.0'),
  install: async (request) => {
    const { version, dstDir, relaunch } = request;
    await appendFile(setup.calls, `${JSON.stringify({ version, dstDir, relaunch })}\n`);
    await swap(request);
  },
  installOnQuit: true,
});
updater.on('update-downloaded', (u) => console.log(`update-downloaded ${u.info.version}`));
updater.on('error', (err) => {
  console.error(err);
  process.exitCode = 1;
});
updater.start();

if (setup.mode === 'onQuit') {
  await once(updater, 'update-downloaded');
  // A quit path reached twice at once, then once more; beforeExit still follows when the loop runs dry.
  const both = await Promise.all([updater.onQuit(), updater.onQuit()]);
  console.log(`onQuit ${both.join(' ')} ${await updater.onQuit()}`);
}
// Nothing else to do: the periodic timer is unref'd, so the process reaches beforeExit and hands off there.

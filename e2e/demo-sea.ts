// The single-executable demo: build hello-sea 1.0 and 2.0 as Node SEAs (~100 MB each), publish them with the real
// `tufup` CLI, serve the repository on 127.0.0.1, install 1.0, run it, and watch it update itself by a patch
// of a few hundred bytes. `--wine` also runs the Windows node.exe-based executable under wine.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { winePrefix } from '../packages/installer-win/test/support/wine.js';
import { endDemo, runDemo, startDemoServer } from './support/demo.js';
import { installAndRun, msBetween, publishHelloSea, type SeaPlatform } from './support/sea.js';

const say = (line: string) => console.log(line);
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

async function main() {
  const platforms: SeaPlatform[] = process.argv.includes('--wine') ? ['linux-x64', 'win-x64'] : ['linux-x64'];
  const work = await mkdtemp(join(tmpdir(), 'tufup-demo-sea-'));
  say(`== tufup single-executable demo in ${work}`);
  say(`== 1. build hello-sea 1.0 and 2.0 (${platforms.join(', ')}; 2.0 changes one line) and publish them`);
  const pub = await publishHelloSea(join(work, 'publisher'), platforms, ['1.0', '2.0'], {
    log: (l) => say(`   ${l}`),
  });

  say('== 2. serve the repository on 127.0.0.1');
  const server = await startDemoServer(pub.repoDir, join(work, 'nginx'));
  say(`   ${server.kind} at ${server.baseUrl}`);
  try {
    for (const platform of platforms) {
      const app = pub.apps.get(platform)!;
      say(
        `== 3. install ${app.appName} 1.0 and run it${platform === 'win-x64' ? ' under wine' : ''} (events.log):`,
      );
      const { events } = await installAndRun(pub, platform, join(work, platform), server.baseUrl, {
        from: '1.0',
        to: '2.0',
        timeoutMs: 600_000,
        onEvent: (e) => say(`   [${e.version}] ${e.event}${e.detail ? `: ${e.detail}` : ''}`),
        ...(platform === 'win-x64' ? { winePrefix: await winePrefix() } : {}),
      });
      const fig = pub.figures.find((f) => f.platform === platform)!;
      const started = events.filter((e) => e.event === 'started');
      say(
        `== ${app.appName}: executable ${mb(fig.executableBytes)}, archive ${mb(fig.archiveBytes)}, ` +
          `patch ${fig.patchBytes} B; tufup targets add 2.0 (archive + diff + sign) ${(fig.addWithPatchMs / 1000).toFixed(1)} s; ` +
          `1.0 start -> 2.0 start ${(msBetween(started[0], started[1]) / 1000).toFixed(1)} s`,
      );
    }
    say('== done: each executable updated itself by patch and was relaunched by its installer');
  } finally {
    await endDemo(work, server);
  }
}

runDemo(main);

// A tiny app for the wine tests, copied into each install dir: reports its version, may ask for an update, exits.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const report = (event) =>
  appendFileSync(config.reportFile, `${JSON.stringify({ pid: process.pid, ...event })}\n`);

try {
  const version = readFileSync(join(here, 'version.txt'), 'utf8').trim();
  const lib = await import(config.installerUrl);
  // What every app does first: settle an interrupted install.
  const recovered = await lib.recover(here, config.stateDir ? { stateDir: config.stateDir } : {});
  report({
    event: 'started',
    version,
    argv: process.argv.slice(3),
    cwd: process.cwd(),
    recover: recovered.outcome,
  });
  // Ask for the update once: an old version started again after a failed install must not retry it.
  const asked =
    existsSync(config.reportFile) && readFileSync(config.reportFile, 'utf8').includes('"installer-returned"');
  if (config.install && version === config.install.fromVersion && !asked) {
    const started = await lib.startInstallScript(config.install.request, config.install.options ?? {});
    report({ event: 'installer-returned', started });
    if (config.install.holdUntil) {
      // Stay alive (as an app that does not exit) until the test creates this file.
      const poll = setInterval(() => {
        if (existsSync(config.install.holdUntil)) {
          clearInterval(poll);
          process.exit(0);
        }
      }, 100);
    } else {
      process.exit(0);
    }
  }
} catch (err) {
  report({ event: 'error', code: err?.code, message: String(err?.message ?? err) });
  process.exitCode = 1;
}

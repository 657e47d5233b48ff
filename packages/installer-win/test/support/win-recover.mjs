// Runs recover(dstDir) under the Windows node and writes its result (or error code) to a file.
import { readFileSync, writeFileSync } from 'node:fs';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
try {
  const lib = await import(config.installerUrl);
  const result = await lib.recover(config.dstDir, config.stateDir ? { stateDir: config.stateDir } : {});
  writeFileSync(config.recoverResultFile, JSON.stringify(result));
} catch (err) {
  writeFileSync(
    config.recoverResultFile,
    JSON.stringify({ error: err?.code ?? 'ERROR', message: String(err?.message ?? err) }),
  );
}

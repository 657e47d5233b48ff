// Stand-ins for macOS's xattr, open and osascript, so the macOS code paths run for real on Linux.
import { execFile } from 'node:child_process';
import { chmod, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ELEVATE_SCRIPT } from '../../src/macos.js';

export interface ToolCall {
  tool: string;
  argv: string[];
  uid: number;
}

const HEADER = `#!${process.execPath}
import { appendFileSync } from 'node:fs';
const argv = process.argv.slice(2);
`;

/**
 * Writes fake tools into `dir`. Each appends {tool, argv, uid} to `record`. `open -n <bundle> --args ...`
 * then starts <bundle>/Contents/MacOS/<executable> the way LaunchServices would. `osascript` hands its call to
 * a broker (see `serveElevation`) through `brokerDir` and prints what the broker answers.
 */
export async function writeFakeTools(dir: string, record: string, brokerDir: string, executable = 'Demo') {
  const rec = (tool: string) =>
    `appendFileSync(${JSON.stringify(record)}, JSON.stringify({ tool: ${JSON.stringify(tool)}, argv, uid: process.getuid() }) + '\\n');\n`;
  const tools = {
    xattr: `${HEADER}${rec('xattr')}`,
    open: `${HEADER}${rec('open')}
import { spawn } from 'node:child_process';
import { join } from 'node:path';
if (argv[0] !== '-n') process.exit(64);
const rest = argv.indexOf('--args') === 2 ? argv.slice(3) : [];
spawn(join(argv[1], 'Contents', 'MacOS', ${JSON.stringify(executable)}), rest, { detached: true, stdio: 'ignore' }).unref();
`,
    osascript: `${HEADER}
import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
const id = process.pid + '-' + Date.now();
const dir = ${JSON.stringify(brokerDir)};
writeFileSync(join(dir, 'call-' + id + '.tmp'), JSON.stringify({ argv }));
renameSync(join(dir, 'call-' + id + '.tmp'), join(dir, 'call-' + id + '.json'));
const reply = join(dir, 'reply-' + id + '.json');
const wait = new Int32Array(new SharedArrayBuffer(4));
while (!existsSync(reply)) Atomics.wait(wait, 0, 0, 20);
const r = JSON.parse(readFileSync(reply, 'utf8'));
process.stdout.write(r.stdout);
process.stderr.write(r.stderr);
process.exit(r.code);
`,
  };
  const paths: Record<keyof typeof tools, string> = { xattr: '', open: '', osascript: '' };
  for (const [name, text] of Object.entries(tools) as [keyof typeof tools, string][]) {
    paths[name] = join(dir, `fake-${name}.mjs`);
    await writeFile(paths[name], text);
    await chmod(paths[name], 0o755);
  }
  return paths;
}

export async function readCalls(record: string): Promise<ToolCall[]> {
  const text = await readFile(record, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ToolCall);
}

export interface ElevationCall {
  prompt: string;
  command: string[];
  script: string[];
}

/**
 * Plays the part of macOS's "do shell script ... with administrator privileges": takes each call the fake
 * osascript leaves in `brokerDir`, checks it carries the constant script, and runs the command argv with this
 * (privileged) process's rights, or answers as a cancelled password prompt. `around` wraps the run (used to
 * grant write access when the tests themselves are not root).
 */
export function serveElevation(
  brokerDir: string,
  mode: 'grant' | 'cancel',
  around: <T>(fn: () => Promise<T>) => Promise<T> = (fn) => fn(),
) {
  const calls: ElevationCall[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      for (const name of await readdir(brokerDir)) {
        const m = /^call-(.+)\.json$/.exec(name);
        if (!m) continue;
        const { argv } = JSON.parse(await readFile(join(brokerDir, name), 'utf8')) as { argv: string[] };
        await rm(join(brokerDir, name));
        const script: string[] = [];
        let i = 0;
        while (argv[i] === '-e') {
          script.push(argv[i + 1]!);
          i += 2;
        }
        const [prompt = '', ...command] = argv.slice(i);
        calls.push({ prompt, command, script });
        let reply: { stdout: string; stderr: string; code: number };
        if (mode === 'cancel' || JSON.stringify(script) !== JSON.stringify(ELEVATE_SCRIPT)) {
          reply = { stdout: '', stderr: 'execution error: User canceled. (-128)\n', code: 1 };
        } else {
          reply = await around(
            () =>
              new Promise((resolve) => {
                execFile(command[0]!, command.slice(1), (err, stdout, stderr) => {
                  const code = err ? 1 : 0;
                  resolve({
                    stdout: code === 0 ? `${stdout}\n` : '',
                    stderr: err ? `execution error: ${stderr} (1)\n` : '',
                    code,
                  });
                });
              }),
          );
        }
        const tmp = join(brokerDir, `reply-${m[1]}.tmp`);
        await writeFile(tmp, JSON.stringify(reply));
        await chmod(tmp, 0o644);
        await rename(tmp, join(brokerDir, `reply-${m[1]}.json`));
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    calls,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

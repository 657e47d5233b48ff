// Processes: is a pid alive, wait for one to exit, run a command with its output captured (argv only, no shell).
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { errnoCode, isProcessAlive } from '@tufup/common';

/**
 * Polls until `pid` has exited. Resolves true when it did, false when `timeoutMs` passed first. There is no
 * portable way to wait for a process that is not our child, so this polls (every 50 ms: cheap, and the
 * user is waiting for the relaunch).
 */
export async function waitForExit(pid: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(50, Math.max(1, deadline - Date.now())), undefined, signal ? { signal } : {});
  }
  return true;
}

export interface CommandResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `command` with `args` as separate argv entries (nothing is parsed by a shell) and captures its output. */
export function runCommand(
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CommandResult> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      command,
      args,
      { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 0, maxBuffer: 16 << 20, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (errnoCode(err) !== undefined) {
          reject(err); // could not start it at all (ENOENT, EACCES)
          return;
        }
        const e = err as (Error & { code?: number | null; signal?: NodeJS.Signals | null }) | null;
        resolvePromise({ exitCode: e ? (e.code ?? null) : 0, signal: e?.signal ?? null, stdout, stderr });
      },
    );
  });
}

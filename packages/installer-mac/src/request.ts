// The worker request: everything the detached worker needs, written by the app as a private JSON file.
import { readFile } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { InstallerMacError } from './errors.js';
import type { MacCommands } from './macos.js';
import { checkPathLayout } from './paths.js';
import type { SwapPlan } from './swap.js';

export interface RelaunchPlan {
  command: string;
  args: string[];
  /** The app's working directory when it asked for the install (falls back to dstDir's parent). */
  cwd: string;
  /** Start through `open -n <bundle> --args ...` (macOS .app bundles). */
  viaOpen: boolean;
  /** Where the relaunched app's stdout/stderr go. */
  output: 'ignore' | 'log';
  /** Environment changes to undo for the app: null means unset (e.g. ELECTRON_RUN_AS_NODE we set for the worker). */
  envRestore: Record<string, string | null>;
}

export interface WorkerCommand {
  command: string;
  args: string[];
  /** Extra environment for the worker (e.g. ELECTRON_RUN_AS_NODE=1); also passed to the elevated step. */
  env: Record<string, string>;
}

export interface WorkerRequest {
  kind: 'tufup-installer-mac-request';
  formatVersion: 1;
  swap: SwapPlan;
  pid: number;
  waitTimeoutMs: number;
  logFile: string;
  relaunch: RelaunchPlan | false;
  commands: MacCommands;
  worker: WorkerCommand;
}

const isStr = (v: unknown): v is string => typeof v === 'string';
const isStrArray = (v: unknown): v is string[] => Array.isArray(v) && v.every(isStr);
const isStrRecord = (v: unknown, nullable: boolean): boolean =>
  v !== null &&
  typeof v === 'object' &&
  !Array.isArray(v) &&
  Object.values(v as object).every((x) => isStr(x) || (nullable && x === null));

function invalid(what: string): InstallerMacError {
  return new InstallerMacError({ code: 'INVALID_REQUEST', message: `invalid installer request: ${what}` });
}

/** Checks the shape of a swap plan received from another process (the worker request or the elevated argv). */
export function validateSwapPlan(s: unknown): SwapPlan {
  const p = s as Partial<SwapPlan> | null;
  if (p === null || typeof p !== 'object') throw invalid('swap plan missing');
  if (!isStr(p.appName) || p.appName.length === 0) throw invalid('appName');
  if (!isStr(p.version)) throw invalid('version');
  if (!isStr(p.srcDir) || !isStr(p.dstDir) || !isStr(p.stateDir)) throw invalid('paths');
  if (!isStrArray(p.preserve)) throw invalid('preserve');
  if (!isStr(p.platform) || !isStr(p.xattrCommand)) throw invalid('platform');
  if (typeof p.stepDelayMs !== 'number' || !(p.stepDelayMs >= 0 && p.stepDelayMs <= 10_000))
    throw invalid('stepDelayMs');
  const plan = p as SwapPlan;
  checkPathLayout(plan);
  return plan;
}

export function validateRequest(v: unknown): WorkerRequest {
  const r = v as Partial<WorkerRequest> | null;
  if (
    r === null ||
    typeof r !== 'object' ||
    r.kind !== 'tufup-installer-mac-request' ||
    r.formatVersion !== 1
  ) {
    throw invalid('not an installer request');
  }
  validateSwapPlan(r.swap);
  if (!Number.isInteger(r.pid) || (r.pid as number) <= 0) throw invalid('pid');
  if (typeof r.waitTimeoutMs !== 'number' || !(r.waitTimeoutMs > 0)) throw invalid('waitTimeoutMs');
  if (!isStr(r.logFile) || !isAbsolute(r.logFile)) throw invalid('logFile');
  const c = r.commands as Partial<MacCommands> | undefined;
  if (!c || !isStr(c.xattr) || !isStr(c.osascript) || !isStr(c.open)) throw invalid('commands');
  const w = r.worker as Partial<WorkerCommand> | undefined;
  if (!w || !isStr(w.command) || !isStrArray(w.args) || !isStrRecord(w.env, false)) throw invalid('worker');
  if (r.relaunch !== false) {
    const l = r.relaunch as Partial<RelaunchPlan> | undefined;
    if (
      !l ||
      !isStr(l.command) ||
      l.command.length === 0 ||
      !isStrArray(l.args) ||
      !isStr(l.cwd) ||
      typeof l.viaOpen !== 'boolean' ||
      (l.output !== 'ignore' && l.output !== 'log') ||
      !isStrRecord(l.envRestore, true)
    ) {
      throw invalid('relaunch');
    }
  }
  return r as WorkerRequest;
}

export async function readRequestFile(path: string): Promise<WorkerRequest> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new InstallerMacError({ code: 'INVALID_REQUEST', message: `cannot read ${path}`, cause: err });
  }
  try {
    return validateRequest(JSON.parse(text));
  } catch (err) {
    if (err instanceof InstallerMacError) throw err;
    throw new InstallerMacError({
      code: 'INVALID_REQUEST',
      message: 'the request file is not JSON',
      cause: err,
    });
  }
}

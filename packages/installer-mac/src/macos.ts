// The macOS-only steps: quarantine release, admin rights through osascript, relaunching a .app with `open -n`.
import { isInsideOrSame, type Logger } from '@tufup/common';
import { q } from './log.js';
import { runCommand } from './process.js';

export interface MacCommands {
  /** Default /usr/bin/xattr. */
  xattr: string;
  /** Default /usr/bin/osascript. */
  osascript: string;
  /** Default /usr/bin/open. */
  open: string;
}

export const DEFAULT_MAC_COMMANDS: MacCommands = {
  xattr: '/usr/bin/xattr',
  osascript: '/usr/bin/osascript',
  open: '/usr/bin/open',
};

/**
 * Removes com.apple.quarantine from every entry of the new version before it is swapped in, so Gatekeeper does
 * not treat the updated app as a fresh download (or translocate it). `-s` acts on symlinks themselves instead of
 * their targets, which may lie outside the bundle. Best effort: xattr exits non-zero when some file simply has
 * no such attribute, and a leftover attribute only costs the user a Gatekeeper prompt.
 */
export async function clearQuarantine(xattr: string, dir: string, log: Logger): Promise<void> {
  try {
    const res = await runCommand(xattr, ['-d', '-r', '-s', 'com.apple.quarantine', dir], {
      timeoutMs: 120_000,
    });
    if (res.exitCode === 0) {
      log.info(`cleared com.apple.quarantine on ${q(dir)}`);
      return;
    }
    const first = res.stderr.split('\n').find((l) => l.trim() !== '') ?? `exit code ${res.exitCode}`;
    if (/No such xattr/i.test(first)) log.info(`com.apple.quarantine was not set on every file of ${q(dir)}`);
    else log.warn(`xattr could not clear com.apple.quarantine on ${q(dir)}: ${first}`);
  } catch (err) {
    log.warn(`could not run ${q(xattr)} to clear quarantine: ${(err as Error).message}`);
  }
}

/**
 * The AppleScript run to get administrator rights. It is constant: the prompt and the command arrive as the run
 * handler's argv (osascript passes the arguments after the script), and each one is turned into a shell word by
 * AppleScript's own `quoted form of`. No path or name is ever pasted into script or shell text, so quotes,
 * `$`, backticks and newlines in paths cannot inject anything.
 */
export const ELEVATE_SCRIPT: readonly string[] = [
  'on run argv',
  'set cmd to ""',
  'repeat with i from 2 to count of argv',
  'set cmd to cmd & quoted form of (item i of argv) & " "',
  'end repeat',
  'return do shell script cmd with prompt (item 1 of argv) with administrator privileges without altering line endings',
  'end run',
];

/** osascript's argv for running `command` (argv form) as root after the system's password prompt. */
export function osascriptArgs(prompt: string, command: readonly string[]): string[] {
  return [...ELEVATE_SCRIPT.flatMap((line) => ['-e', line]), prompt, ...command];
}

/**
 * A .app bundle is started through LaunchServices (`open -n <bundle> --args ...`) when the relaunch command is
 * the bundle's own executable: that is how Finder starts it (Dock icon, activation, a new instance with -n).
 */
export function relaunchesThroughOpen(platform: string, dstDir: string, command: string): boolean {
  return platform === 'darwin' && /\.app\/?$/i.test(dstDir) && isInsideOrSame(command, dstDir);
}

export function openArgs(dstDir: string, args: readonly string[]): string[] {
  return args.length > 0 ? ['-n', dstDir, '--args', ...args] : ['-n', dstDir];
}

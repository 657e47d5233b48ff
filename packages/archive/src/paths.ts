// Member names and symlink targets: the one place that decides what is safe, used by create and extract alike.
import { ArchiveError } from './errors.js';

const DRIVE_LETTER = /^[A-Za-z]:/;
// Windows maps these names (with any extension) to devices, whatever the directory.
const WINDOWS_DEVICE_NAME = /^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\..*)?$/i;

/** The platform whose file-name rules apply; tests pass 'win32' to check the Windows rules anywhere. */
export type NamePlatform = NodeJS.Platform;

/**
 * Split an archive member name into its path components below the destination, refusing anything that
 * could land outside it or mean different things on different systems. `./` prefixes, `.` components and
 * a trailing `/` are dropped; the archive root (`.` or `./`) gives `[]`.
 */
export function splitMemberName(name: string, platform: NamePlatform = process.platform): string[] {
  const refuse = (why: string): never => {
    throw new ArchiveError({
      code: 'UNSAFE_PATH',
      message: `unsafe member name ${JSON.stringify(name)}: ${why}`,
    });
  };
  if (name.length === 0) refuse('empty name');
  if (name.includes('\0')) refuse('contains a NUL byte');
  // A backslash is a separator on Windows and an ordinary character elsewhere: refused everywhere so a name
  // means the same on every system.
  if (name.includes('\\')) refuse('contains a backslash');
  if (name.startsWith('/')) refuse('absolute path');
  if (DRIVE_LETTER.test(name)) refuse('drive letter');
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') refuse('contains a `..` component');
    if (platform === 'win32') checkWindowsComponent(part, refuse);
    parts.push(part);
  }
  return parts;
}

function checkWindowsComponent(part: string, refuse: (why: string) => never): void {
  // `name:stream` writes an NTFS alternate data stream; trailing dots and spaces are stripped by Windows,
  // so `a.` and `a` would be the same file.
  if (part.includes(':')) refuse('contains `:` (an NTFS stream name on Windows)');
  if (/[. ]$/.test(part)) refuse('ends with a dot or space (Windows strips them)');
  if (WINDOWS_DEVICE_NAME.test(part)) refuse(`\`${part}\` is a device name on Windows`);
}

/** Why a symlink target is not safe to extract, or undefined when it is. */
export type SymlinkTargetProblem = 'invalid' | 'absolute' | 'leaves-root' | 'dotdot-after-name';

/**
 * Check a symlink's target against the rule every archive we make or extract follows: a relative path
 * of some leading `..` components (no more than the link's own depth) followed only by names. The rule is
 * lexical, so it holds whatever order entries come in: a `..` after a name could climb out of a directory
 * that a later entry turns into a symlink, so it is not allowed; names only descend, and every symlink they
 * pass through obeys the same rule, so the link resolves inside the root.
 * `linkParts` are the link's own path components below the root.
 */
export function symlinkTargetProblem(
  linkParts: readonly string[],
  target: string,
): SymlinkTargetProblem | undefined {
  if (target.length === 0 || target.includes('\0') || target.includes('\\')) return 'invalid';
  if (target.startsWith('/') || DRIVE_LETTER.test(target)) return 'absolute';
  let ups = 0;
  let seenName = false;
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (seenName) return 'dotdot-after-name';
      ups++;
    } else {
      seenName = true;
    }
  }
  return ups > linkParts.length - 1 ? 'leaves-root' : undefined;
}

/** A human description of a symlink target problem. */
export function describeSymlinkProblem(problem: SymlinkTargetProblem): string {
  switch (problem) {
    case 'invalid':
      return 'the target is empty or contains a NUL byte or a backslash';
    case 'absolute':
      return 'the target is an absolute path';
    case 'leaves-root':
      return 'the target climbs above the archive root';
    case 'dotdot-after-name':
      return 'the target has `..` after a name (write it as leading `..` components followed by names)';
  }
}

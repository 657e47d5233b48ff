// Windows command lines: quoting arguments so a program's C runtime (CommandLineToArgvW rules) reads them back exactly.

/**
 * One argument quoted for the Microsoft C runtime's parser: wrapped in quotes when it is empty or has
 * whitespace or quotes; backslashes are doubled only where they precede a quote (inside or at the end).
 * No cmd.exe is ever involved, so `& ^ % ! ( )` need no escaping.
 */
export function quoteWindowsArg(arg: string): string {
  if (arg.length > 0 && !/[\s"]/.test(arg)) return arg;
  let out = '"';
  let backslashes = 0;
  for (const ch of arg) {
    if (ch === '\\') {
      backslashes++;
      continue;
    }
    out += ch === '"' ? `${'\\'.repeat(backslashes * 2 + 1)}"` : '\\'.repeat(backslashes) + ch;
    backslashes = 0;
  }
  return `${out + '\\'.repeat(backslashes * 2)}"`;
}

/** The parameter string (everything after the program) for a list of arguments. */
export function joinWindowsArgs(args: readonly string[]): string {
  return args.map(quoteWindowsArg).join(' ');
}

/**
 * Splits a parameter string the way the Microsoft C runtime (2008 and later) does for argv[1..]. Used by the
 * tests and by the journal reader to show what a relaunch will receive.
 */
export function splitWindowsArgs(params: string): string[] {
  const args: string[] = [];
  let i = 0;
  const n = params.length;
  for (;;) {
    while (i < n && (params[i] === ' ' || params[i] === '\t')) i++;
    if (i >= n) return args;
    let cur = '';
    let inQuotes = false;
    while (i < n) {
      const ch = params[i] as string;
      if (!inQuotes && (ch === ' ' || ch === '\t')) break;
      if (ch === '\\') {
        let count = 0;
        while (i < n && params[i] === '\\') {
          count++;
          i++;
        }
        if (params[i] === '"') {
          cur += '\\'.repeat(Math.floor(count / 2));
          if (count % 2 === 1) {
            cur += '"';
            i++;
          }
        } else {
          cur += '\\'.repeat(count);
        }
        continue;
      }
      if (ch === '"') {
        if (inQuotes && params[i + 1] === '"') {
          cur += '"';
          i += 2;
          continue;
        }
        inQuotes = !inQuotes;
        i++;
        continue;
      }
      cur += ch;
      i++;
    }
    args.push(cur);
  }
}

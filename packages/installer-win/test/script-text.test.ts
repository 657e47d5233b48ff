// Linux-only checks of what the installer writes: command-line quoting, the ASCII request file, the script text.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { joinWindowsArgs, quoteWindowsArg, splitWindowsArgs } from '../src/cmdline.js';
import { InstallerWinError } from '../src/errors.js';
import { planRelaunch, requestEntries, type ScriptPlan } from '../src/launcher.js';
import { checkPathLayout, checkPreserveList, preserveToWindows } from '../src/paths.js';
import { encodeRequestFile, parseRequestFile } from '../src/request-file.js';
import { DEFAULT_TEMPLATE, LIBRARY_PLACEHOLDER, renderScript, SCRIPT_LIBRARY } from '../src/script.js';

/** One string per character class the issue names, and all of them together. */
const HOSTILE: Record<string, string> = {
  space: 'My App 2',
  ampersand: 'a&b&&c',
  caret: 'a^b^^',
  percent: '100% %PATH% %USERPROFILE%x',
  bang: 'hey!PATH!x!',
  parens: 'x (86) (',
  quotes: 'say "hi" "',
  nonAscii: 'Prøgrämm 日本 😀 Привет',
  all: ' &^%PATH%!()"é日😀 \\"\\\\ ',
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof InstallerWinError, `expected an InstallerWinError, got ${String(err)}`);
    return err.code;
  }
  return undefined;
}

describe('Windows command-line quoting', () => {
  it('leaves plain arguments alone and quotes the rest by the C runtime rules', () => {
    assert.equal(quoteWindowsArg('plain'), 'plain');
    assert.equal(quoteWindowsArg('a&b^c%d!e(f)'), 'a&b^c%d!e(f)'); // no cmd.exe involved: nothing to escape
    assert.equal(quoteWindowsArg(''), '""');
    assert.equal(quoteWindowsArg('a b'), '"a b"');
    assert.equal(quoteWindowsArg('a"b'), '"a\\"b"');
    assert.equal(quoteWindowsArg('a\\b'), 'a\\b');
    assert.equal(quoteWindowsArg('a b\\'), '"a b\\\\"');
    assert.equal(quoteWindowsArg('a\\"b c'), '"a\\\\\\"b c"');
  });

  for (const [cls, value] of Object.entries(HOSTILE)) {
    it(`round-trips an argument with ${cls} through the C runtime splitting rules`, () => {
      const args = [value, `--x=${value}`, `${value}\\`, '', 'end'];
      assert.deepEqual(splitWindowsArgs(joinWindowsArgs(args)), args);
    });
  }

  it('splits the documented examples the way the Microsoft C runtime does', () => {
    assert.deepEqual(splitWindowsArgs('"abc" d e'), ['abc', 'd', 'e']);
    assert.deepEqual(splitWindowsArgs('a\\\\\\b d"e f"g h'), ['a\\\\\\b', 'de fg', 'h']);
    assert.deepEqual(splitWindowsArgs('a\\\\\\"b c d'), ['a\\"b', 'c', 'd']);
    assert.deepEqual(splitWindowsArgs('a\\\\\\\\"b c" d e'), ['a\\\\b c', 'd', 'e']);
  });
});

describe('the request file', () => {
  it('is pure ASCII and gives back every hostile value exactly', () => {
    const entries = Object.entries(HOSTILE).map(([k, v]): [string, string] => [k, `C:\\${v}\r\nline2`]);
    const text = encodeRequestFile(entries);
    assert.match(text, /^[\x20-\x7e\r\n]*$/);
    const parsed = parseRequestFile(text);
    for (const [k, v] of entries) assert.equal(parsed.get(k), v);
    // What the script does with each line: split at the first '=', decodeURIComponent the rest.
    for (const line of text.split('\r\n').filter(Boolean)) {
      const eq = line.indexOf('=');
      assert.equal(
        decodeURIComponent(line.slice(eq + 1)),
        entries.find(([k]) => k === line.slice(0, eq))?.[1],
      );
    }
  });

  it('refuses a lone surrogate with INVALID_REQUEST', () => {
    assert.equal(
      codeOf(() => encodeRequestFile([['dstDir', 'C:\\a\ud800b']])),
      'INVALID_REQUEST',
    );
  });

  it('refuses a key the script could misread with INVALID_REQUEST', () => {
    assert.equal(
      codeOf(() => encodeRequestFile([['a=b', 'x']])),
      'INVALID_REQUEST',
    );
  });

  it('ignores a last line cut off by a kill and keeps the phases in order', () => {
    const text = `${encodeRequestFile([['format', '1']])}phase=begin\r\nstep=begin\r\nphase=swapping\r\nphase=swa`;
    const parsed = parseRequestFile(text);
    assert.deepEqual(parsed.phases, ['begin', 'swapping']);
    assert.deepEqual(parsed.all('step'), ['begin']);
  });

  it('reports an undecodable journal value as JOURNAL_INVALID', () => {
    assert.equal(
      codeOf(() => parseRequestFile('dstDir=%E0%A4%A\r\n')),
      'JOURNAL_INVALID',
    );
  });
});

describe('the generated script', () => {
  const plan = (value: string): ScriptPlan => ({
    request: { appName: `app ${value}`, version: '2.0' },
    srcDir: `C:\\Users\\${value}\\staged`,
    dstDir: `C:\\Program Files\\${value}`,
    stateDir: `C:\\Program Files\\.${value}.tufup`,
    logFile: `C:\\Users\\${value}\\install.log`,
    id: 'x1',
    pid: 1234,
    lockFile: `C:\\Temp\\${value}\\app.lock`,
    waitTimeoutMs: 1,
    lockRetryTimeoutMs: 2,
    rollbackTimeoutMs: 3,
    elevate: true,
    elevationTimeoutMs: 4,
    stepDelayMs: 0,
    preserve: [`data\\${value}`],
    relaunch: {
      dir: `C:\\Program Files\\${value}`,
      file: 'app.exe',
      params: joinWindowsArgs([value, '--flag']),
    },
    extra: [['note', value]],
  });

  it('carries no request data: every hostile value lands only in request.txt, percent-encoded', () => {
    const script = renderScript();
    for (const value of Object.values(HOSTILE)) {
      const text = encodeRequestFile(requestEntries(plan(value)));
      assert.match(text, /^[\x20-\x7e\r\n]*$/);
      const parsed = parseRequestFile(text);
      assert.equal(parsed.get('dstDir'), `C:\\Program Files\\${value}`);
      assert.deepEqual(parsed.all('preserve'), [`data\\${value}`]);
      assert.equal(parsed.get('extra.note'), value);
      assert.deepEqual(splitWindowsArgs(parsed.get('relaunchParams') ?? ''), [value, '--flag']);
      assert.equal(parsed.get('relaunchFile'), 'app.exe');
      assert.equal(renderScript(), script);
    }
  });

  it('is printable ASCII with CRLF line ends and valid JavaScript', () => {
    const script = renderScript();
    assert.match(script, /^[\x20-\x7e\r\n]*$/);
    assert.ok(!/[^\r]\n/.test(script), 'every line ends with CRLF');
    assert.ok(script.includes('tufup.main();'));
    assert.doesNotThrow(() => new Function(script));
  });

  it('sticks to what JScript 5.8 parses (no ES5+ syntax, no trailing commas in literals)', () => {
    for (const [what, re] of [
      ['let/const', /\b(let|const)\s/],
      ['arrow functions', /=>/],
      ['template literals', /`/],
      ['JSON', /\bJSON\./],
      ['trailing commas', /,\s*[}\]]/],
      ['Array#indexOf on arrays', /\]\.indexOf/],
    ] as const) {
      assert.ok(!re.test(SCRIPT_LIBRARY), `the library uses ${what}`);
    }
  });

  it('puts the library where a custom template asks, and nothing else changes', () => {
    const template = `// my installer\r\n${LIBRARY_PLACEHOLDER}\r\ntufup.hooks.afterSwap = function () { tufup.log("hi"); };\r\ntufup.main();\r\n`;
    const script = renderScript(template);
    assert.ok(script.includes('tufup.hooks.afterSwap = function () { tufup.log("hi"); };'));
    assert.ok(script.includes('var tufup = (function () {'));
    assert.ok(!script.includes(LIBRARY_PLACEHOLDER));
    assert.doesNotThrow(() => new Function(script));
    assert.equal(renderScript(DEFAULT_TEMPLATE), renderScript());
  });

  it('refuses a template without the placeholder, with two, or with non-ASCII text (INVALID_REQUEST)', () => {
    assert.equal(
      codeOf(() => renderScript('tufup.main();')),
      'INVALID_REQUEST',
    );
    assert.equal(
      codeOf(() => renderScript(`${LIBRARY_PLACEHOLDER}${LIBRARY_PLACEHOLDER}`)),
      'INVALID_REQUEST',
    );
    assert.equal(
      codeOf(() => renderScript(`${LIBRARY_PLACEHOLDER}\ntufup.log("é");`)),
      'INVALID_REQUEST',
    );
  });
});

describe('relaunch planning', () => {
  it('splits the command into folder, file and a parameter string for any hostile folder', () => {
    for (const value of Object.values(HOSTILE).filter((v) => !v.includes('"'))) {
      const p = planRelaunch({ command: `/opt/${value}/app.exe`, args: [value, ''] });
      assert.equal(p.dir, `/opt/${value}`);
      assert.equal(p.file, 'app.exe');
      assert.deepEqual(splitWindowsArgs(p.params), [value, '']);
    }
  });

  it('refuses a relative command and a % in the file name with RELAUNCH_UNSUPPORTED', () => {
    assert.equal(
      codeOf(() => planRelaunch({ command: 'app.exe', args: [] })),
      'RELAUNCH_UNSUPPORTED',
    );
    assert.equal(
      codeOf(() => planRelaunch({ command: '/opt/x/100%app.exe', args: [] })),
      'RELAUNCH_UNSUPPORTED',
    );
  });

  it('refuses an argument with NUL with INVALID_REQUEST', () => {
    assert.equal(
      codeOf(() => planRelaunch({ command: '/opt/app.exe', args: ['a\0b'] })),
      'INVALID_REQUEST',
    );
  });
});

describe('path rules', () => {
  it('turns preserve entries into backslash paths', () => {
    assert.equal(preserveToWindows('settings.json'), 'settings.json');
    assert.equal(preserveToWindows('data/user (1)/x&y%z!.db'), 'data\\user (1)\\x&y%z!.db');
    assert.deepEqual(checkPreserveList(['a', 'b/c']), ['a', 'b\\c']);
  });

  for (const bad of [
    '/abs',
    'C:/x',
    'a\\b',
    '../up',
    'a/../b',
    'a//b',
    'a/./b',
    'con',
    'dir/NUL.txt',
    'trail.',
    'trail ',
    'a:b',
    'a*b',
    'q"x',
  ]) {
    it(`refuses the preserve entry ${JSON.stringify(bad)} with UNSAFE_PATH`, () => {
      assert.equal(
        codeOf(() => preserveToWindows(bad)),
        'UNSAFE_PATH',
      );
    });
  }

  it('refuses an empty preserve entry with INVALID_REQUEST and overlapping ones with UNSAFE_PATH', () => {
    assert.equal(
      codeOf(() => preserveToWindows('')),
      'INVALID_REQUEST',
    );
    assert.equal(
      codeOf(() => checkPreserveList(['data', 'Data/x'])),
      'UNSAFE_PATH',
    );
    assert.equal(
      codeOf(() => checkPreserveList(['a', 'a'])),
      'UNSAFE_PATH',
    );
  });

  it('refuses overlapping dirs and a state dir or log inside an app tree with UNSAFE_PATH', () => {
    const ok = {
      srcDir: '/x/staged',
      dstDir: '/x/app',
      stateDir: '/x/.app.tufup',
      logFile: '/x/.app.tufup.log',
    };
    assert.equal(
      codeOf(() => checkPathLayout(ok)),
      undefined,
    );
    assert.equal(
      codeOf(() => checkPathLayout({ ...ok, srcDir: '/x/app/new' })),
      'UNSAFE_PATH',
    );
    assert.equal(
      codeOf(() => checkPathLayout({ ...ok, dstDir: '/x/staged/app' })),
      'UNSAFE_PATH',
    );
    assert.equal(
      codeOf(() => checkPathLayout({ ...ok, stateDir: '/x/app/.state' })),
      'UNSAFE_PATH',
    );
    assert.equal(
      codeOf(() => checkPathLayout({ ...ok, logFile: '/x/staged/log' })),
      'UNSAFE_PATH',
    );
    assert.equal(
      codeOf(() => checkPathLayout({ ...ok, logFile: '/x/.app.tufup/log' })),
      'UNSAFE_PATH',
    );
    assert.equal(
      codeOf(() => checkPathLayout({ ...ok, dstDir: '/' })),
      'UNSAFE_PATH',
    );
    assert.equal(
      codeOf(() => checkPathLayout({ ...ok, dstDir: 'rel' })),
      'INVALID_REQUEST',
    );
  });
});

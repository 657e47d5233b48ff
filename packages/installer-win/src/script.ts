// The detached install script: JScript for Windows Script Host, pure ASCII, never containing any request data.
import { InstallerWinError } from './errors.js';

/** The marker a custom template puts where the library goes. */
export const LIBRARY_PLACEHOLDER = '/*@tufup-library@*/';

/**
 * The library: everything the script does, as functions on one `tufup` object. It reads its data from
 * `request.txt` beside the script file (percent-encoded ASCII lines) and never evaluates or re-parses it.
 *
 * Written for the JScript 5.8 engine (ES3: no JSON, no Array#indexOf, no trailing commas) and for the parts of
 * Windows Script Host that wine also implements; where wine lacks a call (FileSystemObject.MoveFolder,
 * WScript.Sleep, WMI) the script falls back, and says so in a comment.
 */
export const SCRIPT_LIBRARY = String.raw`
var tufup = (function () {
  var fso = new ActiveXObject("Scripting.FileSystemObject");
  var shell = new ActiveXObject("WScript.Shell");
  var scriptPath = WScript.ScriptFullName;
  var workDir = fso.GetParentFolderName(scriptPath);
  var role = WScript.Arguments.length > 0 ? String(WScript.Arguments(0)) : "outer";
  var E_NOTIMPL = 0x80004001;
  var t = { role: role, workDir: workDir, hooks: {}, fso: fso, shell: shell };

  function now() { return new Date().getTime(); }
  function pad(n, w) { var s = String(n); while (s.length < w) s = "0" + s; return s; }
  function stamp() {
    var d = new Date();
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1, 2) + "-" + pad(d.getUTCDate(), 2) + "T" +
      pad(d.getUTCHours(), 2) + ":" + pad(d.getUTCMinutes(), 2) + ":" + pad(d.getUTCSeconds(), 2) + "." +
      pad(d.getUTCMilliseconds(), 3) + "Z";
  }
  function hresult(e) { var n = e && typeof e.number == "number" ? e.number : 0; return n < 0 ? n + 0x100000000 : n; }
  function describe(e) {
    return "0x" + hresult(e).toString(16) + " " + ((e && (e.description || e.message)) || "");
  }
  // Paths may hold anything but control characters matter in a one-line-per-event log.
  function printable(s) {
    return String(s).replace(/[\x00-\x1f\x7f]/g, function (c) { return "\\u" + pad(c.charCodeAt(0).toString(16), 4); });
  }
  function q(s) { return "\"" + printable(s) + "\""; }
  t.q = q;
  t.describe = describe;

  function readRequest(path) {
    var r = { values: {}, preserve: [], extra: {} };
    var s = fso.OpenTextFile(path, 1, false, 0);
    try {
      while (!s.AtEndOfStream) {
        var line = s.ReadLine();
        var eq = line.indexOf("=");
        if (eq < 1) continue;
        var key = line.substring(0, eq);
        var value = decodeURIComponent(line.substring(eq + 1));
        if (key == "preserve") r.preserve.push(value);
        else if (key.substring(0, 6) == "extra.") r.extra[key.substring(6)] = value;
        else r.values[key] = value;
      }
    } finally { s.Close(); }
    if (r.values.format != "1") throw new Error("request.txt: unsupported format");
    return r;
  }
  var req = readRequest(workDir + "\\request.txt");
  var v = req.values;
  t.request = v;
  t.preserve = req.preserve;
  t.extra = req.extra;
  function num(key) { var n = parseInt(v[key], 10); return isNaN(n) ? 0 : n; }

  // The log is UTF-16LE (the only Unicode FileSystemObject writes); each line is opened, written and closed
  // so the elevated and the unelevated script can both append, and a kill loses at most the current line.
  function log(message) {
    var line = stamp() + " [" + role + "] " + printable(message);
    for (var i = 0; i < 20; i++) {
      try { var s = fso.OpenTextFile(v.logFile, 8, true, -1); s.WriteLine(line); s.Close(); return; }
      catch (e) { busyWait(25); }
    }
  }
  t.log = log;

  function busyWait(ms) { var end = now() + ms; while (now() < end) {} }
  var nativeSleep = true;
  function sleep(ms) {
    if (ms <= 0) return;
    if (nativeSleep) {
      try { WScript.Sleep(ms); return; } catch (e) { nativeSleep = false; }
    }
    // Hosts without WScript.Sleep (wine): a hidden ping waits about one second per extra echo; spinning is
    // only for the shortest waits, so a long wait costs no CPU.
    if (ms < 100) { busyWait(ms); return; }
    var n = Math.max(2, Math.round(ms / 1000) + 1);
    shell.Run("\"" + systemDir() + "\\PING.EXE\" -n " + n + " 127.0.0.1", 0, true);
  }
  t.sleep = sleep;
  // GetSpecialFolder(1) is the system folder. (Wine's ExpandEnvironmentStrings returns the string with its
  // terminating NUL, which breaks every path built on it.)
  var systemFolder = String(fso.GetSpecialFolder(1).Path);
  function systemDir() { return systemFolder; }

  function exists(p) { return fso.FolderExists(p) || fso.FileExists(p); }
  function removeTree(p) {
    if (fso.FolderExists(p)) fso.DeleteFolder(p, true);
    else if (fso.FileExists(p)) fso.DeleteFile(p, true);
  }
  // A rename on one volume. FileSystemObject.MoveFolder is the documented call; wine lacks it, and its
  // MoveFile (MoveFileW underneath) renames folders too.
  function renameDir(from, to) {
    if (exists(to)) throw new Error("the target exists: " + q(to));
    try { fso.MoveFolder(from, to); }
    catch (e) { if (hresult(e) != E_NOTIMPL) throw e; fso.MoveFile(from, to); }
  }
  t.renameDir = renameDir;
  t.removeTree = removeTree;

  // Calls fn until it succeeds or budgetMs have passed, waiting 100 ms, 200 ms, ... up to 2 s in between:
  // antivirus scanners and indexers hold new files for moments, a slow app exit holds them longer.
  function retry(what, budgetMs, fn) {
    var start = now(), delay = 100, attempt = 0;
    for (;;) {
      attempt++;
      try {
        fn();
        if (attempt > 1) log(what + ": done on attempt " + attempt);
        return true;
      } catch (e) {
        var left = budgetMs - (now() - start);
        if (left <= 0) { log(what + ": giving up after " + attempt + " attempts: " + describe(e)); return false; }
        var wait = Math.min(delay, left);
        log(what + ": attempt " + attempt + " failed (" + describe(e) + "); retrying in " + wait + " ms");
        sleep(wait);
        delay = Math.min(delay * 2, 2000);
      }
    }
  }
  t.retry = retry;

  function journalAppend(line) {
    var s = fso.OpenTextFile(v.journal, 8, false, 0);
    try { s.WriteLine(line); } finally { s.Close(); }
  }
  function step(name) {
    try { if (fso.FileExists(v.journal)) journalAppend("step=" + name); } catch (e) { log("journal: " + describe(e)); }
    if (num("stepDelayMs") > 0) sleep(num("stepDelayMs"));
  }
  t.step = step;

  // The guard: the swapping script makes this directory its current directory. Windows refuses to delete a
  // directory that is some process's current directory, so recover() can tell a live script from a dead one.
  var holdingGuard = false;
  function holdGuard() {
    if (!fso.FolderExists(v.stateDir)) fso.CreateFolder(v.stateDir);
    if (!fso.FolderExists(v.guardDir)) fso.CreateFolder(v.guardDir);
    shell.CurrentDirectory = v.guardDir;
    if (!fso.FolderExists(v.guardDir)) throw new Error("the guard directory vanished (a recovery ran)");
    holdingGuard = true;
    // recover() holds recover.lock without sharing while it works: then this install must not start.
    var lock = v.stateDir + "\\recover.lock";
    if (fso.FileExists(lock)) {
      try { fso.OpenTextFile(lock, 1, false, 0).Close(); }
      catch (e) { throw new Error("a recovery is running (recover.lock is held)"); }
    }
  }
  function leaveGuard() {
    shell.CurrentDirectory = systemDir();
    if (holdingGuard) { holdingGuard = false; try { fso.DeleteFolder(v.guardDir, true); } catch (e) {} }
  }

  function appAlive() {
    if (v.lockFile) {
      // The app holds this file open without sharing until it exits; opening it fails until then.
      try { fso.OpenTextFile(v.lockFile, 1, false, 0).Close(); return false; } catch (e) { return true; }
    }
    try {
      var wmi = GetObject("winmgmts:{impersonationLevel=impersonate}!\\\\.\\root\\cimv2");
      return wmi.ExecQuery("SELECT ProcessId FROM Win32_Process WHERE ProcessId = " + num("pid")).Count > 0;
    } catch (e) {
      log("cannot observe process " + num("pid") + " (WMI: " + describe(e) + ")");
      return null;
    }
  }
  t.waitForApp = function () {
    var deadline = now() + num("waitTimeoutMs");
    log("waiting for process " + num("pid") + " to exit");
    for (;;) {
      var alive = appAlive();
      if (alive === false) { log("process " + num("pid") + " has exited"); return true; }
      if (alive === null || now() > deadline) {
        log("the app did not exit within " + num("waitTimeoutMs") + " ms; nothing was changed");
        return false;
      }
      sleep(250);
    }
  };

  function ensureParents(root, rel) {
    var parts = rel.split("\\"), cur = root;
    for (var i = 0; i < parts.length - 1; i++) {
      cur += "\\" + parts[i];
      if (fso.FileExists(cur)) throw new Error("preserve path " + q(rel) + " crosses a file in the new version");
      if (!fso.FolderExists(cur)) fso.CreateFolder(cur);
    }
  }
  function preserveEntry(rel) {
    var from = v.dstDir + "\\" + rel, to = v.srcDir + "\\" + rel;
    if (!exists(from)) { log("preserve " + q(rel) + ": not in the old version; the new version's copy stays"); return true; }
    return retry("preserve " + q(rel), num("lockRetryTimeoutMs"), function () {
      removeTree(to);
      ensureParents(v.srcDir, rel);
      if (fso.FolderExists(from)) fso.CopyFolder(from, to, true); else fso.CopyFile(from, to, true);
    });
  }

  // Before the first rename nothing of the install dir has changed: drop the staged copy and the journal.
  function abandon(reason) {
    log("not installed: " + reason + "; the old version is untouched");
    try { journalAppend("phase=rolled-back"); } catch (e) {}
    try { removeTree(v.srcDir); } catch (e) { log("cannot remove the staged version: " + describe(e)); }
    try { fso.DeleteFile(v.journal, true); } catch (e) { log("cannot remove the journal: " + describe(e)); }
  }

  // The swap. Returns "swapped", "rolled-back" (the old version is back in place), "failed" (nothing was
  // changed), "busy" (another install or a recovery holds the state dir: nothing was changed, and this
  // script must not relaunch anything) or "broken" (the old version could not be put back; recover() at the
  // next start finishes it).
  t.install = function () {
    // stage: "checks" (nothing written), "journaled" (journal written, install dir untouched),
    // "aside" (old version moved aside, new one not yet in), "swapped".
    var stage = "checks";
    try {
      holdGuard();
      if (fso.FileExists(v.journal)) { log("another install is in progress or was interrupted; not installing"); return "busy"; }
      if (!fso.FolderExists(v.dstDir)) { log("the install dir is missing: " + q(v.dstDir)); return "failed"; }
      if (!fso.FolderExists(v.srcDir)) { log("the staged version is missing: " + q(v.srcDir)); return "failed"; }
      if (exists(v.backupDir)) { log("the backup path is taken: " + q(v.backupDir)); return "failed"; }
      var tmp = v.journal + ".tmp";
      if (fso.FileExists(tmp)) fso.DeleteFile(tmp, true);
      fso.CopyFile(workDir + "\\request.txt", tmp, false);
      fso.MoveFile(tmp, v.journal);
      stage = "journaled";
      journalAppend("phase=begin");
      step("begin");
      if (t.hooks.beforeSwap) t.hooks.beforeSwap();
      for (var i = 0; i < req.preserve.length; i++) {
        if (!preserveEntry(req.preserve[i])) { abandon("a preserved path could not be copied"); return "failed"; }
        step("preserved");
      }
      journalAppend("phase=swapping");
      step("swapping");
      log("moving the old version aside: " + q(v.dstDir) + " -> " + q(v.backupDir));
      if (!retry("move the old version aside", num("lockRetryTimeoutMs"), function () { renameDir(v.dstDir, v.backupDir); })) {
        abandon("files in the install dir stayed locked");
        return "failed";
      }
      stage = "aside";
      step("old-aside");
      log("moving the new version in: " + q(v.srcDir) + " -> " + q(v.dstDir));
      if (!retry("move the new version in", num("lockRetryTimeoutMs"), function () { renameDir(v.srcDir, v.dstDir); })) {
        return rollBack();
      }
      stage = "swapped";
      journalAppend("phase=swapped");
      step("swapped");
      log("installed " + v.appName + " " + v.version);
      if (t.hooks.afterSwap) t.hooks.afterSwap();
      return "swapped";
    } catch (e) {
      log("unexpected error: " + describe(e));
      if (!holdingGuard) return "busy";
      if (stage == "swapped") return "swapped";
      if (stage == "aside") return fso.FolderExists(v.dstDir) ? "broken" : rollBack();
      if (stage == "journaled") abandon("an unexpected error");
      return "failed";
    }
  };
  function rollBack() {
    log("putting the old version back");
    if (!retry("put the old version back", num("rollbackTimeoutMs"), function () { renameDir(v.backupDir, v.dstDir); })) {
      log("CRITICAL: the old version could not be put back; it is in " + q(v.backupDir) + "; recover() finishes this");
      return "broken";
    }
    abandon("the new version could not be moved in");
    return "rolled-back";
  }

  // After a swap: delete the old version. What stays locked is left for recover() at a later start.
  t.cleanup = function () {
    if (fso.FolderExists(v.backupDir)) {
      var removed = retry("remove the old version", Math.min(num("lockRetryTimeoutMs"), 5000), function () { removeTree(v.backupDir); });
      if (!removed) log("left " + q(v.backupDir) + " for the next recover()");
    }
    try { journalAppend("phase=done"); fso.DeleteFile(v.journal, true); } catch (e) { log("journal: " + describe(e)); }
    leaveGuard();
  };
  t.release = function () { leaveGuard(); };

  t.relaunch = function () {
    if (v.relaunch != "1") return;
    if (t.hooks.beforeRelaunch) t.hooks.beforeRelaunch();
    var back = holdingGuard ? v.guardDir : systemDir();
    try {
      // Start ".\file" from inside its folder: ShellExecute may expand %NAME% in the file and directory it is
      // given, never in the current directory or the parameters, so the folder's name is never reread.
      shell.CurrentDirectory = v.relaunchDir;
      new ActiveXObject("Shell.Application").ShellExecute(".\\" + v.relaunchFile, v.relaunchParams, "", "open", 1);
      log("relaunched " + q(v.relaunchDir + "\\" + v.relaunchFile));
    } catch (e) {
      log("relaunch failed: " + describe(e));
    } finally {
      shell.CurrentDirectory = back;
    }
  };

  function writeResult(result) {
    var tmp = workDir + "\\result.tmp";
    var s = fso.CreateTextFile(tmp, true, false);
    s.WriteLine(result);
    s.Close();
    fso.MoveFile(tmp, workDir + "\\result.txt");
  }
  function readResult() {
    var s = fso.OpenTextFile(workDir + "\\result.txt", 1, false, 0);
    try { return s.ReadLine(); } finally { s.Close(); }
  }

  // Elevation: start this script again through the UAC prompt; the elevated copy swaps, this one relaunches
  // the app afterwards so the app never runs with administrator rights. "claim" (a directory: creating one is
  // atomic) decides who goes on when the prompt is answered just as this side gives up waiting.
  t.installElevated = function () {
    var claim = workDir + "\\claim";
    log("asking for administrator rights");
    try {
      new ActiveXObject("Shell.Application").ShellExecute(systemDir() + "\\wscript.exe",
        "//B //NoLogo \"" + scriptPath + "\" inner", workDir, "runas", 0);
    } catch (e) {
      log("elevation failed: " + describe(e) + "; nothing was changed");
      return "failed";
    }
    var deadline = now() + num("elevationTimeoutMs");
    while (!fso.FolderExists(claim)) {
      if (now() > deadline) {
        try { fso.CreateFolder(claim); log("no answer to the administrator prompt; nothing was changed"); return "failed"; }
        catch (e) { break; }
      }
      sleep(500);
    }
    deadline = now() + num("lockRetryTimeoutMs") * 3 + num("rollbackTimeoutMs") + num("stepDelayMs") * 20 + 120000;
    while (!fso.FileExists(workDir + "\\result.txt")) {
      if (now() > deadline) { log("the elevated step did not report back"); return "broken"; }
      sleep(500);
    }
    var result = readResult();
    log("the elevated step reports: " + result);
    return result;
  };

  t.runInner = function () {
    try { fso.CreateFolder(workDir + "\\claim"); }
    catch (e) { log("the unelevated script stopped waiting; nothing was changed"); return; }
    var result = t.install();
    writeResult(result);
    if (result == "swapped") t.cleanup(); else t.release();
  };

  t.finish = function () {
    shell.CurrentDirectory = systemDir();
    try { fso.DeleteFolder(workDir, true); } catch (e) {}
  };

  t.runOuter = function () {
    fso.CreateTextFile(workDir + "\\started", true, false).Close();
    log("installing " + v.appName + " " + v.version + " into " + q(v.dstDir));
    if (!t.waitForApp()) { t.finish(); return; }
    var result = v.elevate == "1" ? t.installElevated() : t.install();
    if (result == "swapped" || result == "rolled-back" || result == "failed") t.relaunch();
    if (v.elevate != "1") { if (result == "swapped") t.cleanup(); else t.release(); }
    log("finished: " + result);
    t.finish();
  };

  t.main = function () {
    try {
      if (role == "inner") t.runInner(); else t.runOuter();
    } catch (e) {
      log("unexpected error: " + describe(e));
    }
  };
  return t;
})();
`;

/** The default script: the library, then the standard flow. */
export const DEFAULT_TEMPLATE = `${LIBRARY_PLACEHOLDER}\ntufup.main();\n`;

const HEADER =
  '// tufup installer-win script (generated). Data: request.txt beside this file. Log: see request.txt.\n';

/**
 * The script text for a template: the template with the placeholder replaced by the library. Nothing else is
 * substituted, so no request value can reach the script's code. Templates must be ASCII (the script file is
 * written as ASCII; use \\uXXXX escapes in strings) and contain the placeholder exactly once.
 */
export function renderScript(template: string = DEFAULT_TEMPLATE): string {
  if (typeof template !== 'string' || template.split(LIBRARY_PLACEHOLDER).length !== 2) {
    throw new InstallerWinError({
      code: 'INVALID_REQUEST',
      message: `scriptTemplate must contain ${LIBRARY_PLACEHOLDER} exactly once`,
    });
  }
  if (/[^\x09\x0a\x0d\x20-\x7e]/.test(template)) {
    throw new InstallerWinError({
      code: 'INVALID_REQUEST',
      message: 'scriptTemplate must be printable ASCII (write other characters as \\uXXXX escapes)',
    });
  }
  return (HEADER + template.replace(LIBRARY_PLACEHOLDER, () => SCRIPT_LIBRARY)).replace(/\r?\n/g, '\r\n');
}

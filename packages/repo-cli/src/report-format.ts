// Human-readable text for `targets list`, `status` and `verify` (the --json forms print the reports as they are).
import { ROLE_NAMES } from '@tufup/metadata';
import type { AppReleases, StatusReport, VerifyReport } from './reports.js';
import { formatBytes, type Style } from './terminal.js';

export function formatList(apps: AppReleases[], s: Style): string {
  if (apps.length === 0) return 'no releases yet';
  const lines: string[] = [];
  for (const app of apps) {
    lines.push(s.bold(app.app));
    for (const r of app.releases) {
      const flags = [r.required ? 'required' : '', r.prerelease ? 'pre-release' : '']
        .filter(Boolean)
        .join(', ');
      const archive = r.archive ? formatBytes(r.archive.length) : s.red('no archive');
      const patch = r.patch ? `patch ${formatBytes(r.patch.length)}` : s.dim('no patch');
      lines.push(`  ${r.version.padEnd(12)} ${archive.padStart(10)}  ${patch}${flags ? `  (${flags})` : ''}`);
    }
    if (app.patchChainBreaks.length) {
      lines.push(s.yellow(`  full download needed to cross: ${app.patchChainBreaks.join(', ')}`));
    }
  }
  return lines.join('\n');
}

function expiry(days: number): string {
  if (days < 0) return `expired ${(-days).toFixed(1)} days ago`;
  if (days < 1) return `expires in ${(days * 24).toFixed(1)} hours`;
  return `expires in ${days.toFixed(1)} days`;
}

export function formatStatus(st: StatusReport, s: Style): string {
  const lines: string[] = [];
  lines.push(`${s.bold('repository')} ${st.repoDir}`);
  lines.push(`app ${st.appName}, ${st.patchFormat} patches, config ${st.configPath}`);
  lines.push('');
  for (const name of ROLE_NAMES) {
    const r = st.roles[name];
    const sig = `${r.validSignatures}/${r.threshold} signatures`;
    const sigText = r.validSignatures >= r.threshold ? sig : s.red(sig);
    const exp = expiry(r.expiresInDays);
    const expText = r.expired ? s.red(exp) : r.expiringSoon ? s.yellow(exp) : exp;
    const keyNames = r.keys
      .map((k) => `${k.name ?? k.keyid.slice(0, 8)}${k.signed ? '' : '(unsigned)'}`)
      .join(' ');
    lines.push(
      `${name.padEnd(10)} v${String(r.version).padEnd(4)} ${r.expires}  ${expText.padEnd(26)} ${sigText}  keys: ${keyNames}`,
    );
  }
  for (const r of st.delegatedRoles ?? []) {
    const sig = `${r.validSignatures}/${r.threshold} signatures`;
    const exp = expiry(r.expiresInDays);
    lines.push(
      `${r.role.padEnd(10)} v${String(r.version).padEnd(4)} ${r.expires}  ${(r.expired ? s.red(exp) : r.expiringSoon ? s.yellow(exp) : exp).padEnd(26)} ${r.validSignatures >= r.threshold ? sig : s.red(sig)}  delegated by ${r.delegatedBy}`,
    );
  }
  lines.push('');
  lines.push(formatList(st.apps, s));
  if (st.pending) {
    lines.push('');
    lines.push(s.yellow(`pending change: ${st.pending.summary} (${st.pending.created})`));
    for (const u of st.pending.unsignedRoles) {
      lines.push(
        s.yellow(
          `  ${u.role}: ${u.have} of ${u.need} signatures; co-sign with: tufup sign ${u.role} <key_dirs...>`,
        ),
      );
    }
  }
  if (st.warnings.length) {
    lines.push('');
    for (const w of st.warnings) lines.push(`${s.yellow('warning')}: ${w}`);
  }
  return lines.join('\n');
}

export function formatVerify(report: VerifyReport, s: Style): string {
  const lines: string[] = [];
  for (const p of report.problems) lines.push(`${s.red('problem')} [${p.code}] ${p.message}`);
  for (const w of report.warnings) lines.push(`${s.yellow('warning')} [${w.code}] ${w.message}`);
  const c = report.checked;
  const summary =
    `${c.rootVersions} root versions, ${c.roles} roles, ${c.targets} targets (${formatBytes(c.bytes)})` +
    (c.patchesReplayed ? `, ${c.patchesReplayed} patches replayed` : '');
  lines.push(
    report.ok
      ? s.green(`ok: ${summary}`)
      : s.red(`FAILED: ${report.problems.length} problems; checked ${summary}`),
  );
  return lines.join('\n');
}

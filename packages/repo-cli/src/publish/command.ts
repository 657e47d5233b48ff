// The `tufup publish DEST` command: its options, its output, and the test hooks TUFUP_PUBLISH_TRACE/_KILL_AFTER.
import type { Argv } from 'yargs';
import { RepoError } from '../errors.js';
import type { Globals, Session } from '../session.js';
import { positiveInt } from '../cli-args.js';
import { DEFAULT_CACHE_CONTROL, DEFAULT_CONCURRENCY, type PublishReport } from './engine.js';

/** `7d`, `12h`, `30m`, `90s` or `0` → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)([dhms]?)$/.exec(text.trim());
  if (!m || (m[2] === '' && m[1] !== '0')) {
    throw new RepoError({
      code: 'INVALID_ARGUMENT',
      message: `--prune-grace must be a duration like 7d, 12h, 30m, 90s or 0, got "${text}"`,
    });
  }
  const unit = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, '': 0 }[m[2] as 'd' | 'h' | 'm' | 's' | ''];
  return Number(m[1]) * unit;
}

export function publishOptions(y: Argv): Argv {
  return y
    .positional('dest', {
      describe: 's3://BUCKET[/PREFIX] or a directory (served as <base>/metadata/ and <base>/targets/)',
      type: 'string',
    })
    .option('endpoint', { describe: 'S3-compatible endpoint URL (R2, MinIO...); path-style', type: 'string' })
    .option('region', { describe: 'S3 region (default: AWS_REGION, else us-east-1)', type: 'string' })
    .option('dry-run', { describe: 'print the plan, change nothing', type: 'boolean', default: false })
    .option('concurrency', {
      describe: 'uploads at a time',
      type: 'string',
      default: String(DEFAULT_CONCURRENCY),
    })
    .option('prune', {
      describe: 'delete remote objects unreferenced for longer than --prune-grace',
      type: 'boolean',
      default: false,
    })
    .option('prune-grace', {
      describe: 'how long an unreferenced object stays',
      type: 'string',
      default: '7d',
    })
    .option('cache-control-mutable', {
      describe: 'Cache-Control of timestamp.json, root.json (and plain targets/snapshot.json)',
      type: 'string',
      default: DEFAULT_CACHE_CONTROL.mutable,
    })
    .option('cache-control-immutable', {
      describe: 'Cache-Control of versioned metadata and target files',
      type: 'string',
      default: DEFAULT_CACHE_CONTROL.immutable,
    })
    .example('$0 publish s3://my-updates/my_app', 'upload to S3 (credentials: the AWS default chain)')
    .example(
      '$0 publish s3://updates --endpoint https://<account>.r2.cloudflarestorage.com --prune',
      'Cloudflare R2, deleting objects unreferenced for 7 days',
    )
    .example('$0 publish /var/www/updates --dry-run', 'what would be copied to a web root');
}

export async function runPublish(session: Session, argv: Globals): Promise<void> {
  const env = session.io.env;
  const killAfter = env.TUFUP_PUBLISH_KILL_AFTER ? Number(env.TUFUP_PUBLISH_KILL_AFTER) : undefined;
  let writes = 0;
  // The SDK's notice about future Node versions is not this command's business (errors stay one line).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { repo, ctx } = await session.openRepo(argv, true);
  let report: PublishReport;
  try {
    report = await repo.publish({
      dest: String(argv.dest),
      ...(argv.endpoint ? { endpoint: String(argv.endpoint) } : {}),
      ...(argv.region ? { region: String(argv.region) } : {}),
      dryRun: Boolean(argv['dry-run']),
      concurrency: positiveInt(String(argv.concurrency), '--concurrency'),
      prune: Boolean(argv.prune),
      pruneGraceMs: parseDuration(String(argv['prune-grace'])),
      cacheControl: {
        mutable: String(argv['cache-control-mutable']),
        immutable: String(argv['cache-control-immutable']),
      },
      onWrite: (op, key) => {
        writes++;
        // Test hooks: a trace line per completed write, and a SIGKILL of this process after the K-th one.
        if (env.TUFUP_PUBLISH_TRACE) session.note(`trace: ${op} ${key}`);
        if (killAfter !== undefined && writes >= killAfter) process.kill(process.pid, 'SIGKILL');
      },
    });
    ctx.finish(true);
  } finally {
    ctx.finish();
  }
  const verb = report.dryRun ? 'would upload' : 'uploaded';
  if (report.dryRun || session.verbose) {
    for (const u of report.uploaded) session.out(`${verb} ${u.key} (${u.reason}, ${u.size} bytes)`);
    for (const k of report.deleted) session.out(`${report.dryRun ? 'would delete' : 'deleted'} ${k}`);
  }
  session.out(
    `${verb} ${report.uploaded.length} object${report.uploaded.length === 1 ? '' : 's'} (${report.bytesUploaded} bytes), ${report.skipped.length} unchanged, ${report.dryRun ? 'would delete' : 'deleted'} ${report.deleted.length}, ${Object.keys(report.unreferenced).length} unreferenced kept; ${report.dest} ${report.dryRun ? 'would serve' : 'serves'} timestamp version ${report.timestampVersion} (${report.layout} layout)`,
  );
  session.emit(report);
}

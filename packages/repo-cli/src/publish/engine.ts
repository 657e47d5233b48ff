// `tufup publish`: make a destination serve the local repository's current state, in an order no client can trip
// over, uploading only what differs, and deleting (with --prune) only what has been unreferenced for a grace period.
import { createHash } from 'node:crypto';
import { throwIfAborted } from '@tufup/common';
import { RepoError } from '../errors.js';
import { lockRepository } from '../lock.js';
import type { RepoState } from '../repository/state.js';
import { DirectoryRemote } from './directory.js';
import { type PlannedObject, planLocal } from './plan.js';
import { type Remote, type RemoteHead, parseDestination } from './remote.js';

export const DEFAULT_CACHE_CONTROL = {
  /** timestamp.json, root.json and (without consistent snapshots) targets.json / snapshot.json. */
  mutable: 'public, max-age=60',
  /** Versioned metadata and target files. */
  immutable: 'public, max-age=31536000, immutable',
} as const;
export const DEFAULT_PRUNE_GRACE_MS = 7 * 24 * 3600 * 1000;
export const DEFAULT_CONCURRENCY = 4;
/** At the destination's root: when each object became unreferenced (see README "Hosting": not security relevant). */
export const PUBLISH_STATE_KEY = '.tufup-publish-state.json';

export interface PublishOptions {
  /** `s3://BUCKET[/PREFIX]` or a directory. */
  dest: string;
  endpoint?: string;
  region?: string;
  dryRun?: boolean;
  concurrency?: number;
  prune?: boolean;
  pruneGraceMs?: number;
  cacheControl?: { mutable?: string; immutable?: string };
  /** Called after each completed write or delete (the CLI's TUFUP_PUBLISH_TRACE test hook). */
  onWrite?: (op: 'put' | 'delete', key: string) => void;
}

export interface PublishedObject {
  key: string;
  size: number;
  /** Why it is written: not at the destination, other bytes there, or only its headers differ. */
  reason: 'new' | 'changed' | 'headers';
}

export interface PublishReport {
  dest: string;
  layout: 'consistent-snapshot' | 'plain';
  dryRun: boolean;
  timestampVersion: number;
  /** In upload order. */
  uploaded: PublishedObject[];
  skipped: string[];
  bytesUploaded: number;
  /** Deleted by --prune (or, with --dry-run, that would be). */
  deleted: string[];
  /** Objects no longer referenced, kept until the grace period ends: key → ISO time first seen unreferenced. */
  unreferenced: Record<string, string>;
}

interface PublishState {
  format: 1;
  unreferenced: Record<string, string>;
}

export async function openRemote(
  dest: string,
  opts: { endpoint?: string; region?: string; cwd: string },
): Promise<Remote> {
  const d = parseDestination(dest, opts.cwd);
  if (d.kind === 'directory') {
    if (opts.endpoint) {
      throw new RepoError({ code: 'USAGE', message: '--endpoint applies to s3:// destinations only' });
    }
    return new DirectoryRemote(d.path);
  }
  // Loaded on demand: the AWS SDK is large, and a directory destination does not need it.
  const { S3Remote } = await import('./s3.js');
  return new S3Remote({
    bucket: d.bucket,
    prefix: d.prefix,
    ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
    ...(opts.region ? { region: opts.region } : {}),
  });
}

/** Runs `jobs` at most `limit` at a time; the first failure stops new jobs and is thrown once all have settled. */
async function pool<T>(items: T[], limit: number, job: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: { err: unknown } | undefined;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++] as T;
      try {
        await job(item);
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed) throw failed.err;
}

export async function publish(state: RepoState, opts: PublishOptions): Promise<PublishReport> {
  const signal = state.ctx.signal;
  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
  const graceMs = opts.pruneGraceMs ?? DEFAULT_PRUNE_GRACE_MS;
  const cache = { ...DEFAULT_CACHE_CONTROL, ...(opts.cacheControl ?? {}) };
  const remote = await openRemote(opts.dest, {
    cwd: state.ctx.cwd ?? process.cwd(),
    ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
    ...(opts.region ? { region: opts.region } : {}),
  });
  // The writer lock: no `targets add`, `prune` or `sign` changes the files while they are read and uploaded.
  const lock = await lockRepository(state.repoDir, 'publish');
  try {
    const local = await planLocal(state);
    await remote.check(signal);
    await refuseOlderState(remote, local.timestampVersion, signal);
    const listing = new Map([
      ...(await remote.list('metadata/', signal)),
      ...(await remote.list('targets/', signal)),
    ]);

    // Compare: objects listed with the same size are checked by their stored sha256 and headers.
    const uploads: Array<{ obj: PlannedObject; reason: PublishedObject['reason'] }> = [];
    const skipped: string[] = [];
    const decide = async (obj: PlannedObject) => {
      const cacheControl = obj.immutable ? cache.immutable : cache.mutable;
      const listed = listing.get(obj.key);
      const head: RemoteHead | undefined =
        listed && listed.size === obj.size ? await remote.head(obj.key, signal) : listed;
      if (!head) {
        uploads.push({ obj, reason: 'new' });
        return;
      }
      const sameBytes = head.size === obj.size && head.sha256 === obj.sha256;
      if (!sameBytes && obj.versionedMetadata && (head.sha256 !== undefined || head.size !== obj.size)) {
        throw new RepoError({
          code: 'REMOTE_CONFLICT',
          message: `${remote.label}/${obj.key} exists with other bytes: the destination serves another repository's history (publish to an empty destination, or remove it there deliberately)`,
        });
      }
      if (!sameBytes) {
        uploads.push({ obj, reason: 'changed' });
        return;
      }
      const headersDiffer =
        (head.cacheControl !== undefined && head.cacheControl !== cacheControl) ||
        (head.contentType !== undefined && head.contentType !== obj.contentType);
      if (headersDiffer) uploads.push({ obj, reason: 'headers' });
      else skipped.push(obj.key);
    };
    await pool(local.objects, Math.max(concurrency, 8), decide);
    uploads.sort((a, b) => a.obj.rank - b.obj.rank || a.obj.key.localeCompare(b.obj.key));
    skipped.sort();
    for (const u of uploads) {
      if (u.reason === 'changed' && u.obj.rank === 0 && !local.consistent) {
        state.logger.warn(
          `${u.obj.key} is replaced with other bytes: until clients read the new metadata, downloads of it fail their hash check`,
        );
      }
    }

    // What becomes unreferenced, and what --prune may delete now.
    const now = state.now();
    const previous = await readState(remote, signal);
    const referenced = new Set(local.objects.map((o) => o.key));
    const unreferenced: Record<string, string> = {};
    for (const key of [...listing.keys()].sort()) {
      if (referenced.has(key)) continue;
      const since = previous.unreferenced[key];
      unreferenced[key] = since !== undefined && !Number.isNaN(Date.parse(since)) ? since : now.toISOString();
    }
    const deletable = opts.prune
      ? Object.keys(unreferenced).filter(
          (k) => now.getTime() - Date.parse(unreferenced[k] as string) >= graceMs,
        )
      : [];

    const report: PublishReport = {
      dest: remote.label,
      layout: local.consistent ? 'consistent-snapshot' : 'plain',
      dryRun: Boolean(opts.dryRun),
      timestampVersion: local.timestampVersion,
      uploaded: uploads.map((u) => ({ key: u.obj.key, size: u.obj.size, reason: u.reason })),
      skipped,
      bytesUploaded: uploads.reduce((n, u) => n + u.obj.size, 0),
      deleted: deletable,
      unreferenced: Object.fromEntries(Object.entries(unreferenced).filter(([k]) => !deletable.includes(k))),
    };
    if (opts.dryRun) return report;

    // Upload rank by rank: nothing of rank r+1 starts before all of rank r are in place.
    const total = report.bytesUploaded;
    let doneBefore = 0;
    const inFlight = new Map<string, number>();
    const progress = (file?: string) => {
      let done = doneBefore;
      for (const n of inFlight.values()) done += n;
      state.ctx.onProgress?.({ phase: 'upload', done, total, unit: 'bytes', ...(file ? { file } : {}) });
    };
    for (const rank of [...new Set(uploads.map((u) => u.obj.rank))]) {
      await pool(
        uploads.filter((u) => u.obj.rank === rank),
        concurrency,
        async ({ obj }) => {
          throwIfAborted(signal);
          inFlight.set(obj.key, 0);
          await remote.put({
            key: obj.key,
            body: obj.body,
            size: obj.size,
            sha256: obj.sha256,
            cacheControl: obj.immutable ? cache.immutable : cache.mutable,
            contentType: obj.contentType,
            onBytes: (n) => {
              inFlight.set(obj.key, n);
              progress(obj.key);
            },
            ...(signal ? { signal } : {}),
          });
          inFlight.delete(obj.key);
          doneBefore += obj.size;
          opts.onWrite?.('put', obj.key);
        },
      );
    }
    progress();

    // The new state is live (its timestamp is up): only now may what it no longer references go.
    for (const key of deletable) {
      throwIfAborted(signal);
      await remote.delete(key, signal);
      opts.onWrite?.('delete', key);
    }
    const nextState: PublishState = { format: 1, unreferenced: report.unreferenced };
    if (JSON.stringify(nextState.unreferenced) !== JSON.stringify(previous.unreferenced)) {
      const body = Buffer.from(`${JSON.stringify(nextState, null, 1)}\n`);
      await remote.put({
        key: PUBLISH_STATE_KEY,
        body,
        size: body.length,
        sha256: createHash('sha256').update(body).digest('hex'),
        cacheControl: 'no-store',
        contentType: 'application/json',
        ...(signal ? { signal } : {}),
      });
      opts.onWrite?.('put', PUBLISH_STATE_KEY);
    }
    return report;
  } finally {
    await lock.release();
    remote.close();
  }
}

/**
 * Refuses to replace a newer remote state: clients that saw its timestamp would reject ours as a rollback (and the
 * other publisher's releases would vanish). An unreadable remote timestamp is replaced.
 */
async function refuseOlderState(remote: Remote, localVersion: number, signal?: AbortSignal): Promise<void> {
  const bytes = await remote.get('metadata/timestamp.json', signal);
  if (!bytes) return;
  let version: unknown;
  try {
    version = (JSON.parse(bytes.toString('utf8')) as { signed?: { version?: unknown } }).signed?.version;
  } catch {
    return;
  }
  if (typeof version === 'number' && version > localVersion) {
    throw new RepoError({
      code: 'REMOTE_NEWER',
      message: `${remote.label} serves timestamp version ${version}, newer than the local ${localVersion}: publish from the repository that made it`,
    });
  }
}

async function readState(remote: Remote, signal?: AbortSignal): Promise<PublishState> {
  const bytes = await remote.get(PUBLISH_STATE_KEY, signal);
  try {
    const s = bytes ? (JSON.parse(bytes.toString('utf8')) as PublishState) : undefined;
    if (s?.format === 1 && s.unreferenced && typeof s.unreferenced === 'object') return s;
  } catch {}
  // Missing or unreadable: every unreferenced object starts its grace period now (the safe direction).
  return { format: 1, unreferenced: {} };
}

// A TUF refresh with tuf-js over our Transport: root walk, timestamp, snapshot, targets, every file verified.
import { type Logger, isAbortError, throwIfAborted } from '@tufup/common';
import {
  type DelegatedRole,
  Metadata,
  type Root,
  type Targets,
  delegationCanMatchPrefix,
  isHistoryRoleName,
  targetFilePath,
  useLinearModels,
  verifyRootRotation,
} from '@tufup/metadata';
import { type Config, type Fetcher, type TargetFile, Updater } from 'tuf-js';
import { HttpError } from '../errors.js';
import type { TufConfig } from '../options.js';
import type { Transport } from '../transport.js';
import { refreshFailure } from './errors.js';
import { MetadataScratch } from './metadata-dir.js';
import type { RefreshMemo } from './refresh-memo.js';

const DEFAULT_MAX_ROOT_ROTATIONS = 256;
const DEFAULT_ROOT_MAX_LENGTH = 512_000;
/** tuf-js' default, so a timestamp fetched ahead is limited as tuf-js would limit it. */
const DEFAULT_TIMESTAMP_MAX_LENGTH = 16_384;

export interface RefreshOptions {
  metadataDir: string;
  metadataBaseUrl: string;
  transport: Transport;
  config?: TufConfig | undefined;
  signal?: AbortSignal | undefined;
  logger: Logger;
  /** The Client's memory of its last refresh: a check that finds nothing new skips re-verifying it. */
  memo?: RefreshMemo | undefined;
  /**
   * List only this app's targets (`<appName>-…`), and visit only the delegated roles whose paths can match them.
   * Without it every target of the top-level targets and of every delegated role is listed.
   */
  appName?: string | undefined;
  /**
   * Whether the targets listed so far (the top-level targets and the head roles) miss something the client
   * needs, so the history roles (`<role>.history`, the older releases) must be fetched too.
   */
  needsOlder?: ((targets: ReadonlyMap<string, TargetFile>) => boolean) | undefined;
}

/** The verified metadata of one refresh: what the client reads targets from. */
export interface TrustedMetadata {
  /** The top-level targets by path: signed length, hashes and custom metadata, as tuf-js verified them. */
  targets: ReadonlyMap<string, TargetFile>;
  /** Where a target is downloaded from (hash-prefixed with consistent snapshots). */
  targetUrl(baseUrl: string, target: TargetFile): string;
}

/**
 * Refresh the trusted metadata in `metadataDir` (crash-safe: see MetadataScratch). Throws a ClientError
 * (classified in tuf/errors.ts), or the signal's reason when aborted.
 */
export async function refreshTrustedMetadata(opts: RefreshOptions): Promise<TrustedMetadata> {
  throwIfAborted(opts.signal);
  // tuf-js parses and verifies targets.json through @tufjs/models: in linear time, not quadratic, with this.
  useLinearModels();
  const originals = MetadataScratch.readTrusted(opts.metadataDir, opts.logger);
  const fetcher = new RefreshFetcher(opts.transport, opts.signal);
  const config = opts.config ?? {};
  const rotations = await fetcher.fetchNewRoots(opts.metadataBaseUrl, originals.get('root.json')!, config);
  // Nothing new on the server since this Client's last refresh: what it verified then still holds (see RefreshMemo).
  const remembered = rotations === 0 ? opts.memo?.match(originals, Date.now()) : undefined;
  if (remembered) {
    const timestampUrl = joinUrl(opts.metadataBaseUrl, 'timestamp.json');
    const maxLength = config.timestampMaxLength ?? DEFAULT_TIMESTAMP_MAX_LENGTH;
    const timestamp = await fetcher.fetchAhead(timestampUrl, maxLength);
    if (timestamp && Buffer.from(timestamp).equals(remembered.timestamp)) return remembered.metadata;
  }
  opts.memo?.forget();
  const scratch = await MetadataScratch.create(opts.metadataDir, opts.logger, originals);
  let verified: { metadata: TrustedMetadata; files: Map<string, Buffer> };
  let failed = false;
  try {
    try {
      const updater = new Updater({
        metadataDir: scratch.dir,
        metadataBaseUrl: opts.metadataBaseUrl,
        fetcher,
        config: { ...config, maxRootRotations: rotations } satisfies Partial<Config>,
      });
      await updater.refresh();
      // Read before the commit moves the files tuf-js wrote out of the scratch dir.
      verified = { metadata: await trusted(updater, scratch, config, opts), files: scratch.readAll() };
    } catch (err) {
      failed = true;
      // tuf-js may report an aborted request as something else: the abort is what happened.
      throwIfAborted(opts.signal);
      if (isAbortError(err)) throw err;
      throw refreshFailure(err, fetcher.lastRequestFailure);
    } finally {
      // Also after a failure: what tuf-js verified and saved before it (a new root...) stays trusted. A commit
      // that fails then is logged: the refresh's own failure (or the abort) is what the caller gets.
      const moved = await scratch.commit(opts.signal).catch((err: unknown) => {
        if (!failed) throw err;
        opts.logger.warn(`could not store what the failed refresh verified: ${(err as Error).message}`);
        return [];
      });
      if (moved.length) opts.logger.debug(`trusted metadata updated: ${moved.join(', ')}`);
    }
  } finally {
    await scratch.discard();
  }
  opts.memo?.remember(verified.files, verified.metadata);
  return verified.metadata;
}

async function trusted(
  updater: Updater,
  scratch: MetadataScratch,
  config: TufConfig,
  opts: Pick<RefreshOptions, 'appName' | 'needsOlder'> = {},
): Promise<TrustedMetadata> {
  // tuf-js has no call that lists targets: the names come from the targets.json it verified and saved (and the
  // delegated roles it verified, see DelegationWalk), every detail from its verified in-memory copy.
  // consistent_snapshot comes from the root it saved.
  const listed = signedOf(await scratch.read('targets.json'))?.targets;
  const appPrefix = opts.appName !== undefined ? `${opts.appName}-` : undefined;
  const targets = new Map<string, TargetFile>();
  const resolve = async (names: Iterable<string>) => {
    for (const name of names) {
      if (targets.has(name) || (appPrefix !== undefined && !name.startsWith(appPrefix))) continue;
      // Resolved by tuf-js through the delegation tree: a name counts only as the role trusted for it lists it.
      const info = await updater.getTargetInfo(name);
      if (info) targets.set(name, info);
    }
  };
  await resolve(listed && typeof listed === 'object' ? Object.keys(listed) : []);
  const tree = new DelegationWalk(updater, appPrefix);
  await tree.visit(scratch);
  await resolve(tree.names);
  if (tree.histories.length && opts.needsOlder?.(targets)) {
    await tree.visitHistories();
    await resolve(tree.names);
  }
  const consistent = signedOf(await scratch.read('root.json'))?.consistent_snapshot === true;
  const prefix = consistent && (config.prefixTargetsWithHash ?? true);
  return {
    targets,
    // The first listed hash, as tuf-js and python-tuf take it (tufup lists sha256 only).
    targetUrl: (baseUrl, target) =>
      joinUrl(baseUrl, targetFilePath(target.path, Object.values(target.hashes)[0] ?? '', prefix)),
  };
}

/** tuf-js' loader of a delegated role: fetched (or read from the metadata dir) and verified against its delegator. */
type LoadTargets = (role: string, parentRole: string) => Promise<Metadata<Targets> | undefined>;

/**
 * The delegated targets roles a client may need, in TUF's pre-order from the top-level targets: only roles whose
 * paths can match the app's target names, and history roles (`<role>.history`) only on request. Each role is
 * loaded and verified by tuf-js (signatures and threshold of its delegator's keys, snapshot version, expiry)
 * before its names are read; the names are then resolved one by one with `getTargetInfo`, so a role listing a
 * name outside its paths, or one a role earlier in the order is trusted for, adds nothing.
 */
class DelegationWalk {
  readonly names = new Set<string>();
  readonly histories: Array<{ name: string; parent: string }> = [];
  readonly #visited = new Set<string>(['targets', 'root', 'snapshot', 'timestamp']);
  readonly #load: LoadTargets;
  readonly #prefix: string | undefined;

  constructor(updater: Updater, prefix: string | undefined) {
    this.#prefix = prefix;
    // tuf-js loads a delegated role only inside getTargetInfo's walk, for one name; listing needs the role itself.
    // Its loader does every check the walk does; it is not public API, so its absence fails closed.
    const load = (updater as unknown as { loadTargets?: LoadTargets }).loadTargets;
    if (typeof load !== 'function') {
      throw new Error('this tuf-js version has no delegated role loader: cannot list delegated targets');
    }
    this.#load = load.bind(updater);
  }

  /**
   * Pre-order walk from the top-level targets tuf-js verified and saved, history roles set aside. (Its delegation
   * entries only choose what to load: tuf-js checks each role against the delegator it verified itself.)
   */
  async visit(scratch: MetadataScratch): Promise<void> {
    const bytes = await scratch.read('targets.json');
    if (!bytes) return;
    const top = Metadata.fromJSON(
      'targets' as Parameters<typeof Metadata.fromJSON>[0],
      JSON.parse(bytes.toString('utf8')) as Parameters<typeof Metadata.fromJSON>[1],
    ) as unknown as Metadata<Targets>;
    if (top.signed.delegations) await this.#children(top, 'targets', 0);
  }

  async visitHistories(): Promise<void> {
    for (const { name, parent } of this.histories.splice(0)) await this.#role(name, parent, 0, true);
  }

  async #children(md: Metadata<Targets>, role: string, depth: number): Promise<void> {
    const entries: DelegatedRole[] = Object.values(md.signed.delegations?.roles ?? {});
    for (const entry of entries) {
      if (this.#prefix !== undefined && !delegationCanMatchPrefix(entry, this.#prefix)) continue;
      if (isHistoryRoleName(entry.name)) this.histories.push({ name: entry.name, parent: role });
      else await this.#role(entry.name, role, depth + 1, false);
    }
  }

  async #role(name: string, parent: string, depth: number, history: boolean): Promise<void> {
    if (this.#visited.has(name) || depth > 32 || this.#visited.size > 1000) return;
    this.#visited.add(name);
    const md = await this.#load(name, parent);
    if (!md) return;
    for (const path of Object.keys(md.signed.targets)) this.names.add(path);
    if (history) {
      // A history role's own delegations are walked whole: it was asked for because older releases are needed.
      for (const e of Object.values(md.signed.delegations?.roles ?? {}) as DelegatedRole[]) {
        await this.#role(e.name, name, depth + 1, true);
      }
    } else await this.#children(md, name, depth);
  }
}

/**
 * tuf-js' view of our Transport for one refresh (its signal is this refresh's). It remembers the failure of
 * the last request, which tuf-js rethrows only as text for snapshot and targets (see refreshFailure).
 */
class RefreshFetcher implements Fetcher {
  readonly #transport: Transport;
  readonly #signal: AbortSignal | undefined;
  /** Files fetched ahead (the root walk's, see fetchNewRoots; timestamp.json): bytes, or the error to throw. */
  readonly #ahead = new Map<string, Uint8Array | Error>();
  #lastRequestFailure: unknown;

  constructor(transport: Transport, signal: AbortSignal | undefined) {
    this.#transport = transport;
    this.#signal = signal;
  }

  get lastRequestFailure(): unknown {
    return this.#lastRequestFailure;
  }

  /**
   * tuf-js ends its root walk only on a 403/404 of its own `DownloadHTTPError` class, which its index does not
   * export. So the walk's fetching is done here: `N+1.root.json`, `N+2.root.json`… until the server has no
   * more (403/404), one fails to download, or one is not a valid rotation of the one before (by
   * @tufup/metadata's rule, so a server can't make us fetch roots that tuf-js would stop at). tuf-js then
   * walks exactly these (`maxRootRotations` = their number) and verifies and persists each, as before.
   */
  async fetchNewRoots(baseUrl: string, trustedRoot: Uint8Array, config: TufConfig): Promise<number> {
    let previous = parseRoot(trustedRoot);
    if (!previous) return 0; // tuf-js rejects the trusted root itself, with its own message
    const max = config.maxRootRotations ?? DEFAULT_MAX_ROOT_ROTATIONS;
    const maxLength = config.rootMaxLength ?? DEFAULT_ROOT_MAX_LENGTH;
    for (let n = 0; n < max; n++) {
      const url = joinUrl(baseUrl, `${previous.signed.version + 1}.root.json`);
      let bytes: Uint8Array;
      try {
        bytes = await this.#transport.fetchMetadata(url, { maxLength, signal: this.#signal });
      } catch (err) {
        if (err instanceof HttpError && (err.status === 403 || err.status === 404)) return n;
        this.#ahead.set(url, err as Error);
        return n + 1;
      }
      this.#ahead.set(url, bytes);
      const next = parseRoot(bytes);
      if (!next || !isRotation(previous, next)) return n + 1;
      previous = next;
    }
    return max;
  }

  /**
   * Fetch `url` now; tuf-js' own request for it later gets the same bytes, or the same error (so a failure is
   * reported as before). Undefined when it failed.
   */
  async fetchAhead(url: string, maxLength: number): Promise<Uint8Array | undefined> {
    try {
      const bytes = await this.#transport.fetchMetadata(url, { maxLength, signal: this.#signal });
      this.#ahead.set(url, bytes);
      return bytes;
    } catch (err) {
      this.#ahead.set(url, err as Error);
      return undefined;
    }
  }

  async downloadBytes(url: string, maxLength: number): Promise<Buffer> {
    this.#lastRequestFailure = undefined;
    const ahead = this.#ahead.get(url);
    try {
      if (ahead instanceof Error) throw ahead;
      const bytes = ahead ?? (await this.#transport.fetchMetadata(url, { maxLength, signal: this.#signal }));
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (err) {
      this.#lastRequestFailure = err;
      throw err;
    }
  }

  /** Unused: targets are the client's own downloads (tuf-js only refreshes and looks up). */
  async downloadFile<T>(url: string): Promise<T> {
    throw new Error(`tuf-js was asked to download ${url}; targets are downloaded by the client`);
  }
}

type RootMetadata = Metadata<Root>;

/** Parsed as tuf-js parses it (@tufjs/models' Metadata.fromJSON), so nothing it accepts is refused here. */
function parseRoot(bytes: Uint8Array): RootMetadata | undefined {
  try {
    const json = JSON.parse(Buffer.from(bytes).toString('utf8')) as Parameters<typeof Metadata.fromJSON>[1];
    return Metadata.fromJSON(
      'root' as Parameters<typeof Metadata.fromJSON>[0],
      json,
    ) as unknown as RootMetadata;
  } catch {
    return undefined;
  }
}

function isRotation(trusted: RootMetadata, next: RootMetadata): boolean {
  try {
    verifyRootRotation(trusted, next, { ignoreExpiry: true });
    return true;
  } catch {
    return false;
  }
}

/** tuf-js' URL join, so the URLs it asks for match the ones fetched ahead. */
function joinUrl(base: string, path: string): string {
  return new URL(
    (base.endsWith('/') ? base : `${base}/`) + (path.startsWith('/') ? path.slice(1) : path),
  ).toString();
}

/** The `signed` object of a metadata file tuf-js verified and saved (undefined when absent). */
function signedOf(bytes: Buffer | undefined): Record<string, unknown> | undefined {
  if (!bytes) return undefined;
  try {
    return (JSON.parse(bytes.toString('utf8')) as { signed?: Record<string, unknown> }).signed;
  } catch {
    return undefined;
  }
}

// What a Client's last refresh verified, kept in its memory so that a check which finds nothing new is cheap.
import type { TrustedMetadata } from './refresh.js';

interface Verified {
  /** Every trusted metadata file as the refresh left the metadata dir (name → bytes). */
  files: ReadonlyMap<string, Buffer>;
  /** The earliest `expires` among them, in ms since the epoch. */
  validUntil: number;
  metadata: TrustedMetadata;
}

/**
 * A tuf-js refresh is a function of the trusted files in the metadata dir, the files it downloads, and the clock.
 * When the trusted files are byte for byte those a refresh of this process verified and left, the server has no
 * newer root (the root walk still runs), and the server's timestamp.json is byte for byte the trusted one, tuf-js
 * would download nothing more (timestamp names the same snapshot, snapshot the same targets) and verify the same
 * bytes against the same keys again, so it would reach the same verified metadata: only its expiry checks depend on
 * the clock, and `match` repeats them (every file's, also those tuf-js would not load: that only makes a hit rarer).
 * The memo lives in the Client's memory only, so nothing outside the process can put anything in it.
 */
export class RefreshMemo {
  #verified: Verified | undefined;

  /** Remember `metadata`, verified from `files`; forgets instead when an expiry can't be read from every file. */
  remember(files: ReadonlyMap<string, Buffer>, metadata: TrustedMetadata): void {
    const validUntil = earliestExpiry(files);
    this.#verified = validUntil === undefined ? undefined : { files, validUntil, metadata };
  }

  forget(): void {
    this.#verified = undefined;
  }

  /**
   * The remembered metadata and the timestamp.json it was verified with, when the trusted dir holds exactly the
   * files it was verified from and none of them has expired at `now`; else undefined.
   */
  match(
    files: ReadonlyMap<string, Buffer>,
    now: number,
  ): { metadata: TrustedMetadata; timestamp: Buffer } | undefined {
    const v = this.#verified;
    if (!v || !(now < v.validUntil) || files.size !== v.files.size) return undefined;
    for (const [name, bytes] of files) {
      if (!v.files.get(name)?.equals(bytes)) return undefined;
    }
    const timestamp = v.files.get('timestamp.json');
    return timestamp ? { metadata: v.metadata, timestamp } : undefined;
  }
}

/** The earliest `signed.expires` of the files (ms), or undefined when one has none that parses. */
function earliestExpiry(files: ReadonlyMap<string, Buffer>): number | undefined {
  let earliest = Number.POSITIVE_INFINITY;
  for (const bytes of files.values()) {
    let expires: unknown;
    try {
      expires = (JSON.parse(bytes.toString('utf8')) as { signed?: { expires?: unknown } }).signed?.expires;
    } catch {
      return undefined;
    }
    const ms = typeof expires === 'string' ? Date.parse(expires) : Number.NaN;
    if (Number.isNaN(ms)) return undefined;
    earliest = Math.min(earliest, ms);
  }
  return Number.isFinite(earliest) ? earliest : undefined;
}

// The engine's vocabulary: a cover (its output) and a match finder (what the scan asks for matches).

/**
 * A stretch of the new file rebuilt from the old file: for 0 <= i < length, the patch stores the byte
 * difference new[newPos + i] - old[oldPos + i] (mod 256), so approximate matches are allowed (bsdiff-style).
 * Bytes of the new file not inside any cover are stored literally.
 */
export interface Cover {
  oldPos: number;
  newPos: number;
  length: number;
}

/**
 * Covers as one array of (oldPos, newPos, length) triples, which a thread sends to another without cloning
 * an object per cover. Every field is below 2^31 (files are at most 2 GiB - 1).
 */
export function flattenCovers(covers: readonly Cover[]): Int32Array {
  const flat = new Int32Array(3 * covers.length);
  covers.forEach((c, i) => {
    flat[3 * i] = c.oldPos;
    flat[3 * i + 1] = c.newPos;
    flat[3 * i + 2] = c.length;
  });
  return flat;
}

/** The covers of flattenCovers' array. */
export function coversOf(flat: Int32Array): Cover[] {
  const out: Cover[] = new Array(flat.length / 3);
  for (let i = 0; i < out.length; i++) {
    out[i] = {
      oldPos: flat[3 * i] as number,
      newPos: flat[3 * i + 1] as number,
      length: flat[3 * i + 2] as number,
    };
  }
  return out;
}

/** What the scan needs from a match finder (suffix array or hash chains). */
export interface MatchFinder {
  matchPos: number;
  matchLength: number;
  /** Longest match of newBuf[pos..end) in old; of equal ones, the one nearest `near` (when >= 0). */
  search(newBuf: Uint8Array, pos: number, end: number, near: number): void;
  /**
   * The length `search` would find at `pos`, when it is known cheaply and under 4 bytes; else -1. The scan
   * then skips the search while the match's position does not matter.
   */
  shortLength?(newBuf: Uint8Array, pos: number, end: number): number;
}

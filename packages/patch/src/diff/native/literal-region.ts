// Compresses a literal stream into its literal region (FORMAT.md): brotli over the plain or x86-filtered
// bytes, at a quality chosen by size and by how compressible the bytes are.
import { promisify } from 'node:util';
import { brotliCompress, createBrotliCompress, constants as zc } from 'node:zlib';

const brotli = promisify(brotliCompress);

/** Brotli quality for the literal bytes: the best the size allows in reasonable time. */
function literalQuality(rawBytes: number): number {
  if (rawBytes <= 16 << 20) return 11;
  if (rawBytes <= 64 << 20) return 9;
  return 7;
}

/**
 * A literal stream that brotli at PROBE_QUALITY shrinks by less than this share is close to incompressible
 * (new machine code that matches nothing in old, compressed data): quality 11 then gains almost nothing in
 * many times the time. On @swc/core-linux-x64-gnu 1.16.21 -> 1.16.22 (10.0 MB of literal bytes): quality
 * 5 gives 10,027,957 B in 0.12 s of CPU, 9 10,021,044 B in 0.9 s, 11 10,019,987 B in 21.8 s.
 */
const INCOMPRESSIBLE_SAVING = 0.005;
const PROBE_QUALITY = 5;
/** What an incompressible literal stream gets instead of literalQuality. */
const INCOMPRESSIBLE_QUALITY = 9;
/** Streams from this size up are probed (below it, quality 11 is quick anyway). */
const PROBE_MIN_BYTES = 1 << 20;

const brotliParams = (quality: number, sizeHint: number) => ({
  [zc.BROTLI_PARAM_QUALITY]: quality,
  [zc.BROTLI_PARAM_LGWIN]: 24,
  [zc.BROTLI_PARAM_SIZE_HINT]: sizeHint,
});

function brotliAt(lit: Uint8Array, quality: number): Promise<Uint8Array> {
  return brotli(lit, { params: brotliParams(quality, lit.length) });
}

/**
 * Pieces of this many bytes are classed compressible or not when a stream is compressed at
 * INCOMPRESSIBLE_QUALITY or below (see brotliPieced).
 */
const CLASS_PIECE_BYTES = 32 << 10;

/**
 * Pieces classed at once: each holds a brotli encoder while it waits for the thread pool (all 307 pieces of
 * @swc/core's literal stream at once took 60 MB); the pool runs 4 by default.
 */
const CLASS_CONCURRENCY = 4;

/**
 * Whether each CLASS_PIECE_BYTES piece of `lit` shrinks by at least INCOMPRESSIBLE_SAVING at PROBE_QUALITY
 * on its own (a 64 KiB window: the piece is all it sees).
 */
async function compressiblePieces(lit: Uint8Array): Promise<boolean[]> {
  const count = Math.ceil(lit.length / CLASS_PIECE_BYTES);
  const kinds = new Array<boolean>(count).fill(false);
  let next = 0;
  const classer = async () => {
    for (let k = next++; k < count; k = next++) {
      const piece = lit.subarray(k * CLASS_PIECE_BYTES, Math.min(lit.length, (k + 1) * CLASS_PIECE_BYTES));
      const packed = await brotli(piece, {
        params: { [zc.BROTLI_PARAM_QUALITY]: PROBE_QUALITY, [zc.BROTLI_PARAM_LGWIN]: 16 },
      });
      kinds[k] = packed.length < piece.length * (1 - INCOMPRESSIBLE_SAVING);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CLASS_CONCURRENCY, count) }, classer));
  return kinds;
}

/** One brotli stream of `lit` whose meta-blocks end at each of `cuts` (ascending, inside the stream). */
function brotliFlushedAt(lit: Uint8Array, quality: number, cuts: readonly number[]): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const stream = createBrotliCompress({ params: brotliParams(quality, lit.length) });
    const out: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => out.push(chunk));
    stream.on('error', reject);
    stream.on('end', () => resolve(Buffer.concat(out)));
    let from = 0;
    for (const cut of cuts) {
      stream.write(lit.subarray(from, cut));
      stream.flush(zc.BROTLI_OPERATION_FLUSH);
      from = cut;
    }
    stream.end(lit.subarray(from));
  });
}

/**
 * `lit` at `quality`. At INCOMPRESSIBLE_QUALITY and below, a stream of at least PROBE_MIN_BYTES whose
 * pieces differ in kind (stretches of code or tables between long runs of compressed data, as in a binary
 * that carries compressed sections) gets a meta-block boundary wherever the kind changes: brotli decides
 * per meta-block whether to compress or store, and a meta-block of megabytes that is mostly incompressible
 * is stored whole, compressible stretches and all. On @swc/core-linux-x64-gnu 1.16.21 -> 1.16.22 (10.0 MB
 * of literal bytes, 16 of 307 pieces compressible): 10,022,438 B in one meta-block, 10,009,740 B with
 * boundaries (0.06 s of CPU to class the pieces), where xz -9e gives 10,003,680 B. Quality 11 chooses its
 * own meta-blocks and does better without (a mixed stream: 1,244,194 B one-shot, 1,246,909 B with
 * boundaries), so it is left alone.
 */
async function brotliPieced(lit: Uint8Array, quality: number): Promise<Uint8Array> {
  if (quality > INCOMPRESSIBLE_QUALITY || lit.length < PROBE_MIN_BYTES) return brotliAt(lit, quality);
  const kinds = await compressiblePieces(lit);
  const cuts: number[] = [];
  for (let k = 1; k < kinds.length; k++) if (kinds[k] !== kinds[k - 1]) cuts.push(k * CLASS_PIECE_BYTES);
  return cuts.length === 0 ? brotliAt(lit, quality) : brotliFlushedAt(lit, quality, cuts);
}

/** A literal region: its brotli stream, and whether that holds the x86-filtered bytes. */
export interface LiteralRegion {
  x86: boolean;
  bytes: Uint8Array;
}

/**
 * Below this many bytes a literal stream is compressed both plain and x86-filtered at its final quality;
 * from here on quality-PROBE_QUALITY probes choose and only the choice gets the final quality, which
 * halves the brotli work. The probes chose as quality 11 did on every segment of lightningcss and turbo
 * (bench/patch), where filtering saved from -0.2 % to 9 %.
 */
const CHOICE_PROBE_MIN_BYTES = 64 << 10;

/**
 * Compresses a literal stream plain or x86-filtered (`filtered`: the same bytes after filterX86), whichever
 * is smaller (plain on a tie), so data that is not x86 code loses nothing.
 */
export async function compressLiteral(lit: Uint8Array, filtered: Uint8Array): Promise<LiteralRegion> {
  if (lit.length === 0) return { x86: false, bytes: new Uint8Array(0) };
  const quality = literalQuality(lit.length);
  // No call or jump operand changed: nothing to choose (plain would win the tie), at half the brotli work.
  const candidates = Buffer.from(filtered.buffer, filtered.byteOffset, filtered.byteLength).equals(lit)
    ? [lit]
    : [lit, filtered];
  const smallest = (packed: Uint8Array[]) =>
    packed.length > 1 && (packed[1] as Uint8Array).length < (packed[0] as Uint8Array).length ? 1 : 0;
  if (lit.length < CHOICE_PROBE_MIN_BYTES) {
    const packed = await Promise.all(candidates.map((c) => brotliAt(c, quality)));
    const k = smallest(packed);
    return { x86: k === 1, bytes: packed[k] as Uint8Array };
  }
  const mayBeIncompressible = lit.length >= PROBE_MIN_BYTES && quality > INCOMPRESSIBLE_QUALITY;
  if (candidates.length === 1 && !mayBeIncompressible)
    return { x86: false, bytes: await brotliPieced(lit, quality) };
  const probes = await Promise.all(candidates.map((c) => brotliAt(c, PROBE_QUALITY)));
  const k = smallest(probes);
  const incompressible =
    mayBeIncompressible && (probes[k] as Uint8Array).length >= lit.length * (1 - INCOMPRESSIBLE_SAVING);
  return {
    x86: k === 1,
    bytes: await brotliPieced(candidates[k] as Uint8Array, incompressible ? INCOMPRESSIBLE_QUALITY : quality),
  };
}

// AssemblyScript source of apply's difference-stream decoder (compiled to wasm/diff-kernel.wasm at build time).
//
// It decodes exactly what `DiffModel.encode` in src/diff/native/diff-model.ts codes (FORMAT.md, "The model"): the
// zero-chunk runs and the bytes of non-zero chunks, with the same tables, contexts, mixing and updates,
// bit for bit. The round-trip tests and the fuzz run check the two against each other.
//
// Memory is owned by this module and never grows. Tables start at TABLES; the JavaScript side places its
// buffers (the current frame, old-file windows, output buffers) from `scratchStart()` on, so the decoder
// reads frames and old bytes and writes new bytes in place, without copies.

const TABLES: u32 = 65536;
const STRETCH: u32 = TABLES; // 4096 x i16, filled by the JavaScript side
const SQUASH: u32 = STRETCH + 8192; // 4096 x u16, filled by the JavaScript side
const RUN_UNARY: u32 = SQUASH + 8192; // 8 context sets x 64 x u16
const RUN_MANTISSA: u32 = RUN_UNARY + 1024; // 8 x 64 x 64 x u16
const Z0: u32 = RUN_MANTISSA + 65536; // 2^12 x u16
const Z1: u32 = Z0 + 8192; // 2^16 x u16
const Z2: u32 = Z1 + 131072; // 2^16 x u16
const ZMIX: u32 = Z2 + 131072; // 32 x 4 x i32
const V: u32 = ZMIX + 512; // 2^17 x u16
const CANDIDATE: u32 = V + 262144; // 2^16 x u8
const CONFIDENCE: u32 = CANDIDATE + 65536; // 2^16 x u8
const H0: u32 = CONFIDENCE + 65536; // 32 x u16
const H1: u32 = H0 + 64; // 2^16 x u16
const HMIX: u32 = H1 + 131072; // 4 x 2 x 3 x i32
const TABLES_END: u32 = HMIX + 96;

const Z_INIT: u32 = 8192;
const V_INIT: u32 = 32768;
const SURE_ZERO: u32 = 1024;
const CHUNK: u32 = 16;
const ZERO_RUN_CAP: u32 = 0x40000000;

// The model's state between calls (one segment at a time).
let o1: u32 = 0;
let o2: u32 = 0;
let d1: u32 = 0;
let lastNonzero: u32 = 0;
let zeroRun: u32 = 0;
let zeroLeft: i64 = 0;
let nonzeroLeft: u32 = 0;
let nonzeroNext: bool = false;
let prevRunBits: u32 = 0;
/**
 * Model 3 (compression id 4): a zero flag coded with the third context alone that comes out zero leaves the
 * first two contexts as they are. Model 2 (ids 2 and 3) updates all three after every flag.
 */
let model3: bool = true;

// The range decoder's state.
let R: u32 = 0;
let C: u32 = 0;
let P: u32 = 0;
let F: u32 = 0;
let FL: u32 = 0;

/** Where the tables STRETCH and SQUASH go (4096 i16, then 4096 u16). */
export function tablesAt(): u32 {
  return STRETCH;
}

/** First byte the JavaScript side may use for its buffers (64 KiB aligned, after the tables). */
export function scratchStart(): u32 {
  return (TABLES_END + 65535) & ~65535;
}

/** A fresh model for the next segment (STRETCH and SQUASH stay); `model`: 2 or 3 (FORMAT.md). */
export function reset(model: u32): void {
  model3 = model === 3;
  memory.fill(RUN_UNARY, 0, TABLES_END - RUN_UNARY);
  for (let i: u32 = 0; i < 128; i++) store<i32>(ZMIX + (i << 2), 19660);
  for (let i: u32 = 0; i < 24; i++) store<i32>(HMIX + (i << 2), 32768);
  o1 = 0;
  o2 = 0;
  d1 = 0;
  lastNonzero = 0;
  zeroRun = 0;
  zeroLeft = 0;
  nonzeroLeft = 0;
  nonzeroNext = false;
  prevRunBits = 0;
}

export function rangeAfter(): u32 {
  return R;
}

export function codeAfter(): u32 {
  return C;
}

export function posAfter(): u32 {
  return P;
}

function stretch(p: u32): i32 {
  return <i32>load<i16>(STRETCH + ((p >> 4) << 1));
}

function squash(d: i32): u32 {
  if (d > 2047) d = 2047;
  if (d < -2048) d = -2048;
  return <u32>load<u16>(SQUASH + ((<u32>(d + 2048)) << 1));
}

/** Next frame byte; past the end: 0, and the position stays one past the end (the frame then fails). */
function nextByte(): u32 {
  if (P < FL) return <u32>load<u8>(F + P++);
  P = FL + 1;
  return 0;
}

function bit(p: u32): u32 {
  const bound = (R >> 16) * p;
  let b: u32 = 0;
  if (C < bound) {
    R = bound;
    b = 1;
  } else {
    C -= bound;
    R -= bound;
  }
  normalize();
  return b;
}

function bitLength(x: i64): u32 {
  return 64 - <u32>clz<i64>(x);
}

/** An adaptive Elias-gamma number of run context set s (0..7); -1: corrupt (bit length above 41). */
function runNumber(s: u32): i64 {
  let n: u32 = 1;
  const u = RUN_UNARY + (s << 7);
  for (;;) {
    const a = u + (n << 1);
    const p = <u32>load<u16>(a) ^ 32768;
    const more = bit(p);
    store<u16>(a, (more ? p + ((65536 - p) >> 4) : p - (p >> 4)) ^ 32768);
    if (!more) break;
    n++;
    if (n > 41) return -1;
  }
  let r: i64 = 1;
  const m = RUN_MANTISSA + (((s << 6) + n) << 7);
  for (let k: i32 = <i32>n - 2; k >= 0; k--) {
    const top = <i32>n - 2 - k;
    const a = m + ((<u32>(top < 2 ? top : 2 + k)) << 1);
    const p = <u32>load<u16>(a) ^ 32768;
    const b = bit(p);
    store<u16>(a, (b ? p + ((65536 - p) >> 5) : p - (p >> 5)) ^ 32768);
    r = r * 2 + <i64>b;
  }
  return r - 1;
}

/** The range decoder's renormalisation. */
function normalize(): void {
  while (R < 0x1000000) {
    R <<= 8;
    C = (C << 8) | nextByte();
  }
}

/** The bytes of a non-zero chunk: zero flags, then the values of the non-zero ones. */
function nonzeroChunk(old: u32, out: u32, n: u32): void {
  let lo1 = o1;
  let lo2 = o2;
  let ld1 = d1;
  let run = zeroRun;
  let last = lastNonzero;
  for (let k: u32 = 0; k < n; k++) {
    if (ld1 === 0 && model3) {
      // The common case in a tight loop: the third context alone is sure enough of a zero, and a zero is
      // decoded, so the new byte is the old one; under model 3 it updates the third context only. A byte
      // this loop leaves (a zero flag that needs mixing, or a one) is decoded below from the same state: the
      // loop stores nothing for it. The range decoder's state is in locals here (a wasm global is a memory
      // access); the rest of this function keeps it in globals, where TurboFan's register allocation does
      // better. @next/swc: 19 of its 30 million modelled bytes. (Model 2, which only patches of compression
      // ids 2 and 3 use, decodes such bytes below, one at a time.)
      let r = R;
      let c = C;
      while (k < n) {
        const o = <u32>load<u8>(old + k);
        const zr: u32 = run < 15 ? run : 15;
        const a2 = Z2 + (((zr << 12) | o) << 1);
        const p2 = <u32>load<u16>(a2) ^ Z_INIT;
        if (p2 >= SURE_ZERO) break;
        const bound = (r >> 16) * (p2 < 32 ? 32 : p2);
        if (c < bound) break;
        c -= bound;
        r -= bound;
        if (r < 0x1000000) {
          R = r;
          C = c;
          normalize();
          r = R;
          c = C;
        }
        store<u16>(a2, (p2 - (p2 >> 4)) ^ Z_INIT);
        if (run < ZERO_RUN_CAP) run++;
        store<u8>(out + k, <u8>o);
        lo2 = lo1;
        lo1 = o;
        k++;
      }
      R = r;
      C = c;
      if (k === n) break;
    }
    const o = <u32>load<u8>(old + k);
    const zr: u32 = run < 15 ? run : 15;
    const a0 = Z0 + (((lo1 << 4) | zr) << 1);
    const a1 = Z1 + (((((lo2 << 16) | (lo1 << 8) | o) * 0x9e3779b1) >> 16) << 1);
    const a2 = Z2 + (((zr << 12) | ((ld1 >> 4) << 8) | o) << 1);
    const p2 = <u32>load<u16>(a2) ^ Z_INIT;
    let nz: u32 = 0;
    if (p2 < SURE_ZERO) {
      // The third context alone is sure enough of a zero: coded with it, no mixing.
      nz = bit(p2 < 32 ? 32 : p2);
      if (nz || !model3) {
        const p0 = <u32>load<u16>(a0) ^ Z_INIT;
        const p1 = <u32>load<u16>(a1) ^ Z_INIT;
        store<u16>(a0, (nz ? p0 + ((65536 - p0) >> 4) : p0 - (p0 >> 4)) ^ Z_INIT);
        store<u16>(a1, (nz ? p1 + ((65536 - p1) >> 4) : p1 - (p1 >> 4)) ^ Z_INIT);
      }
    } else {
      const p0 = <u32>load<u16>(a0) ^ Z_INIT;
      const p1 = <u32>load<u16>(a1) ^ Z_INIT;
      const s0 = stretch(p0);
      const s1 = stretch(p1);
      const s2 = stretch(p2);
      const m = ZMIX + (((zr << 1) | (ld1 !== 0 ? 1 : 0)) << 4);
      const w0 = load<i32>(m);
      const w1 = load<i32>(m, 4);
      const w2 = load<i32>(m, 8);
      const w3 = load<i32>(m, 12);
      // The JavaScript model sums in doubles and truncates with `| 0`: the same as i64, then wrapping to i32.
      const dot: i64 = <i64>w0 * s0 + <i64>w1 * s1 + <i64>w2 * s2 + <i64>w3 * 256;
      const p = squash(<i32>(dot / 65536));
      nz = bit(p);
      const err = <i32>(nz << 12) - <i32>(p >> 4);
      store<i32>(m, w0 + ((s0 * err) >> 10));
      store<i32>(m, w1 + ((s1 * err) >> 10), 4);
      store<i32>(m, w2 + ((s2 * err) >> 10), 8);
      store<i32>(m, w3 + ((256 * err) >> 10), 12);
      store<u16>(a0, (nz ? p0 + ((65536 - p0) >> 4) : p0 - (p0 >> 4)) ^ Z_INIT);
      store<u16>(a1, (nz ? p1 + ((65536 - p1) >> 4) : p1 - (p1 >> 4)) ^ Z_INIT);
    }
    store<u16>(a2, (nz ? p2 + ((65536 - p2) >> 4) : p2 - (p2 >> 4)) ^ Z_INIT);
    let value: u32 = 0;
    if (nz) {
      // Is it the candidate of its context?
      const slot = (o << 8) | last;
      const candidate = <u32>load<u8>(CANDIDATE + slot);
      const confidence = <u32>load<u8>(CONFIDENCE + slot);
      let hit: u32 = 0;
      if (confidence > 0) {
        const c0 =
          H0 +
          (((confidence << 3) |
            ((candidate === last ? 1 : 0) << 2) |
            (zr > 3 ? 2 : 0) |
            (ld1 !== 0 ? 1 : 0)) <<
            1);
        const c1 = H1 + (((o << 8) | candidate) << 1);
        const q0 = <u32>load<u16>(c0) ^ V_INIT;
        const q1 = <u32>load<u16>(c1) ^ V_INIT;
        const t0 = stretch(q0);
        const t1 = stretch(q1);
        const mh = HMIX + ((confidence << 1) | (zr > 3 ? 1 : 0)) * 12;
        const u0 = load<i32>(mh);
        const u1 = load<i32>(mh, 4);
        const u2 = load<i32>(mh, 8);
        const sum: i64 = <i64>u0 * t0 + <i64>u1 * t1 + <i64>u2 * 256;
        const q = squash(<i32>(sum / 65536));
        hit = bit(q);
        const e = <i32>(hit << 12) - <i32>(q >> 4);
        store<i32>(mh, u0 + ((t0 * e) >> 10));
        store<i32>(mh, u1 + ((t1 * e) >> 10), 4);
        store<i32>(mh, u2 + ((256 * e) >> 10), 8);
        store<u16>(c0, (hit ? q0 + ((65536 - q0) >> 4) : q0 - (q0 >> 4)) ^ V_INIT);
        store<u16>(c1, (hit ? q1 + ((65536 - q1) >> 4) : q1 - (q1 >> 4)) ^ V_INIT);
      }
      if (hit) {
        value = candidate;
      } else {
        const h = ((last << 1) | (zr > 3 ? 1 : 0)) << 8;
        let node: u32 = 1;
        for (let bi: i32 = 7; bi >= 0; bi--) {
          const a = V + ((h | node) << 1);
          const q = <u32>load<u16>(a) ^ V_INIT;
          const b = bit(q);
          store<u16>(a, (b ? q + ((65536 - q) >> 4) : q - (q >> 4)) ^ V_INIT);
          node = (node << 1) | b;
        }
        value = node & 255;
      }
      // The candidate follows the values seen in its context; a value seen again gains confidence.
      if (value === candidate) {
        if (confidence < 3) store<u8>(CONFIDENCE + slot, <u8>(confidence + 1));
      } else if (confidence > 1) {
        store<u8>(CONFIDENCE + slot, <u8>(confidence - 1));
      } else {
        store<u8>(CANDIDATE + slot, <u8>value);
        store<u8>(CONFIDENCE + slot, 1);
      }
      last = value;
      run = 0;
    } else if (run < ZERO_RUN_CAP) {
      run++;
    }
    store<u8>(out + k, <u8>(o + value));
    ld1 = value;
    lo2 = lo1;
    lo1 = o;
  }
  o1 = lo1;
  o2 = lo2;
  d1 = ld1;
  zeroRun = run;
  lastNonzero = last;
}

/**
 * Decodes n difference bytes (n >= 1) under old[old .. old + n) into out[out .. out + n), continuing the
 * range decoder state (range, code, pos) in the frame at [frame, frame + frameLength). Returns 0, or -1
 * when the stream is corrupt. The state after the call: rangeAfter(), codeAfter(), posAfter().
 */
export function decodeDiff(
  old: u32,
  out: u32,
  n: u32,
  frame: u32,
  frameLength: u32,
  range: u32,
  code: u32,
  pos: u32,
): i32 {
  R = range;
  C = code;
  P = pos <= frameLength ? pos : frameLength + 1;
  F = frame;
  FL = frameLength;
  let i: u32 = 0;
  while (i < n) {
    if (zeroLeft > 0) {
      // All-zero chunks: the old bytes as they are.
      const take: u32 = <i64>(n - i) < zeroLeft ? n - i : <u32>zeroLeft;
      memory.copy(out + i, old + i, take);
      o2 = take > 1 ? <u32>load<u8>(old + i + take - 2) : o1;
      o1 = <u32>load<u8>(old + i + take - 1);
      zeroRun = take > ZERO_RUN_CAP - zeroRun ? ZERO_RUN_CAP : zeroRun + take;
      d1 = 0;
      zeroLeft -= take;
      i += take;
    } else if (nonzeroLeft > 0) {
      const take = n - i < nonzeroLeft ? n - i : nonzeroLeft;
      nonzeroChunk(old + i, out + i, take);
      nonzeroLeft -= take;
      i += take;
    } else if (nonzeroNext) {
      nonzeroNext = false;
      nonzeroLeft = CHUNK;
    } else {
      // A chunk boundary after a non-zero chunk: how many all-zero chunks follow.
      const s = prevRunBits >> 1;
      const run = runNumber(s < 7 ? s : 7);
      if (run < 0) return -1;
      prevRunBits = bitLength(run + 1);
      if (run === 0) {
        nonzeroLeft = CHUNK;
      } else {
        zeroLeft = run * CHUNK;
        nonzeroNext = true;
      }
    }
  }
  return 0;
}

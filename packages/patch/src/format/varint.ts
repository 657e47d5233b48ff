// LEB128 unsigned varints, as the native format uses them (frame headers, and version 3's header fields):
// 7 bits a byte, low group first, the high bit set on every byte but the last; at most 8 bytes (56 bits,
// enough for any value up to 2^53 - 1).

/** Most bytes a varint may take. */
export const MAX_VARINT_BYTES = 8;

/** Appends v (a safe integer >= 0) to `out`. */
export function pushVarint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

/**
 * The varint at `at` and where the next field starts, or why it cannot be read: 'short' when `bytes` ends
 * inside it, 'bad' when it runs past MAX_VARINT_BYTES or (with `minimal`) has a redundant last byte of 0.
 */
export function readVarint(
  bytes: Uint8Array,
  at: number,
  minimal = false,
): { value: number; next: number } | 'short' | 'bad' {
  let value = 0;
  let scale = 1;
  for (let k = 0; ; k++) {
    if (k >= MAX_VARINT_BYTES) return 'bad';
    if (at + k >= bytes.length) return 'short';
    const b = bytes[at + k] as number;
    value += (b & 0x7f) * scale;
    scale *= 128;
    if (!(b & 0x80)) return minimal && k > 0 && b === 0 ? 'bad' : { value, next: at + k + 1 };
  }
}

// bzip2's CRC-32: polynomial 0x04C11DB7 processed most-significant bit first (unlike zlib's reflected CRC).

/** Table for one byte step, computed once from the polynomial. */
export const BZIP2_CRC_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    table[i] = c >>> 0;
  }
  return table;
})();

/** The CRC of a block's original bytes (before run-length coding). */
export function bzip2Crc(data: Uint8Array, start = 0, end = data.length): number {
  const t = BZIP2_CRC_TABLE;
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) crc = (crc << 8) ^ (t[(crc >>> 24) ^ (data[i] as number)] as number);
  return ~crc >>> 0;
}

/** The stream CRC folds each block CRC in with a one-bit rotation. */
export function combineStreamCrc(streamCrc: number, blockCrc: number): number {
  return (((streamCrc << 1) | (streamCrc >>> 31)) ^ blockCrc) >>> 0;
}

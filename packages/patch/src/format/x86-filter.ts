// The x86 CALL/JMP filter of literal streams (compression id 3; FORMAT.md, "Literal region").
//
// Recompiled executables have new code that matches nothing in the old file, so it ends up in the literal
// stream. Its CALL (E8) and JMP (E9) instructions hold a 32-bit displacement relative to the next
// instruction: calls from different places to the same function hold different bytes. Replacing the
// displacement by the target's (wrapped) position in the new file makes repeated targets repeated bytes,
// which brotli then finds. Positions are new-file positions (not literal-stream positions), so two
// literal runs calling the same function agree too.
//
// The writer (src/diff/native/write.ts) uses filterX86 on a whole stream; apply
// (src/apply/native/segment.ts) undoes it as the stream inflates, with isX86Opcode, hasX86Operand and
// convertX86Operand, the same rules byte by byte. Both scan the stream in order: a byte that is E8 or E9
// with at least 4 bytes after it in the stream is an opcode; its 4 following bytes (the operand) are
// converted when the operand fits in X86_BITS signed bits (its top 32 - X86_BITS + 1 bits all equal);
// either way the scan goes on after the operand. Conversion keeps the operand in that form, so the
// decoder sees the same opcodes and the same "fits" answers as the encoder.

/** Operands are X86_BITS-bit signed numbers: +-64 MiB, what calls inside one executable span. */
export const X86_BITS = 27;
const SHIFT = 32 - X86_BITS;
const MASK = 2 ** X86_BITS - 1;
/** Opcode byte plus its 32-bit operand. */
export const X86_INSTRUCTION_BYTES = 5;

export function isX86Opcode(byte: number): boolean {
  return byte === 0xe8 || byte === 0xe9;
}

/** Whether the opcode at literal index `index` of a `total`-byte stream has its whole operand in the stream. */
export function hasX86Operand(index: number, total: number): boolean {
  return index + X86_INSTRUCTION_BYTES <= total;
}

/**
 * Converts the operand at bytes[at..at+4) of the opcode that sits at new-file position `position`:
 * relative to absolute (`encode`) or back. Leaves it unchanged when it does not fit in X86_BITS bits.
 */
export function convertX86Operand(bytes: Uint8Array, at: number, position: number, encode: boolean): void {
  const v =
    (bytes[at] as number) |
    ((bytes[at + 1] as number) << 8) |
    ((bytes[at + 2] as number) << 16) |
    ((bytes[at + 3] as number) << 24);
  if ((v << SHIFT) >> SHIFT !== v) return;
  // The next instruction's position, reduced first so the sum stays exact in 32 bits.
  const next = (position + X86_INSTRUCTION_BYTES) % (MASK + 1);
  const w = (((encode ? v + next : v - next) & MASK) << SHIFT) >> SHIFT;
  bytes[at] = w & 0xff;
  bytes[at + 1] = (w >>> 8) & 0xff;
  bytes[at + 2] = (w >>> 16) & 0xff;
  bytes[at + 3] = (w >>> 24) & 0xff;
}

/** A literal run: `length` stream bytes that sit at new-file position `newPos`. */
export interface LiteralRun {
  newPos: number;
  length: number;
}

/**
 * The filtered copy of a literal stream (`encode`) or the original back (`!encode`), given the runs the
 * stream is made of, in order (their lengths add up to the stream's length).
 */
export function filterX86(stream: Uint8Array, runs: readonly LiteralRun[], encode: boolean): Uint8Array {
  const out = Uint8Array.from(stream);
  let index = 0;
  // Operand bytes still to skip; they may lie in the next run.
  let skip = 0;
  for (const run of runs) {
    for (let k = 0; k < run.length; k++, index++) {
      if (skip > 0) {
        skip--;
        continue;
      }
      if (!isX86Opcode(out[index] as number) || !hasX86Operand(index, out.length)) continue;
      convertX86Operand(out, index + 1, run.newPos + k, encode);
      skip = X86_INSTRUCTION_BYTES - 1;
    }
  }
  return out;
}

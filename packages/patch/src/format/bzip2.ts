// bzip2 format constants shared by the encoder and the decoder.

/** The two symbols that spell a run of MTF zeros in bijective base 2. */
export const RUNA = 0;
export const RUNB = 1;
/** Symbols coded with one Huffman table before the next selector. */
export const GROUP_SIZE = 50;

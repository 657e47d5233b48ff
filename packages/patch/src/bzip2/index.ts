// bzip2 for BSDIFF40 patches: a bounded streaming decoder and a block-wise encoder.
export { Bzip2Reader, bzip2Decompress, type ByteSource, type Bzip2ReaderOptions } from './decoder.js';
export { Bzip2Encoder, bzip2Compress, type Bzip2EncoderOptions } from './encoder.js';
export { bzip2Crc } from './crc.js';

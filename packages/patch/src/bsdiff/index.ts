// BSDIFF40 compatibility: create patches python tufup (bsdiff4) and bspatch apply, and apply theirs.
export { applyBsdiff40, type ApplyBsdiff40Options } from './apply.js';
export {
  createBsdiff40,
  writeBsdiff40,
  type CreateBsdiff40Options,
  type WriteBsdiff40Options,
} from './write.js';
export { BSDIFF40_MAGIC, parseBsdiff40Header, type Bsdiff40Header } from './format.js';

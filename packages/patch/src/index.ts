// @tufup/patch: binary diff engine, native and BSDIFF40 patch formats, streaming bounded-memory apply.
// The public surface is what README.md documents; everything else is internal (tests import it from src/).

export {
  type ApplyOptions,
  type ApplyResult,
  apply,
  detectPatchFormat,
  detectPatchFormatOfBytes,
} from './apply/index.js';
export { type DiffOptions, type DiffResult, diff, diffBuffers } from './diff/index.js';
export { PatchError, type PatchErrorCode } from './errors.js';
export type { PatchFormat } from './format/patch-format.js';

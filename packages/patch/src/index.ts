// @tufup/patch: binary diff engine, native and BSDIFF40 patch formats, streaming bounded-memory apply.
export { PatchError, type PatchErrorCode } from './errors.js';
export { diff, diffBuffers, MAX_DIFF_INPUT_BYTES, type DiffOptions, type DiffResult } from './diff.js';
export {
  apply,
  detectPatchFormat,
  detectPatchFormatOfBytes,
  type ApplyOptions,
  type ApplyResult,
  type PatchFormat,
} from './apply/index.js';
export {
  findCovers,
  planDiffMemory,
  diffMemoryBudget,
  type Cover,
  type DiffMemoryPlan,
  type FindCoversOptions,
} from './engine/cover.js';

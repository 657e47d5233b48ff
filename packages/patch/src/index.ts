// @tufup/patch: binary diff engine, native and BSDIFF40 patch formats, streaming bounded-memory apply.
export { PatchError, type PatchErrorCode } from './errors.js';
export { findCovers, type Cover, type FindCoversOptions } from './engine/cover.js';

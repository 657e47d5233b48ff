// @tufup/archive: reproducible tar.gz archives of app bundles, streaming hashes, and safe extraction.
export { ArchiveError, type ArchiveErrorCode } from './errors.js';
export {
  createArchive,
  createTar,
  DEFAULT_GZIP_LEVEL,
  DEFAULT_MTIME,
  type CreateArchiveOptions,
  type CreateArchiveResult,
  type CreateTarOptions,
  type CreateTarResult,
} from './create.js';
export { gunzipToTar, isGzipFile, type GunzipToTarOptions } from './read.js';
export { extractArchive, type ExtractArchiveOptions, type ExtractArchiveResult } from './extract.js';

// @tufup/metadata: versions, target names, custom target metadata, keys and signed TUF role metadata.
export { MetadataError, type MetadataErrorCode } from './errors.js';
export {
  CHANNELS,
  compareVersions,
  isPrerelease,
  isValidVersion,
  normalizeVersion,
  parseChannel,
  parseVersion,
  sortVersions,
  versionInChannel,
  type Channel,
} from './versions.js';
export {
  ARCHIVE_SUFFIX,
  PATCH_SUFFIX,
  compareTargetNames,
  formatTargetName,
  isArchive,
  isPatch,
  isValidAppName,
  parseTargetName,
  targetsForApp,
  tryParseTargetName,
  type TargetKind,
  type TargetName,
} from './target-names.js';
export {
  makeArchiveCustom,
  makePatchCustom,
  readArchiveCustom,
  readPatchCustom,
  type ArchiveCustom,
  type PatchCustom,
} from './custom.js';
export { pythonJsonDumps, type PythonJsonOptions } from './python-json.js';
export {
  KEYID_HASH_ALGORITHMS,
  PrivateKey,
  PublicKey,
  computeKeyId,
  findPrivateKeyFile,
  generateEd25519Key,
  loadPrivateKeyFile,
  loadPublicKeyFile,
  writeKeyPair,
  type LoadPrivateKeyOptions,
  type PublicKeyJson,
  type Signer,
  type WriteKeyPairOptions,
} from './keys.js';

// @tufup/metadata: versions, target names, custom target metadata, keys, signed TUF role metadata, and the one
// verifier and writer of a repository's metadata.
// The @tufjs/models classes our API returns, so callers need no second copy of that package.
export { Metadata, MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp } from '@tufjs/models';
export { MetadataError, type MetadataErrorCode, type MetadataWarningCode } from './errors.js';
export {
  CHANNELS,
  compareVersions,
  isPrerelease,
  isValidVersion,
  normalizeVersion,
  parseVersion,
  sortVersions,
  versionInChannel,
  type Channel,
} from './versions.js';
export {
  MAX_PLATFORM_LENGTH,
  assertPlatform,
  buildTargetName,
  compareTargetNames,
  formatTargetName,
  isValidPlatform,
  isValidAppName,
  parseTargetName,
  targetsForApp,
  tryParseTargetName,
  type TargetName,
} from './target-names.js';
export {
  DEFAULT_CHANNEL,
  assertChannelName,
  assertRolloutPercent,
  isValidChannelName,
  makeArchiveCustom,
  makePatchCustom,
  readArchiveCustom,
  readPatchCustom,
  type ArchiveCustom,
  type ArchiveFleetFields,
  type PatchCustom,
} from './custom.js';
export {
  PrivateKey,
  PublicKey,
  computeKeyId,
  findPrivateKeyFile,
  generateEd25519Key,
  isEncryptedKeyFile,
  loadPrivateKeyFile,
  loadPublicKeyFile,
  writeKeyPair,
  type Signer,
} from './keys.js';
export {
  DEFAULT_EXPIRATION_DAYS,
  ROLE_NAMES,
  assertRoleName,
  expiresIn,
  formatExpires,
  isRoleName,
  parseExpires,
  parseMetadata,
  rebuild,
  serializeMetadata,
  type AnyRoleMetadata,
  type RoleMetadata,
  type RoleName,
  type SignedChanges,
} from './roles.js';
export { readMetadataFile, writeMetadataFile } from './files.js';
export { addSignatures, countSignatures, type SignatureCount } from './signatures.js';
export { verifyRootRotation } from './verify.js';
export type {
  Problem,
  VerifyFilesOptions,
  VerifyOptions,
  VerifyResult,
} from './verify.js';
export type * from './store-options.js';
export { MetadataStore, verifyRepository } from './store.js';
export { useLinearModels } from './models-linear.js';
export { Publication, hasCommittedJournal, recoverInterrupted } from './publication.js';
export { metadataFileNames, targetFilePath } from './layout.js';
export {
  HISTORY_AFTER_FIELD,
  HISTORY_SUFFIX,
  assertDelegatedRoleName,
  assertPathPatterns,
  canMatchPrefix,
  delegatedEntries,
  delegationCanMatchPrefix,
  delegationMatcher,
  historyAfter,
  historyRoleName,
  isHistoryRoleName,
  type DelegatedRole,
  type Delegations,
} from './delegations.js';

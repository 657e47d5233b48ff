// The coded error every @tufup/metadata failure is thrown as.
import { TufupError } from '@tufup/common';

/** Stable codes callers switch on; the message is for humans and may change. */
export type MetadataErrorCode =
  /** Not a PEP 440 version (or one with surrounding whitespace). */
  | 'INVALID_VERSION'
  /** A channel other than 'a', 'b' or 'rc'. */
  | 'INVALID_CHANNEL'
  /** Not `<name>-<version>.tar.gz|.patch`, a name outside [A-Za-z0-9_-]+, or a pair that would not parse back. */
  | 'INVALID_TARGET_NAME'
  /** Custom target metadata of the wrong shape (e.g. a patch without tar_size/tar_hash). */
  | 'INVALID_CUSTOM_METADATA'
  /** A key (or key file) that is malformed: bad JSON, wrong field types or lengths, truncated. */
  | 'INVALID_KEY'
  /** A key file whose private half, public half and keyid do not belong together. */
  | 'KEY_MISMATCH'
  /** A key type or scheme this package cannot use for the requested operation. */
  | 'UNSUPPORTED_KEY_TYPE'
  /** An encrypted key and no passphrase callback to decrypt it. */
  | 'PASSPHRASE_REQUIRED'
  /** An empty passphrase where one is needed to encrypt. */
  | 'INVALID_PASSPHRASE'
  /** The HMAC of an encrypted key did not match: wrong passphrase, or the file was modified. */
  | 'KEY_DECRYPTION_FAILED'
  /** A key name that cannot be a file name in a keystore (empty, a path, `..`, or ending in `.pub`). */
  | 'INVALID_KEY_NAME'
  /** Refusing to overwrite an existing key file. */
  | 'KEY_FILE_EXISTS'
  /** A new repository's metadata would overwrite metadata already in its dir. */
  | 'METADATA_EXISTS'
  /** A key file or metadata file that does not exist. */
  | 'FILE_NOT_FOUND'
  /** Metadata that does not parse as the role it claims to be, or cannot be serialized. */
  | 'INVALID_METADATA'
  /** A role name other than root, targets, snapshot, timestamp. */
  | 'UNKNOWN_ROLE'
  /** A keyid that is not in the role (or in root) where the operation needs it. */
  | 'UNKNOWN_KEY'
  /** Signing a role with a key that the role does not list. */
  | 'KEY_NOT_AUTHORIZED'
  /** A threshold that is not a positive integer, or larger than the role's key count where checked. */
  | 'INVALID_THRESHOLD'
  /** An expiry that is not `YYYY-MM-DDTHH:MM:SSZ` or not a valid date. */
  | 'INVALID_EXPIRES'
  /** Fewer valid signatures than the role's threshold ("n of t" in the message). */
  | 'THRESHOLD_NOT_MET'
  /** A signature that does not verify with the key it names. */
  | 'BAD_SIGNATURE'
  /** Metadata whose expiry is at or before the reference time. */
  | 'EXPIRED_METADATA'
  /** A version that breaks the chain: root N followed by something other than N+1, or a snapshot/timestamp pointing at another version. */
  | 'BAD_VERSION'
  /** A target path that is not in targets metadata. */
  | 'TARGET_NOT_FOUND'
  /** A target path that could escape the targets directory or is otherwise unusable. */
  | 'INVALID_TARGET_PATH'
  /** The root chain does not start at `1.root.json`. */
  | 'ROOT_CHAIN_BROKEN'
  /** `root.json` differs from the latest `N.root.json`. */
  | 'ROOT_MISMATCH'
  /** A file whose length differs from what the metadata listing it says. */
  | 'LENGTH_MISMATCH'
  /** A file whose hash differs from what the metadata listing it says (or an unknown hash algorithm). */
  | 'HASH_MISMATCH'
  /** A target in targets metadata whose file is not in the targets directory. */
  | 'TARGET_FILE_MISSING'
  /** A staged change's plan (journal) that cannot be read: the repository needs a look by hand. */
  | 'METADATA_CORRUPT'
  /** A delegated role name that is not a safe file name, is a top-level role name, or ends in `.history`. */
  | 'INVALID_ROLE_NAME'
  /** A delegation path pattern outside the file-name glob alphabet (or none, or too many). */
  | 'INVALID_PATH_PATTERN'
  /** Delegating a role that is already delegated. */
  | 'ROLE_EXISTS'
  /** A delegated role lists a target its delegation's path patterns do not cover (clients ignore it). */
  | 'TARGET_OUTSIDE_PATHS'
  /** An option value out of range (e.g. history-after). */
  | 'INVALID_ARGUMENT';

/** Findings of the verifier that are not wrong but worth a look (they never make verification fail). */
export type MetadataWarningCode =
  /** A signature by a key the role does not list. */
  | 'UNUSED_SIGNATURE'
  /** A target listed without a sha256 hash. */
  | 'WEAK_HASHES'
  /** A file in the targets directory that targets metadata does not list. */
  | 'UNREGISTERED_FILE'
  /** A target whose name is not `<app>-<version>.tar.gz|.patch`. */
  | 'UNKNOWN_TARGET';

export class MetadataError extends TufupError<MetadataErrorCode> {}

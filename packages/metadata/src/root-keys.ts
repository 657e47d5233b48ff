// Editing root's keys and thresholds: each edit gives the next root (the models' fields are read-only).
import type { Metadata, Root } from '@tufjs/models';
import { MetadataError } from './errors.js';
import type { PublicKey } from './keys.js';
import { type RoleKeys, type RoleName, assertRoleName, checkThreshold, rebuild } from './roles.js';

/** Which keys sign `role` and how many must; UNKNOWN_ROLE if root has no such role. */
export function roleKeys(root: Metadata<Root>, role: RoleName): RoleKeys {
  assertRoleName(role);
  const r = root.signed.roles[role];
  if (!r) throw new MetadataError({ code: 'UNKNOWN_ROLE', message: `root has no ${role} role` });
  return r;
}

/** `root` with `key` signing for `role` (the same root when it already does). */
export function withKey(root: Metadata<Root>, role: RoleName, key: PublicKey): Metadata<Root> {
  const r = roleKeys(root, role);
  const existing = root.signed.keys[key.keyid];
  if (existing && existing.keyVal.public !== key.publicHex) {
    throw new MetadataError({
      code: 'KEY_MISMATCH',
      message: `root already has a different key ${key.keyid}`,
    });
  }
  const keyIDs = r.keyIDs.includes(key.keyid) ? [...r.keyIDs] : [...r.keyIDs, key.keyid];
  return rebuild(root, {
    keys: { ...root.signed.keys, [key.keyid]: key.toTufKey() },
    roles: { ...root.signed.roles, [role]: { keyIDs, threshold: r.threshold } },
  });
}

/**
 * `root` without `keyid` signing for `role`; the key leaves root's `keys` once no role uses it (python tufup
 * #181 left it behind). UNKNOWN_KEY if the role does not list it.
 */
export function withoutKey(root: Metadata<Root>, role: RoleName, keyid: string): Metadata<Root> {
  const r = roleKeys(root, role);
  if (!r.keyIDs.includes(keyid)) {
    throw new MetadataError({ code: 'UNKNOWN_KEY', message: `${keyid} is not a ${role} key` });
  }
  const roles = {
    ...root.signed.roles,
    [role]: { keyIDs: r.keyIDs.filter((id) => id !== keyid), threshold: r.threshold },
  };
  const keys = { ...root.signed.keys };
  if (!Object.values(roles).some((x) => x.keyIDs.includes(keyid))) delete keys[keyid];
  return rebuild(root, { keys, roles });
}

/** `root` with `role`'s threshold set; INVALID_THRESHOLD unless 1 <= threshold <= the role's key count. */
export function withThreshold(root: Metadata<Root>, role: RoleName, threshold: number): Metadata<Root> {
  const r = roleKeys(root, role);
  checkThreshold(role, threshold);
  if (threshold > r.keyIDs.length) {
    throw new MetadataError({
      code: 'INVALID_THRESHOLD',
      message: `${role} threshold ${threshold} exceeds its ${r.keyIDs.length} key(s)`,
    });
  }
  return rebuild(root, { roles: { ...root.signed.roles, [role]: { keyIDs: [...r.keyIDs], threshold } } });
}

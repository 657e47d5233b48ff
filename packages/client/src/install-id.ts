// The install id: a random id kept in the metadata dir, whose hash with each release decides staged rollouts.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { type Logger, readFileOrUndefined, writeFileAtomic } from '@tufup/common';
import { asClientError } from './errors.js';

export const INSTALL_ID_FILE = 'install-id';
const INSTALL_ID = /^[0-9a-f]{32}$/;

/**
 * `<metadataDir>/install-id`: 32 random hex characters, created (mode 0600) on first need and kept, so the
 * same install stays in a rollout as its percentage grows. An unreadable id is replaced by a new one. It is
 * random, not derived from the machine or user, and never sent anywhere: only the client's own choice of
 * release depends on it.
 */
export async function loadInstallId(metadataDir: string, logger: Logger): Promise<string> {
  const path = join(metadataDir, INSTALL_ID_FILE);
  try {
    const text = await readFileOrUndefined(path, 'utf8');
    const existing = text?.trim();
    if (existing !== undefined && INSTALL_ID.test(existing)) return existing;
    if (existing !== undefined) logger.warn(`${path} does not hold an install id: writing a new one`);
    const id = randomBytes(16).toString('hex');
    await writeFileAtomic(path, `${id}\n`, { mode: 0o600 });
    // Two processes creating it at once: both go on with the one that stayed on disk.
    const kept = (await readFileOrUndefined(path, 'utf8'))?.trim();
    return kept !== undefined && INSTALL_ID.test(kept) ? kept : id;
  } catch (err) {
    throw asClientError(err, 'CACHE_IO_FAILED', `cannot read or create the install id ${path}`);
  }
}

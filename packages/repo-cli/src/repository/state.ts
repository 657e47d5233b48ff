// What every part of an open repository shares: its config and paths, the caller's context, the keys unlocked so far.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Logger, type OnProgress, isTufupError, silentLogger } from '@tufup/common';
import { MetadataStore, type PrivateKey } from '@tufup/metadata';
import type { RepoConfig } from '../config.js';
import { RepoError } from '../errors.js';
import { type PassphraseSource, passphraseSource } from '../passphrase.js';
import type { RepositoryContext } from './types.js';

export class RepoState {
  readonly logger: Logger;
  readonly passphrases: PassphraseSource;
  /** Private keys decrypted (or created) by this process, by keyid: each passphrase is asked once. */
  readonly loadedKeys = new Map<string, PrivateKey>();

  constructor(
    readonly configPath: string,
    public config: RepoConfig,
    readonly ctx: RepositoryContext,
  ) {
    this.logger = ctx.logger ?? silentLogger;
    this.passphrases = ctx.passphrases ?? passphraseSource();
  }

  get repoDir(): string {
    return this.config.repoDir;
  }
  get metadataDir(): string {
    return join(this.config.repoDir, 'metadata');
  }
  get targetsDir(): string {
    return join(this.config.repoDir, 'targets');
  }

  now(): Date {
    return this.ctx.now?.() ?? new Date();
  }

  signalOpts(): { signal?: AbortSignal } {
    return this.ctx.signal ? { signal: this.ctx.signal } : {};
  }

  progressOpts(): { onProgress?: OnProgress; signal?: AbortSignal } {
    return { ...(this.ctx.onProgress ? { onProgress: this.ctx.onProgress } : {}), ...this.signalOpts() };
  }

  /** Load the metadata; anything unreadable or inconsistent is METADATA_CORRUPT (naming the problem). */
  async loadStore(dir = this.metadataDir): Promise<MetadataStore> {
    try {
      return await MetadataStore.load(dir, { expirationDays: this.config.expirationDays });
    } catch (cause) {
      if (isTufupError(cause) && cause.name === 'MetadataError') {
        throw new RepoError({ code: 'METADATA_CORRUPT', message: `${dir}: ${cause.message}`, cause });
      }
      throw cause;
    }
  }
}

/** Whether `path` is a usable directory (following symlinks: a key dir may be one); false when it can't be looked at. */
export async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

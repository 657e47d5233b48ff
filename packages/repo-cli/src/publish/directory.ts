// The directory destination: a tree a web server (nginx, a static host, an rsync target) serves as it is. Every
// file is written to a temporary sibling, fsynced and renamed, so a reader sees whole old or whole new files.
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  hashFile,
  isAbortError,
  isTufupError,
  isNotFound,
  readFileOrUndefined,
  writeFileAtomic,
  writeStreamAtomic,
} from '@tufup/common';
import { RepoError } from '../errors.js';
import { type PutRequest, type Remote, type RemoteHead, type RemoteObject, verifiedFile } from './remote.js';

/** The temporary files `writeFileAtomic`/`writeStreamAtomic` make: `.<name>.<12 hex>.tmp`. */
const TEMP_FILE = /^\..+\.[0-9a-f]{12}\.tmp$/;

export class DirectoryRemote implements Remote {
  readonly label: string;

  constructor(readonly root: string) {
    this.label = root;
  }

  async check(): Promise<void> {
    const s = await stat(this.root).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw wrap(err, `${this.root}: cannot use the destination directory`);
    });
    if (!s?.isDirectory()) {
      throw new RepoError({
        code: 'REMOTE_NOT_FOUND',
        message: `${this.root} is not a directory (create it first: publish does not guess where a web root is)`,
      });
    }
  }

  /** Files below `under`; temporary files a killed publish left are removed on the way (nothing serves them). */
  async list(under: string): Promise<Map<string, RemoteObject>> {
    const out = new Map<string, RemoteObject>();
    const walk = async (rel: string): Promise<void> => {
      const entries = await readdir(join(this.root, rel), { withFileTypes: true }).catch((err: unknown) => {
        if (isNotFound(err)) return [];
        throw wrap(err, `cannot list ${join(this.root, rel)}`);
      });
      for (const e of entries) {
        const key = `${rel}${e.name}`;
        if (e.isDirectory()) await walk(`${key}/`);
        else if (TEMP_FILE.test(e.name)) await rm(join(this.root, key), { force: true });
        else if (e.isFile()) out.set(key, { size: (await stat(join(this.root, key))).size });
      }
    };
    await walk(under);
    return out;
  }

  async head(key: string): Promise<RemoteHead | undefined> {
    try {
      const { size, sha256 } = await hashFile(this.#path(key));
      return { size, sha256 };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw wrap(err, `cannot read ${this.#path(key)}`);
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      return await readFileOrUndefined(this.#path(key));
    } catch (err) {
      throw wrap(err, `cannot read ${this.#path(key)}`);
    }
  }

  async put(req: PutRequest): Promise<void> {
    const path = this.#path(req.key);
    try {
      if (Buffer.isBuffer(req.body)) await writeFileAtomic(path, req.body);
      else {
        await writeStreamAtomic(
          path,
          verifiedFile(req.body.path, req, req.onBytes),
          req.signal ? { signal: req.signal } : {},
        );
      }
    } catch (err) {
      throw wrap(err, `cannot write ${path}`);
    }
    req.onBytes?.(req.size);
  }

  async delete(key: string): Promise<void> {
    await rm(this.#path(key), { force: true }).catch((err: unknown) => {
      throw wrap(err, `cannot delete ${this.#path(key)}`);
    });
  }

  close(): void {}

  #path(key: string): string {
    return join(this.root, ...key.split('/'));
  }
}

function wrap(err: unknown, message: string): Error {
  // A destination file that got shorter while it was hashed (FILE_CHANGED) is the destination's failure.
  if ((isTufupError(err) && err.code !== 'FILE_CHANGED') || isAbortError(err)) return err as Error;
  const code = (err as { code?: string }).code;
  return new RepoError({
    code: code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'REMOTE_ACCESS_DENIED' : 'REMOTE_ERROR',
    message: `${message}: ${(err as Error).message}`,
    cause: err,
  });
}

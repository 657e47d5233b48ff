// Writes batches of small extracted files on a worker thread with synchronous calls: one round trip per batch.
//
// Through libuv's pool each small file costs five round trips (open, write, chmod, utimes, close), and on a
// machine with few cores the hand-offs between threads cost about as much as the file system work. Here
// the extractor copies each file's content into a 1 MiB slab, and the worker creates the whole slab's files
// in one go. Slabs are transferred, not copied, and come back with the batch's result to be filled again.
// Files are created exactly as MemberWriter.createFile does: O_CREAT | O_EXCL | O_NOFOLLOW with mode 0600,
// content, then mode and mtime through the descriptor.
import { Worker } from 'node:worker_threads';

/** A file to create below the extraction root; `abs` is already checked, its parent exists. */
export interface SmallFile {
  abs: string;
  /** The member name, for messages. */
  name: string;
  mode: number;
  mtime: Date;
  size: number;
}

/** Why the worker could not create or fill a file: its errno code and message. */
export interface SmallFileFailure {
  step: 'create' | 'write';
  error: NodeJS.ErrnoException;
}

interface BatchFile {
  path: string;
  offset: number;
  size: number;
  mode: number;
  mtimeSeconds: number;
}

interface BatchRequest {
  id: number;
  slab: ArrayBuffer;
  files: BatchFile[];
}

interface BatchResult {
  id: number;
  slab: ArrayBuffer;
  failure?: { index: number; step: 'create' | 'write'; code?: string; message: string };
}

const SLAB_BYTES = 1024 * 1024;
/** Slabs in all (one being filled, the others with the worker): bounds memory to 4 MiB. */
const MAX_SLABS = 4;
const MAX_FILES_PER_BATCH = 512;

// Plain JavaScript, so the worker runs the same from the TypeScript sources (tests) and from dist.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const CREATE = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | (fs.constants.O_NOFOLLOW || 0);
parentPort.on('message', ({ id, slab, files }) => {
  let failure;
  for (let i = 0; i < files.length && !failure; i++) {
    const f = files[i];
    let fd;
    try {
      fd = fs.openSync(f.path, CREATE, 0o600);
    } catch (e) {
      failure = { index: i, step: 'create', code: e.code, message: e.message };
      break;
    }
    try {
      const data = new Uint8Array(slab, f.offset, f.size);
      for (let done = 0; done < data.length; ) done += fs.writeSync(fd, data, done, data.length - done);
      fs.fchmodSync(fd, f.mode);
      fs.futimesSync(fd, f.mtimeSeconds, f.mtimeSeconds);
    } catch (e) {
      failure = { index: i, step: 'write', code: e.code, message: e.message };
    }
    try {
      fs.closeSync(fd);
    } catch (e) {
      failure = failure || { index: i, step: 'write', code: e.code, message: e.message };
    }
  }
  parentPort.postMessage({ id, slab, failure }, [slab]);
});
`;

/**
 * Queues small files into slabs and has a worker thread create them. The first failure (mapped to the
 * caller's error by `describe`) is rethrown by the next add() and by drain(); files after it in its batch
 * are not created, and no further batch is sent.
 */
export class SmallFileWorker {
  readonly #describe: (file: SmallFile, failure: SmallFileFailure) => Promise<unknown>;
  #worker: Worker | undefined;
  readonly #freeSlabs: ArrayBuffer[] = [];
  #slabsMade = 0;
  #filling: { slab: ArrayBuffer; used: number; files: SmallFile[]; batch: BatchFile[] } | undefined;
  readonly #inFlight = new Map<number, SmallFile[]>();
  #nextId = 0;
  #failure: Promise<unknown> | undefined;
  /** Resolved (and replaced) whenever a batch comes back or the worker fails. */
  #changed = new Signal();

  constructor(describe: (file: SmallFile, failure: SmallFileFailure) => Promise<unknown>) {
    this.#describe = describe;
  }

  /** Queue `file`; `fill` copies exactly `file.size` content bytes into the view it is given. */
  async add(file: SmallFile, fill: (into: Uint8Array) => Promise<void>): Promise<void> {
    await this.#throwIfFailed();
    if (
      this.#filling &&
      (this.#filling.used + file.size > SLAB_BYTES || this.#filling.files.length >= MAX_FILES_PER_BATCH)
    ) {
      this.#send();
    }
    if (!this.#filling) {
      this.#filling = { slab: await this.#takeSlab(), used: 0, files: [], batch: [] };
    }
    const filling = this.#filling;
    await fill(new Uint8Array(filling.slab, filling.used, file.size));
    filling.files.push(file);
    filling.batch.push({
      path: file.abs,
      offset: filling.used,
      size: file.size,
      mode: file.mode,
      mtimeSeconds: file.mtime.getTime() / 1000,
    });
    filling.used += file.size;
  }

  /** Send what is queued and wait for every batch; rethrow the first failure. */
  async drain(): Promise<void> {
    await this.#throwIfFailed();
    if (this.#filling && this.#filling.files.length > 0) this.#send();
    while (this.#inFlight.size > 0) await this.#changed.promise;
    await this.#throwIfFailed();
  }

  /** After an error elsewhere: drop what is not sent yet and wait for the batches the worker has. */
  async settle(): Promise<void> {
    this.#filling = undefined;
    while (this.#inFlight.size > 0) await this.#changed.promise;
  }

  /**
   * Start the thread now; false when this runtime cannot start one (then nothing was queued and the
   * caller writes its files itself).
   */
  start(): boolean {
    try {
      this.#startedWorker();
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    await worker?.terminate();
  }

  async #throwIfFailed(): Promise<void> {
    if (this.#failure) throw await this.#failure;
  }

  async #takeSlab(): Promise<ArrayBuffer> {
    for (;;) {
      const free = this.#freeSlabs.pop();
      if (free) return free;
      if (this.#slabsMade < MAX_SLABS) {
        this.#slabsMade++;
        return new ArrayBuffer(SLAB_BYTES);
      }
      await this.#changed.promise;
      await this.#throwIfFailed();
    }
  }

  #send(): void {
    const filling = this.#filling;
    this.#filling = undefined;
    if (!filling) return;
    const id = this.#nextId++;
    this.#inFlight.set(id, filling.files);
    const request: BatchRequest = { id, slab: filling.slab, files: filling.batch };
    this.#startedWorker().postMessage(request, [filling.slab]);
  }

  #startedWorker(): Worker {
    if (this.#worker) return this.#worker;
    // No execArgv: the parent's loaders (e.g. tsx) are not needed by plain JavaScript and slow the start.
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    worker.on('message', (result: BatchResult) => this.#onResult(result));
    const died = (error: unknown) => {
      this.#failure ??= Promise.resolve(error);
      // Nothing will come back for the batches it had.
      this.#inFlight.clear();
      this.#signal();
    };
    worker.on('error', died);
    worker.on('exit', () => {
      // close() forgets the worker before ending it; any other exit is a crash.
      if (this.#worker === worker) died(new Error('the small-file writer thread ended unexpectedly'));
    });
    this.#worker = worker;
    return worker;
  }

  #onResult(result: BatchResult): void {
    const files = this.#inFlight.get(result.id);
    this.#inFlight.delete(result.id);
    this.#freeSlabs.push(result.slab);
    const failure = result.failure;
    if (files && failure) {
      const file = files[failure.index];
      const error = Object.assign(new Error(failure.message), {
        ...(failure.code !== undefined ? { code: failure.code } : {}),
      }) as NodeJS.ErrnoException;
      if (file) this.#failure ??= this.#describe(file, { step: failure.step, error });
      else this.#failure ??= Promise.resolve(error);
    }
    this.#signal();
  }

  #signal(): void {
    const changed = this.#changed;
    this.#changed = new Signal();
    changed.resolve();
  }
}

/** A promise with its resolve function (Promise.withResolvers is not in Node 20). */
class Signal {
  readonly promise: Promise<void>;
  resolve!: () => void;

  constructor() {
    this.promise = new Promise<void>((resolve) => {
      this.resolve = resolve;
    });
  }
}

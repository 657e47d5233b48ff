// A small bound on concurrent async work: many small files are written (or read) a few at a time, not one by one.

/** Runs tasks with at most `limit` in flight. The first failure is rethrown by the next add() and by drain(). */
export class TaskPool {
  readonly #running = new Set<Promise<void>>();
  #failure: { error: unknown } | undefined;

  constructor(private readonly limit: number) {}

  /** Start `task` once fewer than `limit` tasks run; resolves when it has started, not when it ends. */
  async add(task: () => Promise<void>): Promise<void> {
    this.#throwIfFailed();
    while (this.#running.size >= this.limit) {
      await Promise.race(this.#running);
      this.#throwIfFailed();
    }
    const running: Promise<void> = task()
      .catch((error: unknown) => {
        this.#failure ??= { error };
      })
      .finally(() => this.#running.delete(running));
    this.#running.add(running);
  }

  /** Wait for every task; rethrow the first failure. */
  async drain(): Promise<void> {
    await this.settle();
    this.#throwIfFailed();
  }

  /** Wait for every task, failed or not (before cleaning up after an error). */
  async settle(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running);
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure.error;
  }
}

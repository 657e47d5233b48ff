// The one error shape used by every @tufup package: a stable machine-readable `code`, a human message, a cause.

export interface TufupErrorOptions<Code extends string> {
  code: Code;
  message: string;
  cause?: unknown;
}

/**
 * Base class of every error the @tufup packages throw on purpose. Callers switch on `code` (stable across
 * releases); `message` is for humans; `cause` keeps the lower-level error. Each package declares its own
 * subclass with a union of its codes, e.g. `class PatchError extends TufupError<PatchErrorCode> {}`.
 */
export class TufupError<Code extends string = string> extends Error {
  readonly code: Code;
  override readonly cause: unknown;

  constructor({ code, message, cause }: TufupErrorOptions<Code>) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
    this.code = code;
    this.cause = cause;
  }
}

/** True for a TufupError, also one from another copy of this package (so it is checked by shape). */
export function isTufupError(err: unknown): err is TufupError {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'string';
}

/** The message of `err` followed by the messages of its `cause` chain, one per line (for --verbose output). */
export function describeErrorChain(err: unknown, withStack = false): string {
  const lines: string[] = [];
  let cur: unknown = err;
  const seen = new Set<unknown>();
  while (cur !== undefined && cur !== null && !seen.has(cur)) {
    seen.add(cur);
    if (cur instanceof Error) {
      const rawCode = (cur as Error & { code?: unknown }).code;
      const code = typeof rawCode === 'string' ? ` [${rawCode}]` : '';
      lines.push(`${lines.length ? 'caused by: ' : ''}${cur.name}${code}: ${cur.message}`);
      if (withStack && cur.stack) lines.push(cur.stack.split('\n').slice(1).join('\n'));
      cur = cur.cause;
    } else {
      lines.push(`${lines.length ? 'caused by: ' : ''}${String(cur)}`);
      break;
    }
  }
  return lines.join('\n');
}

/** Throws the signal's reason (an AbortError) when it has been aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw signal.reason instanceof Error
      ? signal.reason
      : new DOMException('The operation was aborted', 'AbortError');
  }
}

/** The `code` of a Node system error (`'ENOENT'`, `'EBUSY'`...), or undefined for anything else. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

// The one error shape used by every @tufup package: a stable machine-readable `code`, a human message, a cause.

export interface TufupErrorOptions<Code extends string> {
  code: Code;
  message: string;
  cause?: unknown;
}

// A registered symbol, so two copies of this package (a nested install) still recognise each other's errors.
const TUFUP_ERROR: unique symbol = Symbol.for('@tufup/common.TufupError');

/**
 * Base class of every error the @tufup packages throw on purpose. Callers switch on `code` (stable across
 * releases); `message` is for humans; `cause` keeps the lower-level error. Each package declares its own
 * subclass with a union of its codes, e.g. `class PatchError extends TufupError<PatchErrorCode> {}`.
 */
export class TufupError<Code extends string = string> extends Error {
  /** Marks our errors so `isTufupError` can recognise one from another copy of this package. */
  declare readonly [TUFUP_ERROR]: true;
  readonly code: Code;
  override readonly cause: unknown;

  constructor({ code, message, cause }: TufupErrorOptions<Code>) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
    this.code = code;
    this.cause = cause;
  }
}

Object.defineProperty(TufupError.prototype, TUFUP_ERROR, { value: true });

/** Codes of the errors @tufup/common's own helpers throw. */
export type CommonErrorCode =
  /** A file got shorter while it was being read (hashFile, hashOpenFile): someone changed it meanwhile. */
  'FILE_CHANGED';

/** An error of @tufup/common's own helpers; every other package wraps or maps it like its own. */
export class CommonError extends TufupError<CommonErrorCode> {}

/**
 * True for an error a @tufup package threw on purpose, also one from another copy of this package. Node's
 * system errors (which carry a string `code` too) and other libraries' errors are not ours.
 */
export function isTufupError(err: unknown): err is TufupError {
  return err instanceof Error && (err as { [TUFUP_ERROR]?: unknown })[TUFUP_ERROR] === true;
}

/** True for an AbortSignal's reason (AbortError, or TimeoutError from AbortSignal.timeout): callers expect it unwrapped. */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
}

/** `err` followed by its `cause`s, outermost first (cycles cut). */
export function causeChain(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let cur = err; cur !== undefined && cur !== null && !chain.includes(cur); ) {
    chain.push(cur);
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return chain;
}

/**
 * The one way to turn a foreign error (a Node system error, a dependency's error) into one of ours: our own
 * errors and aborts pass through unchanged; anything else becomes `new ErrorClass({ code, message: "<message>:
 * <its message>", cause })`. `pickCode` may choose another code from the foreign error (e.g. a full disk).
 */
export function wrapError<Code extends string>(
  err: unknown,
  ErrorClass: new (opts: TufupErrorOptions<Code>) => TufupError<Code>,
  code: Code,
  message: string,
  pickCode?: (err: unknown) => Code | undefined,
): Error {
  if (isTufupError(err) || isAbortError(err)) return err as Error;
  const detail = err instanceof Error ? err.message : String(err);
  return new ErrorClass({ code: pickCode?.(err) ?? code, message: `${message}: ${detail}`, cause: err });
}

/** True when the disk (or the user's quota) is full anywhere in `err`'s cause chain. */
export function isNoSpace(err: unknown): boolean {
  return causeChain(err).some((e) => {
    const code = errnoCode(e);
    return code === 'ENOSPC' || code === 'EDQUOT';
  });
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

// One `tufup` invocation's output: text or one JSON document on stdout, notes and warnings on stderr, progress.
import { resolve } from 'node:path';
import { describeErrorChain, type Logger } from '@tufup/common';
import { CONFIG_FILENAME } from './config.js';
import { RepoError, errorCodeOf, exitCodeFor } from './errors.js';
import { passphraseSource } from './passphrase.js';
import type { PublishResult, RepositoryContext } from './repository/types.js';
import type { CommandError } from './reports.js';
import {
  DEFAULT_PROGRESS_INTERVAL_MS,
  makeStyle,
  progressDisplay,
  useColor,
  type Style,
} from './terminal.js';

export interface CliIo {
  stdin?: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Aborted on SIGINT/SIGTERM: long operations stop, clean up their staging and exit 130. */
  signal?: AbortSignal;
}

export interface Globals {
  config?: string;
  verbose?: boolean;
  json?: boolean;
  [option: string]: unknown;
}

/** A repository context whose progress display is ended by `finish` (`completed`: the command succeeded). */
export type CliContext = RepositoryContext & { finish(completed?: boolean): void };

/** Per-run state the command handlers share. */
export class Session {
  readonly style: Style;
  readonly errStyle: Style;
  verbose = false;
  /** `--json`: stdout carries exactly one JSON document, on success and on failure. */
  json: boolean;
  /** The command being run, e.g. `targets add` (set by its builder, so usage errors know it too). */
  command: string | undefined;
  /** Its positional arguments as the usage shows them, e.g. `<app_version> <bundle_dir> <key_dirs..>`. */
  positionals: string[] = [];
  /** Warnings logged during the run: also part of the JSON document. */
  readonly warnings: string[] = [];
  #printedJson = false;

  constructor(
    readonly io: CliIo,
    args: string[],
  ) {
    this.style = makeStyle(useColor(io.stdout, io.env));
    this.errStyle = makeStyle(useColor(io.stderr, io.env));
    // Known before parsing, so a usage error is reported as JSON too.
    this.json = args.some((a) => a === '--json' || a === '--json=true');
  }

  /** Declares the running command (from its builder). */
  enter(command: string, usage = ''): void {
    this.command = command;
    this.positionals = usage.split(' ').filter((p) => p.startsWith('<') || p.startsWith('['));
  }

  out(line = ''): void {
    if (!this.json) this.io.stdout.write(`${line}\n`);
  }

  note(line: string): void {
    this.io.stderr.write(`${line}\n`);
  }

  /** The command's JSON document (only under --json): `ok`, `command` and `warnings` are added. */
  emit(doc: object): void {
    if (!this.json) return;
    this.io.stdout.write(
      `${JSON.stringify({ ok: true, command: this.command, ...doc, warnings: this.warnings }, null, 2)}\n`,
    );
    this.#printedJson = true;
  }

  /** A report that is itself the JSON document (`status`, `verify`, `targets list`: their shapes predate --json everywhere). */
  emitReport(report: unknown): void {
    if (!this.json) return;
    this.io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    this.#printedJson = true;
  }

  /** Reports a failure: the one-line error on stderr and, under --json, an error document on stdout. */
  fail(err: unknown): number {
    const code = errorCodeOf(err);
    const exit = exitCodeFor(err);
    const message = err instanceof Error ? err.message : String(err);
    const s = this.errStyle;
    this.io.stderr.write(`${s.red('error')} [${code}]: ${message.split('\n')[0]}\n`);
    if (this.verbose || code === 'INTERNAL') {
      if (this.verbose) this.io.stderr.write(`${describeErrorChain(err, true)}\n`);
      else this.io.stderr.write('(run with --verbose for details)\n');
    }
    // `verify --json` has printed its report (with ok: false) already: stdout stays one document.
    if (this.json && !this.#printedJson) {
      const doc: CommandError = {
        ok: false,
        ...(this.command ? { command: this.command } : {}),
        error: { code, message, exit },
        warnings: this.warnings,
      };
      this.io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    }
    return exit;
  }

  get logger(): Logger {
    const s = this.errStyle;
    const write = (line: string) => this.io.stderr.write(`${line}\n`);
    return {
      debug: (m) => {
        if (this.verbose) write(s.dim(`debug: ${m}`));
      },
      info: (m) => write(m),
      warn: (m) => {
        this.warnings.push(m);
        write(`${s.yellow('warning')}: ${m}`);
      },
      error: (m) => write(`${s.red('error')}: ${m}`),
    };
  }

  configPath(argv: Globals): string {
    return resolve(this.io.cwd, argv.config ?? CONFIG_FILENAME);
  }

  /** `TUFUP_PROGRESS_INTERVAL_MS`: how often progress lines come without a TTY (tests make it short). */
  #progressInterval(): number {
    const raw = this.io.env.TUFUP_PROGRESS_INTERVAL_MS;
    if (raw === undefined) return DEFAULT_PROGRESS_INTERVAL_MS;
    if (!/^\d+$/.test(raw) || Number(raw) < 1) {
      throw new RepoError({
        code: 'INVALID_ARGUMENT',
        message: `TUFUP_PROGRESS_INTERVAL_MS must be a positive number of milliseconds, got "${raw}"`,
      });
    }
    return Number(raw);
  }

  context(withProgress: boolean): CliContext {
    const display = withProgress
      ? progressDisplay(this.io.stderr, {
          label: (p) => (p === 'tar' || p === 'gzip' ? 'archive' : p),
          intervalMs: this.#progressInterval(),
        })
      : undefined;
    return {
      logger: this.logger,
      passphrases: passphraseSource({
        env: this.io.env,
        ...(this.io.signal ? { signal: this.io.signal } : {}),
      }),
      ...(display ? { onProgress: display.onProgress } : {}),
      ...(this.io.signal ? { signal: this.io.signal } : {}),
      cwd: this.io.cwd,
      finish: (completed = false) => display?.done(completed),
    };
  }

  async openRepo(argv: Globals, withProgress = false) {
    const ctx = this.context(withProgress);
    // Loaded on demand: --help, --version and usage errors don't pay for the metadata stack.
    const { Repository } = await import('./repository.js');
    const repo = await Repository.open(this.configPath(argv), ctx);
    return { repo, ctx };
  }

  /** Roles published, or the co-signing a parked change waits for (stderr; the JSON document has both). */
  reportPublish(result: PublishResult): void {
    for (const r of result.published) this.note(`${r.role}.json: version ${r.version}`);
    if (result.parked) {
      for (const u of result.parked.unsignedRoles) {
        this.note(
          `${this.errStyle.yellow('pending')}: ${u.role} has ${u.have} of ${u.need} signatures; the other key holders run: tufup sign ${u.role} <key_dirs...>`,
        );
      }
    }
  }
}

/** The published roles and the parked state of a result, as the JSON documents carry them. */
export function publishFields(result: PublishResult): Pick<PublishResult, 'published' | 'parked'> {
  return { published: result.published, ...(result.parked ? { parked: result.parked } : {}) };
}

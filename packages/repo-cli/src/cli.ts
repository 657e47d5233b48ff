// The `tufup` command line: yargs command tree, option parsing, output, and the error-to-exit-code boundary.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import yargs, { type Argv } from 'yargs';
import { describeErrorChain, type Logger } from '@tufup/common';
import { assertRoleName, type RoleName } from '@tufup/metadata';
import type { PatchFormat } from '@tufup/patch';
import { CONFIG_FILENAME, PATCH_FORMATS, type PerRole } from './config.js';
import { EXIT, RepoError, errorCodeOf, exitCodeFor } from './errors.js';
import { passphraseSource } from './passphrase.js';
import { makeStyle, progressDisplay, useColor, type Style } from './terminal.js';
import type { InitOptions, PublishResult, RepositoryContext } from './repository/types.js';
import { formatList, formatStatus, formatVerify } from './report-format.js';
import { runInteractiveInit } from './init-prompts.js';

export interface CliIo {
  stdin?: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Aborted on SIGINT/SIGTERM: long operations stop, clean up their staging and exit 130. */
  signal?: AbortSignal;
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

interface Globals {
  config?: string;
  verbose?: boolean;
  [option: string]: unknown;
}

/** Per-run state the command handlers share. */
class Session {
  readonly style: Style;
  readonly errStyle: Style;
  verbose = false;
  constructor(readonly io: CliIo) {
    this.style = makeStyle(useColor(io.stdout, io.env));
    this.errStyle = makeStyle(useColor(io.stderr, io.env));
  }

  out(line = ''): void {
    this.io.stdout.write(`${line}\n`);
  }

  note(line: string): void {
    this.io.stderr.write(`${line}\n`);
  }

  get logger(): Logger {
    const s = this.errStyle;
    const write = (line: string) => this.io.stderr.write(`${line}\n`);
    return {
      debug: (m) => {
        if (this.verbose) write(s.dim(`debug: ${m}`));
      },
      info: (m) => write(m),
      warn: (m) => write(`${s.yellow('warning')}: ${m}`),
      error: (m) => write(`${s.red('error')}: ${m}`),
    };
  }

  configPath(argv: Globals): string {
    return resolve(this.io.cwd, argv.config ?? CONFIG_FILENAME);
  }

  context(withProgress: boolean): RepositoryContext & { finish(): void } {
    const display = withProgress
      ? progressDisplay(this.io.stderr, { label: (p) => (p === 'tar' || p === 'gzip' ? 'archive' : p) })
      : undefined;
    return {
      logger: this.logger,
      passphrases: passphraseSource({ env: this.io.env, signal: this.io.signal }),
      ...(display ? { onProgress: display.onProgress } : {}),
      ...(this.io.signal ? { signal: this.io.signal } : {}),
      cwd: this.io.cwd,
      finish: () => display?.done(),
    };
  }

  async openRepo(argv: Globals, withProgress = false) {
    const ctx = this.context(withProgress);
    // Loaded on demand: --help, --version and usage errors don't pay for the metadata stack.
    const { Repository } = await import('./repository.js');
    const repo = await Repository.open(this.configPath(argv), ctx);
    return { repo, ctx };
  }

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

/** `ROLE=VALUE` pairs of a repeatable option into a per-role map (unknown role: UNKNOWN_ROLE). */
function rolePairs(values: unknown, option: string): Array<[RoleName, string]> {
  const list = values === undefined ? [] : Array.isArray(values) ? values : [values];
  return list.map((v) => {
    const text = String(v);
    const eq = text.indexOf('=');
    if (eq <= 0 || eq === text.length - 1) {
      throw new RepoError({ code: 'USAGE', message: `--${option} takes ROLE=VALUE, got "${text}"` });
    }
    return [assertRoleName(text.slice(0, eq)), text.slice(eq + 1)];
  });
}

function positiveInt(value: string, what: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new RepoError({
      code: 'INVALID_ARGUMENT',
      message: `${what} must be a positive integer, got "${value}"`,
    });
  }
  return Number(value);
}

function strings(v: unknown): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

/** `-m/--meta`: python tufup accepts only a JSON object here. */
function parseMeta(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new RepoError({ code: 'INVALID_META_JSON', message: `--meta is not valid JSON: ${text}`, cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RepoError({
      code: 'INVALID_META_JSON',
      message: '--meta must be a JSON object, e.g. \'{"changes": ["..."]}\'',
    });
  }
  return value as Record<string, unknown>;
}

/**
 * python tufup's `sign -e` takes an optional number. To keep `tufup sign timestamp -e keystore` meaning "default
 * days, key dir keystore" (and not "-e keystore"), the token after -e is its value only when it is a number.
 */
export function normalizeSignArgs(args: string[]): string[] {
  const out: string[] = [];
  const signAt = args.indexOf('sign');
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (signAt >= 0 && i > signAt && (a === '-e' || a === '--expiration-days')) {
      const next = args[i + 1];
      if (next !== undefined && /^\d+$/.test(next)) {
        out.push(`--expiration-days=${next}`);
        i++;
      } else {
        out.push('--expiration-days=default');
      }
      continue;
    }
    out.push(a);
  }
  return out;
}

const EPILOG =
  'Exit codes: 0 ok, 1 internal error, 2 usage, 3 repository/config, 4 keys/signing, 5 release input, ' +
  '6 verification failed, 7 repository locked, 130 interrupted.\n' +
  'Passphrases of encrypted keys: TUFUP_PASSPHRASE_<KEYNAME> or TUFUP_PASSPHRASE, else a prompt on a terminal.';

function buildParser(session: Session, args: string[]): Argv {
  const { io } = session;
  const keyDirsPositional = (y: Argv) =>
    y.positional('key_dirs', {
      describe: 'directories searched (recursively) for the private keys to sign with',
      type: 'string',
      array: true,
      demandOption: true,
    });
  const partialOption = {
    describe:
      'when the keys given fall short of a threshold, stage the change for co-signing instead of failing',
    type: 'boolean',
    default: false,
  } as const;

  return yargs(args)
    .scriptName('tufup')
    .usage('$0 <command> [options]\n\nCreate and sign a tufup (TUF) update repository for your app.')
    .version(packageVersion())
    .alias('version', 'v')
    .help('help')
    .alias('help', 'h')
    .option('config', {
      describe: `repository config file (default: ./${CONFIG_FILENAME})`,
      type: 'string',
      global: true,
    })
    .option('verbose', {
      describe: 'print debug output, and stack traces and causes on errors',
      type: 'boolean',
      alias: ['d', 'debug'],
      global: true,
    })
    .middleware((argv) => {
      session.verbose = Boolean(argv.verbose);
    })
    .command(
      'init',
      'create a repository: config, keys and the first signed metadata',
      (y) =>
        y
          .option('non-interactive', {
            describe: 'take everything from options (for CI)',
            type: 'boolean',
            default: false,
          })
          .option('app-name', { describe: 'the app name in target file names', type: 'string' })
          .option('repo-dir', { describe: 'repository directory', type: 'string', default: 'repository' })
          .option('keys-dir', {
            describe: 'directory for new key pairs',
            type: 'string',
            default: 'keystore',
          })
          .option('key', {
            describe: 'ROLE=KEYNAME: a key of a role (repeat for several)',
            type: 'string',
            array: true,
          })
          .option('threshold', { describe: 'ROLE=N signatures needed', type: 'string', array: true })
          .option('expiration-days', {
            describe: 'ROLE=N days until a signature expires',
            type: 'string',
            array: true,
          })
          .option('encrypted', {
            describe: 'KEYNAME to encrypt with a passphrase (repeat)',
            type: 'string',
            array: true,
          })
          .option('patch-format', {
            describe:
              'patch format: native (smaller, faster; tufup-ts clients) or bsdiff4 (python tufup clients too)',
            choices: PATCH_FORMATS as PatchFormat[],
            default: 'native' as PatchFormat,
          })
          .example('$0 init', 'ask for everything, like python tufup')
          .example(
            '$0 init --non-interactive --app-name my_app --threshold root=2 --key root=root --key root=root2 --encrypted root',
            'two root keys, both needed; root encrypted (passphrase from TUFUP_PASSPHRASE_ROOT)',
          ),
      async (argv) => {
        const interactive = !argv['non-interactive'];
        if (interactive) {
          if (!io.stdin?.isTTY) {
            throw new RepoError({
              code: 'USAGE',
              message:
                'tufup init asks questions and needs a terminal; in scripts use --non-interactive --app-name NAME',
            });
          }
          const answers = await runInteractiveInit(session.configPath(argv), io);
          if (!answers) return;
          const { result } = await initWith(session, argv, answers);
          session.out(`initialized ${result.repo.config.repoDir}`);
          return;
        }
        if (!argv['app-name']) {
          throw new RepoError({ code: 'USAGE', message: 'init --non-interactive needs --app-name NAME' });
        }
        const keyMap: Partial<PerRole<string[]>> = {};
        for (const [role, key] of rolePairs(argv.key, 'key')) keyMap[role] = [...(keyMap[role] ?? []), key];
        const thresholds: Partial<PerRole<number>> = {};
        for (const [role, n] of rolePairs(argv.threshold, 'threshold'))
          thresholds[role] = positiveInt(n, `threshold of ${role}`);
        const expirationDays: Partial<PerRole<number>> = {};
        for (const [role, n] of rolePairs(argv['expiration-days'], 'expiration-days')) {
          expirationDays[role] = positiveInt(n, `expiration days of ${role}`);
        }
        const { result } = await initWith(session, argv, {
          appName: argv['app-name'],
          repoDir: argv['repo-dir'],
          keysDir: argv['keys-dir'],
          keyMap,
          thresholds,
          expirationDays,
          encryptedKeys: strings(argv.encrypted),
          patchFormat: argv['patch-format'] as PatchFormat,
        });
        session.out(`initialized ${result.repo.config.repoDir}`);
      },
    )
    .command(
      'keys <new_key_name> [action..]',
      'create a key pair, add a key to a role, or replace a key',
      (y) =>
        y
          .usage(
            '$0 keys <new_key_name> [-c] [-e] [add <role> <key_dirs...> | replace <old_key_name> <key_dirs...>]',
          )
          .positional('new_key_name', {
            describe: 'name of the (new) key: files <keys_dir>/<name> and <name>.pub',
            type: 'string',
          })
          .positional('action', {
            describe: 'add <role> <key_dirs...> | replace <old_key_name> <key_dirs...>',
            type: 'string',
            array: true,
          })
          .option('create', {
            alias: 'c',
            describe: "create the key pair in the config's keys_dir",
            type: 'boolean',
            default: false,
          })
          .option('encrypted', {
            alias: 'e',
            describe: 'encrypt the new private key with a passphrase',
            type: 'boolean',
            default: false,
          })
          .option('partial', partialOption)
          .example(
            '$0 keys targets2 -c add targets keystore',
            'create key targets2 and let it sign targets too',
          )
          .example(
            '$0 keys root_new -c -e replace root_old keystore',
            'rotate a root key (signed by old and new keys)',
          ),
      async (argv) => {
        const name = String(argv.new_key_name);
        const action = strings(argv.action);
        const { repo, ctx } = await session.openRepo(argv);
        try {
          if (action.length === 0) {
            if (!argv.create) {
              throw new RepoError({
                code: 'USAGE',
                message:
                  'nothing to do: pass -c to create the key, and/or "add <role> <key_dirs...>" or "replace <old_key_name> <key_dirs...>"',
              });
            }
          } else if (action[0] !== 'add' && action[0] !== 'replace') {
            throw new RepoError({
              code: 'USAGE',
              message: `unknown keys action "${action[0]}" (add or replace)`,
            });
          } else if (action.length < 3) {
            throw new RepoError({
              code: 'USAGE',
              message:
                action[0] === 'add'
                  ? 'usage: keys <name> add <role> <key_dirs...>'
                  : 'usage: keys <name> replace <old_key_name> <key_dirs...>',
            });
          }
          const role = action[0] === 'add' ? assertRoleName(action[1] as string) : undefined;
          let created = false;
          if (argv.create) {
            const made = await repo.createKeyPair(name, { encrypted: Boolean(argv.encrypted) });
            created = true;
            session.note(`created key ${name} (${made.keyid.slice(0, 12)}…): ${made.publicPath}`);
          }
          try {
            if (action[0] === 'add' && role) {
              const result = await repo.addKey({
                role,
                keyName: name,
                keyDirs: action.slice(2),
                encrypted: Boolean(argv.encrypted),
                partial: Boolean(argv.partial),
              });
              session.reportPublish(result);
              session.out(`key ${name} added to ${role}`);
            } else if (action[0] === 'replace') {
              const result = await repo.replaceKey({
                oldKeyName: action[1] as string,
                newKeyName: name,
                keyDirs: action.slice(2),
                encrypted: Boolean(argv.encrypted),
                partial: Boolean(argv.partial),
              });
              session.reportPublish(result);
              session.out(`key ${action[1]} replaced by ${name} in ${result.roles.join(', ')}`);
            }
          } catch (err) {
            // All or nothing: a key made for a step that failed would only confuse the next attempt.
            if (created) await repo.deleteKeyPair(name);
            throw err;
          }
        } finally {
          ctx.finish();
        }
      },
    )
    .command('targets', 'add, remove, list and prune releases', (y) =>
      y
        .command(
          'add <app_version> <bundle_dir> <key_dirs..>',
          'archive a bundle dir as a new release, with a patch from the previous one, and publish it',
          (y2) =>
            keyDirsPositional(
              y2
                .positional('app_version', {
                  describe: 'PEP 440 version, greater than the latest',
                  type: 'string',
                })
                .positional('bundle_dir', { describe: 'the app directory to release', type: 'string' }),
            )
              .option('skip-patch', {
                alias: 's',
                describe: 'no patch from the previous version',
                type: 'boolean',
                default: false,
              })
              .option('required', {
                alias: 'r',
                describe: 'clients must install this release before any later one',
                type: 'boolean',
                default: false,
              })
              .option('meta', {
                alias: 'm',
                describe: 'custom metadata for the release, a JSON object',
                type: 'string',
              })
              .option('app-name', {
                describe: "release another app of this repository (default: the config's app_name)",
                type: 'string',
              })
              .option('partial', partialOption)
              .example('$0 targets add 1.0 dist/my_app keystore', 'the first release')
              .example(
                `$0 targets add -r -m '{"changes": ["fix a"]}' 2.0 dist/my_app keystore`,
                'a required release with release notes',
              ),
          async (argv) => {
            const meta = parseMeta(argv.meta);
            const { repo, ctx } = await session.openRepo(argv, true);
            try {
              const result = await repo.addBundle({
                version: String(argv.app_version),
                bundleDir: resolve(io.cwd, String(argv.bundle_dir)),
                keyDirs: strings(argv.key_dirs),
                skipPatch: Boolean(argv['skip-patch']),
                required: Boolean(argv.required),
                ...(meta !== undefined ? { userMeta: meta } : {}),
                ...(argv['app-name'] ? { appName: argv['app-name'] } : {}),
                partial: Boolean(argv.partial),
              });
              ctx.finish();
              session.reportPublish(result);
              session.out(`added ${result.archive.filename} (${result.archive.length} bytes)`);
              if (result.patch) session.out(`added ${result.patch.filename} (${result.patch.length} bytes)`);
            } finally {
              ctx.finish();
            }
          },
        )
        .command(
          'remove-latest <key_dirs..>',
          'withdraw the latest release (archive and patch) of the app',
          (y2) =>
            keyDirsPositional(y2)
              .option('app-name', { describe: 'another app of this repository', type: 'string' })
              .option('partial', partialOption)
              .example('$0 targets remove-latest keystore', 'roll back a bad release'),
          async (argv) => {
            const { repo, ctx } = await session.openRepo(argv);
            const result = await repo.removeLatest({
              keyDirs: strings(argv.key_dirs),
              ...(argv['app-name'] ? { appName: argv['app-name'] } : {}),
              partial: Boolean(argv.partial),
            });
            ctx.finish();
            session.reportPublish(result);
            session.out(`removed ${result.removed.join(', ')}`);
          },
        )
        .command(
          'list',
          'list the releases in the repository',
          (y2) =>
            y2
              .option('json', { describe: 'machine-readable output', type: 'boolean', default: false })
              .option('app-name', { describe: 'only this app', type: 'string' })
              .example('$0 targets list', 'versions, sizes, patches, required flags')
              .example('$0 targets list --json', 'the same as JSON'),
          async (argv) => {
            const { repo } = await session.openRepo(argv);
            const apps = await repo.listApps(argv['app-name']);
            if (argv.json) session.out(JSON.stringify(apps, null, 2));
            else session.out(formatList(apps, session.style));
          },
        )
        .command(
          'prune <key_dirs..>',
          'delete old releases, keeping what the newest N versions need',
          (y2) =>
            keyDirsPositional(y2)
              .option('keep', {
                describe: 'how many of the newest versions to keep',
                type: 'number',
                demandOption: true,
              })
              .option('app-name', { describe: 'another app of this repository', type: 'string' })
              .option('partial', partialOption)
              .example(
                '$0 targets prune --keep 3 keystore',
                'keep the newest 3 versions (their archives and patches)',
              ),
          async (argv) => {
            const keep = positiveInt(String(argv.keep), '--keep');
            const { repo, ctx } = await session.openRepo(argv);
            const result = await repo.prune({
              keep,
              keyDirs: strings(argv.key_dirs),
              ...(argv['app-name'] ? { appName: argv['app-name'] } : {}),
              partial: Boolean(argv.partial),
            });
            ctx.finish();
            session.reportPublish(result);
            session.out(result.removed.length ? `removed ${result.removed.join(', ')}` : 'nothing to prune');
          },
        )
        .demandCommand(1, 'targets needs a subcommand: add, remove-latest, list or prune')
        .example('$0 targets add 1.0 dist/my_app keystore', 'publish a release'),
    )
    .command(
      'sign <role> <key_dirs..>',
      "refresh a role's expiry (-e), or add your signature to it (multi-party threshold signing)",
      (y) =>
        keyDirsPositional(
          y.positional('role', { describe: 'root, targets, snapshot or timestamp', type: 'string' }),
        )
          .option('expiration-days', {
            alias: 'e',
            describe:
              "set the expiry to now + N days (bare -e: the config's days), bump the version and re-sign what depends on it",
            type: 'string',
          })
          .option('partial', partialOption)
          .example('$0 sign timestamp -e keystore', 'daily cron/CI job: keep timestamp.json from expiring')
          .example('$0 sign root -e 365 keys_alice --partial', 'start a root re-sign that needs two keys…')
          .example('$0 sign root keys_bob', '…and add the second signature, which publishes it'),
      async (argv) => {
        const role = assertRoleName(String(argv.role));
        const raw = argv['expiration-days'];
        let expirationDays: number | 'default' | undefined;
        if (raw !== undefined)
          expirationDays =
            raw === 'default' || raw === '' ? 'default' : positiveInt(String(raw), '--expiration-days');
        const { repo, ctx } = await session.openRepo(argv);
        const result = await repo.sign({
          role,
          keyDirs: strings(argv.key_dirs),
          ...(expirationDays !== undefined ? { expirationDays } : {}),
          partial: Boolean(argv.partial),
        });
        ctx.finish();
        session.reportPublish(result);
        if (result.added !== undefined)
          session.out(`${role}: added ${result.added} signature${result.added === 1 ? '' : 's'}`);
        else session.out(`${role}: re-signed, expires ${result.expires}`);
      },
    )
    .command(
      'status',
      'show versions, expiry and signatures of each role, and the releases',
      (y) =>
        y
          .option('json', { describe: 'machine-readable output', type: 'boolean', default: false })
          .example('$0 status', 'what expires when, what is signed, which releases')
          .example('$0 status --json | jq .roles.timestamp.expires', 'for monitoring'),
      async (argv) => {
        const { repo } = await session.openRepo(argv);
        const status = await repo.status();
        if (argv.json) session.out(JSON.stringify(status, null, 2));
        else session.out(formatStatus(status, session.style));
      },
    )
    .command(
      'verify',
      'check signatures, thresholds, expiry, every target file, snapshot/timestamp and the patch chains',
      (y) =>
        y
          .option('json', { describe: 'machine-readable output', type: 'boolean', default: false })
          .option('deep', {
            describe: 'also apply every patch to the previous version and compare',
            type: 'boolean',
            default: false,
          })
          .example('$0 verify', 'before uploading the repository')
          .example('$0 verify --deep --json', 'including a patch replay, as JSON'),
      async (argv) => {
        const { repo, ctx } = await session.openRepo(argv);
        const report = await repo.verify({ deep: Boolean(argv.deep) });
        ctx.finish();
        if (argv.json) session.out(JSON.stringify(report, null, 2));
        else session.out(formatVerify(report, session.style));
        if (!report.ok) {
          throw new RepoError({
            code: 'VERIFY_FAILED',
            message: `${report.problems.length} problem${report.problems.length === 1 ? '' : 's'} found`,
          });
        }
      },
    )
    .command(
      'export <app_version> <out_dir>',
      'write the verified bundle of a published version, with root.json, for your own installer',
      (y) =>
        y
          .positional('app_version', { describe: 'a published version', type: 'string' })
          .positional('out_dir', { describe: 'a new (or empty) directory', type: 'string' })
          .option('app-name', { describe: "default: the config's app_name", type: 'string' })
          .example('$0 export 1.0 out/my_app', 'what a zip, dmg or msi of version 1.0 should contain'),
      async (argv) => {
        const { repo, ctx } = await session.openRepo(argv, true);
        const { exportRelease } = await import('./repository/export.js');
        const r = await exportRelease(repo, String(argv.app_version), resolve(io.cwd, String(argv.out_dir)), {
          ...ctx,
          ...(argv['app-name'] ? { appName: argv['app-name'] } : {}),
        }).finally(() => ctx.finish());
        session.out(`exported ${r.archive} to ${r.outDir}: ${r.files} files, ${r.bytes} bytes of tar`);
        if (r.rootJson === 'added')
          session.note(
            'root.json is not in the archive, so it was added to the bundle: this install differs from the archive and its first update downloads the full archive (copy metadata/root.json into the bundle before `tufup targets add` to make it a patch)',
          );
      },
    )
    .example('$0 init', "create a repository, answering questions (python tufup's way)")
    .example('$0 targets add 1.0 dist/my_app keystore', 'publish release 1.0 of the bundle in dist/my_app')
    .example('$0 sign timestamp -e keystore', 'the daily job: re-sign timestamp.json before it expires')
    .example('$0 keys root2 -c replace root keystore', 'rotate the root key')
    .example('$0 verify && $0 status', 'check everything before uploading repository/')
    .epilog(EPILOG)
    .wrap(Math.min(110, io.stdout.columns ?? 100))
    .strict()
    .recommendCommands()
    .showHelpOnFail(false)
    .exitProcess(false)
    .fail((msg, err) => {
      if (err) throw err;
      throw new RepoError({ code: 'USAGE', message: `${msg} (see tufup --help)` });
    });
}

async function initWith(session: Session, argv: Globals, answers: InitOptions) {
  const ctx = session.context(false);
  const { Repository } = await import('./repository.js');
  const result = await Repository.initialize(session.configPath(argv), answers, ctx);
  for (const k of result.createdKeys) session.note(`created key ${k}`);
  for (const k of result.reusedKeys) session.note(`using existing key ${k}`);
  session.reportPublish({ published: result.published });
  return { result };
}

/** Runs one `tufup` invocation; returns the exit code. Never throws. */
export async function main(args: string[], io: CliIo): Promise<number> {
  const session = new Session(io);
  const normalized = normalizeSignArgs(args);
  try {
    if (normalized.length === 0) {
      // python tufup prints its help when called without arguments.
      await buildParser(session, ['--help']).parseAsync();
      return EXIT.OK;
    }
    await buildParser(session, normalized).parseAsync();
    return EXIT.OK;
  } catch (err) {
    const code = errorCodeOf(err);
    const message = err instanceof Error ? err.message : String(err);
    const s = session.errStyle;
    io.stderr.write(`${s.red('error')} [${code}]: ${message.split('\n')[0]}\n`);
    if (session.verbose || code === 'INTERNAL') {
      if (session.verbose) io.stderr.write(`${describeErrorChain(err, true)}\n`);
      else io.stderr.write('(run with --verbose for details)\n');
    }
    return exitCodeFor(err);
  }
}

// The `tufup` command line: yargs command tree, option parsing, output, and the error-to-exit-code boundary.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import yargs, { type Argv } from 'yargs';
import { assertRoleName, isRoleName } from '@tufup/metadata';
import type { PatchFormat } from '@tufup/patch';
import { PATCH_FORMATS, type PerRole } from './config.js';
import { EXIT, RepoError } from './errors.js';
import type { InitOptions } from './repository/types.js';
import { formatList, formatStatus, formatVerify } from './report-format.js';
import type {
  DelegateAddReport,
  DelegateRemoveReport,
  InitReport,
  KeysReport,
  PruneReport,
  RemoveLatestReport,
  SignReport,
  TargetsAddReport,
} from './reports.js';
import { runInteractiveInit } from './init-prompts.js';
import {
  normalizeSignArgs,
  parseMeta,
  positiveInt,
  rejectEmptyStrings,
  rolePairs,
  strings,
  usageMessage,
} from './cli-args.js';
import { type CliIo, type Globals, Session, publishFields } from './session.js';

export type { CliIo } from './session.js';
export { normalizeSignArgs } from './cli-args.js';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** What `emit` adds itself. */
type Doc<T> = Omit<T, 'ok' | 'command' | 'warnings'>;

const EPILOG =
  'Exit codes: 0 ok, 1 internal error, 2 usage, 3 repository/config, 4 keys/signing, 5 release input, ' +
  '6 verification failed, 7 repository locked, 130 interrupted.\n' +
  '--json: one JSON document on stdout, also on failure ({"ok": false, "error": {"code", "message", "exit"}}).\n' +
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
  /** A command's builder, which first tells the session which command runs (for usage errors and JSON). */
  const enter =
    <T>(command: string, usage: string, build: (y: Argv) => Argv<T>) =>
    (y: Argv): Argv<T> => {
      session.enter(command, usage);
      return build(y);
    };

  return yargs(args)
    .scriptName('tufup')
    .usage('$0 <command> [options]\n\nCreate and sign a tufup (TUF) update repository for your app.')
    .version(packageVersion())
    .alias('version', 'v')
    .help('help')
    .alias('help', 'h')
    .option('config', {
      describe: 'repository config file (default: ./.tufup-repo-config)',
      type: 'string',
      global: true,
    })
    .option('verbose', {
      describe: 'print debug output, and stack traces and causes on errors',
      type: 'boolean',
      alias: ['d', 'debug'],
      global: true,
    })
    .option('json', {
      describe: 'print one JSON document on stdout (on failure too: ok false, error code and exit code)',
      type: 'boolean',
      default: false,
      global: true,
    })
    .middleware((argv) => {
      session.verbose = Boolean(argv.verbose);
      rejectEmptyStrings(argv, session);
    })
    .command(
      'init',
      'create a repository: config, keys and the first signed metadata',
      enter('init', '', (y) =>
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
          await initWith(session, argv, answers);
          return;
        }
        if (argv['app-name'] === undefined) {
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
        await initWith(session, argv, {
          appName: argv['app-name'],
          repoDir: argv['repo-dir'],
          keysDir: argv['keys-dir'],
          keyMap,
          thresholds,
          expirationDays,
          encryptedKeys: strings(argv.encrypted),
          patchFormat: argv['patch-format'] as PatchFormat,
        });
      },
    )
    .command(
      'keys <new_key_name> [action..]',
      'create a key pair, add a key to a role, or replace a key',
      enter('keys', '<new_key_name> [action..]', (y) =>
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
      ),
      async (argv) => {
        const name = String(argv.new_key_name);
        const action = strings(argv.action);
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
                ? `missing ${action.length < 2 ? 'ROLE and ' : ''}KEY_DIRS (usage: tufup keys <name> add <role> <key_dirs...>)`
                : `missing ${action.length < 2 ? 'OLD_KEY_NAME and ' : ''}KEY_DIRS (usage: tufup keys <name> replace <old_key_name> <key_dirs...>)`,
          });
        }
        const role = action[0] === 'add' ? assertRoleName(action[1] as string) : undefined;
        const { repo, ctx } = await session.openRepo(argv);
        let created: KeysReport['created'];
        const doc: Doc<KeysReport> = { key: name, published: [] };
        try {
          if (argv.create) {
            const made = await repo.createKeyPair(name, { encrypted: Boolean(argv.encrypted) });
            created = { ...made, encrypted: Boolean(argv.encrypted) };
            doc.created = created;
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
              Object.assign(doc, publishFields(result), { addedTo: role });
            } else if (action[0] === 'replace') {
              const result = await repo.replaceKey({
                oldKeyName: action[1] as string,
                newKeyName: name,
                keyDirs: action.slice(2),
                encrypted: Boolean(argv.encrypted),
                partial: Boolean(argv.partial),
              });
              Object.assign(doc, publishFields(result), {
                replaced: { oldKey: action[1], roles: result.roles, removedFromRoot: result.removedFromRoot },
              });
            }
          } catch (err) {
            // All or nothing: a key made for a step that failed would only confuse the next attempt. Nothing
            // has claimed it was created, so only a key that could not be removed is worth a word.
            if (created) {
              await repo.deleteKeyPair(name).catch((rmErr: unknown) => {
                session.logger.warn(
                  `key pair ${name} was created for this step and could not be removed (${(rmErr as Error).message}): delete ${created?.privatePath} and its .pub`,
                );
              });
            }
            throw err;
          }
        } finally {
          ctx.finish();
        }
        // Only now, when every step succeeded, is each claim true.
        if (created)
          session.note(`created key ${name} (${created.keyid.slice(0, 12)}…): ${created.publicPath}`);
        session.reportPublish(doc);
        if (doc.addedTo) session.out(`key ${name} added to ${doc.addedTo}`);
        if (doc.replaced)
          session.out(`key ${doc.replaced.oldKey} replaced by ${name} in ${doc.replaced.roles.join(', ')}`);
        session.emit(doc);
      },
    )
    .command('targets', 'add, remove, list and prune releases', (y) => {
      session.enter('targets');
      return y
        .command(
          'add <app_version> <bundle_dir> <key_dirs..>',
          'archive a bundle dir as a new release, with a patch from the previous one, and publish it',
          enter('targets add', '<app_version> <bundle_dir> <key_dirs..>', (y2) =>
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
                ...(argv['app-name'] !== undefined ? { appName: argv['app-name'] } : {}),
                partial: Boolean(argv.partial),
              });
              ctx.finish(true);
              session.reportPublish(result);
              session.out(`added ${result.archive.filename} (${result.archive.length} bytes)`);
              if (result.patch) session.out(`added ${result.patch.filename} (${result.patch.length} bytes)`);
              session.emit({
                app: result.archive.app,
                version: result.archive.version,
                archive: result.archive,
                ...(result.patch ? { patch: result.patch } : {}),
                ...publishFields(result),
              } satisfies Doc<TargetsAddReport>);
            } finally {
              ctx.finish();
            }
          },
        )
        .command(
          'remove-latest <key_dirs..>',
          'withdraw the latest release (archive and patch) of the app',
          enter('targets remove-latest', '<key_dirs..>', (y2) =>
            keyDirsPositional(y2)
              .option('app-name', { describe: 'another app of this repository', type: 'string' })
              .option('partial', partialOption)
              .example('$0 targets remove-latest keystore', 'roll back a bad release'),
          ),
          async (argv) => {
            const { repo, ctx } = await session.openRepo(argv);
            const appName = argv['app-name'] ?? repo.config.appName;
            const result = await repo.removeLatest({
              keyDirs: strings(argv.key_dirs),
              appName,
              partial: Boolean(argv.partial),
            });
            ctx.finish(true);
            session.reportPublish(result);
            session.out(`removed ${result.removed.join(', ')}`);
            session.emit({
              app: appName,
              version: result.version,
              removed: result.removed,
              ...publishFields(result),
            } satisfies Doc<RemoveLatestReport>);
          },
        )
        .command(
          'list',
          'list the releases in the repository',
          enter('targets list', '', (y2) =>
            y2
              .option('app-name', { describe: 'only this app', type: 'string' })
              .example('$0 targets list', 'versions, sizes, patches, required flags')
              .example('$0 targets list --json', 'the same as JSON'),
          ),
          async (argv) => {
            const { repo } = await session.openRepo(argv);
            const apps = await repo.listApps(argv['app-name']);
            if (session.json) session.emitReport(apps);
            else session.out(formatList(apps, session.style));
          },
        )
        .command(
          'prune <key_dirs..>',
          'delete old releases, keeping what the newest N versions need',
          enter('targets prune', '<key_dirs..>', (y2) =>
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
          ),
          async (argv) => {
            const keep = positiveInt(String(argv.keep), '--keep');
            const { repo, ctx } = await session.openRepo(argv);
            const appName = argv['app-name'] ?? repo.config.appName;
            const result = await repo.prune({
              keep,
              keyDirs: strings(argv.key_dirs),
              appName,
              partial: Boolean(argv.partial),
            });
            ctx.finish(true);
            session.reportPublish(result);
            session.out(result.removed.length ? `removed ${result.removed.join(', ')}` : 'nothing to prune');
            session.emit({
              app: appName,
              keep,
              removed: result.removed,
              ...publishFields(result),
            } satisfies Doc<PruneReport>);
          },
        )
        .demandCommand(1, 'targets needs a subcommand: add, remove-latest, list or prune')
        .example('$0 targets add 1.0 dist/my_app keystore', 'publish a release');
    })
    .command('delegate', 'delegated signing: roles of their own that sign some releases', (y) => {
      session.enter('delegate');
      return y
        .command(
          'add <role> <key_dirs..>',
          'let a role of its own (keys, threshold) sign the releases whose names match --paths',
          enter('delegate add', '<role> <key_dirs..>', (y2) =>
            keyDirsPositional(
              y2.positional('role', {
                describe: 'the role name (lowercase letters, digits, ".", "_", "-")',
                type: 'string',
              }),
            )
              .option('paths', {
                describe: "target name pattern the role signs, e.g. 'my_app-win-x64-*' (repeat for several)",
                type: 'string',
                array: true,
                nargs: 1,
                demandOption: true,
              })
              .option('key', {
                describe:
                  "name of a key of the role (repeat for several); '<name>.pub' in keys_dir or --key-dir",
                type: 'string',
                array: true,
                nargs: 1,
                demandOption: true,
              })
              .option('threshold', { describe: 'signatures needed (default 1)', type: 'number' })
              .option('create-key', {
                describe: 'create the key pair(s) first',
                type: 'boolean',
                default: false,
              })
              .option('key-dir', {
                describe: "where the role's keys are (or are created); default the config's keys_dir",
                type: 'string',
              })
              .option('encrypted', {
                alias: 'e',
                describe: 'encrypt created keys with a passphrase',
                type: 'boolean',
                default: false,
              })
              .option('history-after', {
                describe:
                  'keep the per-release download small: when the role holds 2K releases, the oldest K move to <role>.history',
                type: 'number',
              })
              .option('terminating', {
                describe: 'clients look no further for names matching --paths',
                type: 'boolean',
                default: false,
              })
              .example(
                "$0 delegate add win --paths 'my_app-win-x64-*' --key win_ci --create-key --key-dir ci-keys keystore",
                'the Windows CI signs Windows releases with its own key (ci-keys/win_ci)',
              ),
          ),
          async (argv) => {
            const threshold =
              argv.threshold === undefined ? undefined : positiveInt(String(argv.threshold), '--threshold');
            const historyAfter =
              argv['history-after'] === undefined
                ? undefined
                : positiveInt(String(argv['history-after']), '--history-after');
            const { repo, ctx } = await session.openRepo(argv);
            const result = await repo
              .addDelegation({
                role: String(argv.role),
                paths: strings(argv.paths),
                keyNames: strings(argv.key),
                keyDirs: strings(argv.key_dirs),
                createKeys: Boolean(argv['create-key']),
                encrypted: Boolean(argv.encrypted),
                ...(argv['key-dir'] !== undefined ? { keyDir: String(argv['key-dir']) } : {}),
                ...(threshold !== undefined ? { threshold } : {}),
                ...(historyAfter !== undefined ? { historyAfter } : {}),
                terminating: Boolean(argv.terminating),
              })
              .finally(() => ctx.finish());
            for (const k of result.created) session.note(`created key ${k}`);
            session.reportPublish(result);
            session.out(`delegated ${strings(argv.paths).join(' ')} to ${result.role}`);
            session.emit({
              role: result.role,
              paths: strings(argv.paths),
              keyids: result.keyids,
              createdKeys: result.created,
              ...publishFields(result),
            } satisfies Doc<DelegateAddReport>);
          },
        )
        .command(
          'list',
          'list the delegated roles in the order clients visit them',
          enter('delegate list', '', (y2) => y2),
          async (argv) => {
            const { repo } = await session.openRepo(argv);
            const roles = await repo.listDelegations();
            if (session.json) session.emitReport(roles);
            else if (roles.length === 0)
              session.out('no delegated roles: the top-level targets signs every release');
            else {
              for (const r of roles) {
                session.out(
                  `${r.role}  v${r.version}  ${r.paths.join(' ')}  ${r.threshold} of ${r.keyids.length} key(s)  ${r.targets} target(s)${r.historyAfter ? `  history after ${r.historyAfter}` : ''}${r.delegatedBy !== 'targets' ? `  (by ${r.delegatedBy})` : ''}`,
                );
              }
            }
          },
        )
        .command(
          'remove <role> <key_dirs..>',
          'stop delegating a role (its releases go back to the top-level targets)',
          enter('delegate remove', '<role> <key_dirs..>', (y2) =>
            keyDirsPositional(y2.positional('role', { describe: 'a delegated role', type: 'string' })),
          ),
          async (argv) => {
            const { repo, ctx } = await session.openRepo(argv);
            const result = await repo
              .removeDelegation({ role: String(argv.role), keyDirs: strings(argv.key_dirs) })
              .finally(() => ctx.finish());
            session.reportPublish(result);
            session.out(`removed ${result.removed.join(', ')}`);
            session.emit({
              removed: result.removed,
              ...publishFields(result),
            } satisfies Doc<DelegateRemoveReport>);
          },
        )
        .demandCommand(1, 'delegate needs a subcommand: add, list or remove');
    })
    .command(
      'sign <role> <key_dirs..>',
      "refresh a role's expiry (-e), or add your signature to it (multi-party threshold signing)",
      enter('sign', '<role> <key_dirs..>', (y) =>
        keyDirsPositional(
          y.positional('role', {
            describe: 'root, targets, snapshot or timestamp (or, with -e, a delegated role)',
            type: 'string',
          }),
        )
          .option('expiration-days', {
            alias: 'e',
            describe:
              "set the expiry to now + N days (bare -e: the config's days), bump the version and re-sign what depends on it. Without -e, sign only adds missing signatures, and fails (NOTHING_TO_SIGN, exit 4) when it would add none",
            type: 'string',
          })
          .option('partial', partialOption)
          .example('$0 sign timestamp -e keystore', 'daily cron/CI job: keep timestamp.json from expiring')
          .example('$0 sign root -e 365 keys_alice --partial', 'start a root re-sign that needs two keys…')
          .example('$0 sign root keys_bob', '…and add the second signature, which publishes it'),
      ),
      async (argv) => {
        const name = String(argv.role);
        const raw = argv['expiration-days'];
        // A delegated role is only re-signed (-e); anything else not a top-level role is UNKNOWN_ROLE, as before.
        const role = isRoleName(name) || raw === undefined ? assertRoleName(name) : name;
        let expirationDays: number | 'default' | undefined;
        if (raw !== undefined)
          expirationDays = raw === 'default' ? 'default' : positiveInt(String(raw), '--expiration-days');
        const { repo, ctx } = await session.openRepo(argv);
        const result = await repo.sign({
          role,
          keyDirs: strings(argv.key_dirs),
          ...(expirationDays !== undefined ? { expirationDays } : {}),
          partial: Boolean(argv.partial),
        });
        ctx.finish(true);
        session.reportPublish(result);
        if (result.added !== undefined)
          session.out(`${role}: added ${result.added} signature${result.added === 1 ? '' : 's'}`);
        else session.out(`${role}: re-signed, expires ${result.expires}`);
        session.emit({
          role,
          ...(result.added !== undefined ? { added: result.added } : {}),
          ...(result.expires !== undefined ? { expires: result.expires } : {}),
          ...publishFields(result),
        } satisfies Doc<SignReport>);
      },
    )
    .command(
      'status',
      'show versions, expiry and signatures of each role, and the releases',
      enter('status', '', (y) =>
        y
          .example('$0 status', 'what expires when, what is signed, which releases')
          .example('$0 status --json | jq .roles.timestamp.expires', 'for monitoring'),
      ),
      async (argv) => {
        const { repo } = await session.openRepo(argv);
        const status = await repo.status();
        if (session.json) session.emitReport(status);
        else session.out(formatStatus(status, session.style));
      },
    )
    .command(
      'verify',
      'check signatures, thresholds, expiry, every target file, snapshot/timestamp and the patch chains',
      enter('verify', '', (y) =>
        y
          .option('deep', {
            describe: 'also apply every patch to the previous version and compare',
            type: 'boolean',
            default: false,
          })
          .example('$0 verify', 'before uploading the repository')
          .example('$0 verify --deep --json', 'including a patch replay, as JSON'),
      ),
      async (argv) => {
        const { repo, ctx } = await session.openRepo(argv);
        const report = await repo.verify({ deep: Boolean(argv.deep) });
        ctx.finish(true);
        if (session.json) session.emitReport(report);
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
      throw new RepoError({ code: 'USAGE', message: usageMessage(msg, session) });
    });
}

async function initWith(session: Session, argv: Globals, answers: InitOptions): Promise<void> {
  const ctx = session.context(false);
  const { Repository } = await import('./repository.js');
  const result = await Repository.initialize(session.configPath(argv), answers, ctx);
  for (const k of result.createdKeys) session.note(`created key ${k}`);
  for (const k of result.reusedKeys) session.note(`using existing key ${k}`);
  session.reportPublish({ published: result.published });
  const { config } = result.repo;
  session.out(`initialized ${config.repoDir}`);
  session.emit({
    configPath: session.configPath(argv),
    repoDir: config.repoDir,
    keysDir: config.keysDir,
    appName: config.appName,
    patchFormat: config.patchFormat,
    createdKeys: result.createdKeys,
    reusedKeys: result.reusedKeys,
    published: result.published,
  } satisfies Doc<InitReport>);
}

/** Runs one `tufup` invocation; returns the exit code. Never throws. */
export async function main(args: string[], io: CliIo): Promise<number> {
  const session = new Session(io, args);
  try {
    if (args.length === 0) {
      // python tufup prints its help when called without arguments; nothing was done, so it is a usage error.
      await buildParser(session, ['--help']).parseAsync();
      return EXIT.USAGE;
    }
    await buildParser(session, normalizeSignArgs(args)).parseAsync();
    return EXIT.OK;
  } catch (err) {
    return session.fail(err);
  }
}

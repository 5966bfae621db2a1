/**
 * The `objection-imageattach` command line: commander wiring, config loading, and the mapping of
 * outcomes to exit codes. Each command lives in its own file.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { type LoadedConfig, loadConfig } from './config.js';
import { EXIT, exitCodeOf } from './exit.js';
import { type MigrateFlags, migrateCommand } from './migrate.js';
import { jsonError, Output, type Io } from './output.js';
import { type RegenerateFlags, regenerateCommand } from './regenerate.js';
import { DEFAULT_MIN_AGE } from './orphans.js';
import { type SettleFlags, settleCommand } from './settle.js';
import { type UploadsSweepFlags, uploadsSweepCommand } from './uploads-sweep.js';
import { type VerifyFlags, verifyCommand } from './verify.js';

const EXIT_CODES_HELP = `
Exit codes:
  0    done, nothing wrong found
  1    problems: images that failed to copy or regenerate, rows whose file is missing
  2    usage: unknown command or option, bad option value, missing or bad config
  3    failure: the database or a store failed and the command could not finish
  130  interrupted (Ctrl-C) after finishing the copies under way

Config (--config, default ./imageattach.config.{js,mjs,cjs,ts,mts}) is a module exporting
  { knex, models: { users: User, … }, stores: { local: new FileSystemStore(…), … }, defaultStore? }
where models are owner classes (with imageAttachment() relations) and/or image classes.`;

interface GlobalFlags {
  config?: string;
  json?: boolean;
}

function version(): string {
  try {
    // src/cli/ and dist/cli/ both sit two folders below the package root.
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string })
      .version;
  } catch {
    // Run from an unusual layout: the version is a nicety, not worth failing for.
    return 'unknown';
  }
}

/**
 * Runs the command line `argv` (without `node` and the script) and resolves with the exit code.
 * Never rejects: every error is reported on `io` and mapped to a code.
 */
export async function run(argv: string[], io: Io = process): Promise<number> {
  let exitCode: number = EXIT.OK;
  const program = new Command('objection-imageattach')
    .description('Move image files between stores, make thumbnails anew, and check that every image row has its file.')
    .version(version())
    .option('-c, --config <file>', 'the config module (default: ./imageattach.config.js, .mjs, .cjs, .ts or .mts)')
    .option('--json', 'print one JSON document on stdout instead of text (progress stays on stderr)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP);

  /** Loads the config, runs `command`, reports its error if any, and releases the connection. */
  const withConfig =
    <F>(command: (config: LoadedConfig, flags: F, out: Output) => Promise<number>) =>
    async (flags: F, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalFlags>();
      const out = new Output(globals.json === true, io);
      let config: LoadedConfig | undefined;
      try {
        config = await loadConfig(globals.config);
        exitCode = await command(config, flags, out);
      } catch (error) {
        exitCode = exitCodeOf(error);
        out.warn(`objection-imageattach ${cmd.name()}: error: ${(error as Error)?.message ?? String(error)}`);
        out.result({ command: cmd.name(), error: jsonError(error) });
      } finally {
        await config?.close();
      }
    };

  program
    .command('migrate')
    .description(
      'Copy every image file (originals and thumbnails) the database knows of from one store to another. The source is left untouched.',
    )
    .requiredOption('--from <name>', "the store to copy from (a name in the config's stores)")
    .requiredOption('--to <name>', 'the store to copy to')
    .option('--concurrency <n>', 'copies at once, 1 to 256', '4')
    .option(
      '--skip-existing',
      'skip files the destination already holds with the same size (resume an interrupted run)',
    )
    .option('--verify', "read each copy back and compare its SHA-256 with the source's")
    .option('--dry-run', 'read rows and stat files, write nothing; report what would be copied')
    .option('--stop-on-error', 'stop at the first image that fails')
    .addHelpText('after', '\nExample:\n  objection-imageattach migrate --from local --to s3 --skip-existing --verify')
    .action(
      withConfig<MigrateFlags>(async (config, flags, out) => {
        const controller = new AbortController();
        const onSigint = () => {
          if (controller.signal.aborted) process.exit(EXIT.INTERRUPTED);
          out.warn('Interrupted: finishing the copies under way (Ctrl-C again to quit at once)…');
          controller.abort();
        };
        process.on('SIGINT', onSigint);
        try {
          return await migrateCommand(config, flags, out, controller.signal);
        } finally {
          process.off('SIGINT', onSigint);
        }
      }),
    );

  program
    .command('regenerate')
    .description(
      'Make thumbnails of the given widths for every image set of an image class: anew, or only where missing.',
    )
    .requiredOption(
      '--model <name>',
      'owner.relation (e.g. users.picture), or an image class by config name, class name, table name or object type',
    )
    .requiredOption('--width <list>', 'comma-separated widths, e.g. 100,400')
    .option(
      '--only-missing',
      'make only the thumbnails a set lacks (no row, or a row whose file is missing); keep the others',
    )
    .option('--format <format>', "jpeg, png, webp or avif (default: the original's)")
    .option(
      '--background <colour>',
      'what transparent pixels become in JPEG thumbnails: #rrggbb or #rgb (default: #ffffff)',
    )
    .option('--store <name>', "the store holding the images (default: the config's defaultStore, or its only store)")
    .option(
      '--allow-non-default-store',
      "write into --store even when it is not the config's defaultStore (the rows written are shared by every store)",
    )
    .addHelpText(
      'after',
      "\nThe rows it writes are shared by every store, so it refuses a --store other than the config's\n" +
        'defaultStore (exit code 2) unless --allow-non-default-store is given.\n\n' +
        'Example:\n  objection-imageattach regenerate --model users.picture --width 100,400 --format webp',
    )
    .action(withConfig<RegenerateFlags>((config, flags, out) => regenerateCommand(config, flags, out)));

  program
    .command('verify')
    .description('Check that every image row has its file in the store; with --orphans, list files no row points to.')
    .option('--store <name>', "the store to check (default: the config's defaultStore, or its only store)")
    .option(
      '--deep',
      "read each file's header and check its type and size against its row (slower: reads every file's first bytes)",
    )
    .option('--orphans', 'also list files in the store that no row points to')
    .option(
      '--delete',
      'with --orphans: delete those files that are older than --min-age and that no row points to when the rows are read again, just before deleting',
    )
    .option(
      '--min-age <age>',
      `with --delete: delete only orphans at least this old, e.g. 90s, 10m, 2h, 1d (default ${DEFAULT_MIN_AGE}); a younger file may be an upload in flight`,
    )
    .addHelpText(
      'after',
      '\nOn a live app, --orphans --delete never deletes a file newer than --min-age (its upload may\n' +
        'not have committed yet), and reads the rows again just before deleting, keeping any file a\n' +
        'row now points to.\n\nExample:\n  objection-imageattach verify --store s3 --orphans\n  objection-imageattach verify --deep --orphans --delete --min-age 1h',
    )
    .action(withConfig<VerifyFlags>((config, flags, out) => verifyCommand(config, flags, out)));

  program
    .command('settle')
    .description(
      'Finish what interrupted writes left in a store: staged replacements of dead processes, committed files a rollback could not put back.',
    )
    .option('--store <name>', "the store to settle (default: the config's defaultStore, or its only store)")
    .addHelpText(
      'after',
      '\nWhat an app does at start-up (settleInterruptedWrites, restoreKeptBackups): run it after a crash,\n' +
        'or after ERR_FILE_CLEANUP, ERR_COMMIT_UNKNOWN or ERR_RESTORE_FAILED warnings.\n\nExample:\n  objection-imageattach settle --store s3',
    )
    .action(withConfig<SettleFlags>((config, flags, out) => settleCommand(config, flags, out)));

  const uploads = program.command('uploads').description('Direct uploads: sweep those abandoned.');
  uploads
    .command('sweep')
    .description(
      'Remove direct uploads past their expiry plus the grace (never claimed, or claimed and done with): staged bytes, then rows.',
    )
    .option('--grace <age>', 'how long past expiry before an upload goes, e.g. 30m, 2h, 1d (default 1h)')
    .option('--dry-run', 'count what would be removed, remove nothing')
    .addHelpText(
      'after',
      '\nGoes through every store of the config made with directUploads, in batches; several sweeps at\n' +
        'once are safe. A store delete that fails keeps its row for the next sweep (exit code 1).\n\n' +
        'Example (cron, every 15 minutes):\n  objection-imageattach uploads sweep --grace 1h',
    )
    .action(withConfig<UploadsSweepFlags>((config, flags, out) => uploadsSweepCommand(config, flags, out)));

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end with code 0; every other commander error is a usage error.
      return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    io.stderr.write(`objection-imageattach: error: ${(error as Error)?.message ?? String(error)}\n`);
    return EXIT.FAILURE;
  }
  return exitCode;
}

/**
 * `objection-imageattach migrate --from NAME --to NAME`: copies every image file the database
 * knows of between two configured stores (see `migrate()`).
 */
import { InvalidArgumentError } from '../errors.js';
import { migrate } from '../migration/plan.js';
import { MigrationError } from '../migration/types.js';
import { describeKey } from '../migration/copy.js';
import { type LoadedConfig, storeNamed } from './config.js';
import { EXIT, integerOption } from './exit.js';
import { formatBytes, formatDuration, jsonError, jsonKey, type Output, type ProgressReporter } from './output.js';

export interface MigrateFlags {
  from: string;
  to: string;
  concurrency?: string;
  skipExisting?: boolean;
  verify?: boolean;
  dryRun?: boolean;
  stopOnError?: boolean;
}

export async function migrateCommand(
  config: LoadedConfig,
  flags: MigrateFlags,
  out: Output,
  signal: AbortSignal,
): Promise<number> {
  const from = storeNamed(config, '--from', flags.from);
  const to = storeNamed(config, '--to', flags.to);
  if (from.name === to.name)
    throw new InvalidArgumentError('--to', `a store other than --from (${from.name})`, to.name);
  const concurrency = integerOption('--concurrency', flags.concurrency, 4, 1, 256);
  const dryRun = flags.dryRun === true;
  const plan = migrate(config.imageClasses, from.store, to.store, {
    concurrency,
    skipExisting: flags.skipExisting === true,
    verify: flags.verify === true,
    stopOnError: flags.stopOnError === true,
    dryRun,
    signal,
    knex: config.knex,
  });
  const started = Date.now();
  let progress: ProgressReporter | undefined;
  let ending: 'complete' | 'interrupted' | 'stopped' = 'complete';
  try {
    await plan.execute((p) => {
      progress ??= out.progress(dryRun ? 'migrate (dry run)' : 'migrate', p.total);
      progress.update(p.done + p.failed.length, p.bytes);
    });
  } catch (error) {
    if (!(error instanceof MigrationError)) throw error;
    if (error.code === 'ERR_MIGRATION_ABORTED') ending = 'interrupted';
    else if (error.code === 'ERR_MIGRATION_STOPPED') ending = 'stopped';
    else throw error;
  } finally {
    progress?.stop();
  }
  const report = plan.progress!;
  const seconds = (Date.now() - started) / 1000;
  const route = `from ${from.name} to ${to.name}`;
  for (const failure of report.failed) {
    out.line(`failed: ${safeDescribe(failure.key)}: ${jsonError(failure.error).code}: ${failure.error.message}`);
  }
  if (dryRun) {
    out.line(
      `Dry run ${route}: ${report.total} images; ${report.copied} to copy (${formatBytes(report.bytes)}), ` +
        `${report.skipped} already there, ${report.failed.length} failed. Nothing was written.`,
    );
  } else {
    out.line(
      `Migrated ${report.done} of ${report.total} images ${route}: ${report.copied} copied, ${report.skipped} skipped, ` +
        `${report.failed.length} failed (${formatBytes(report.bytes)} in ${formatDuration(seconds)}).`,
    );
  }
  if (ending === 'interrupted')
    out.line('Interrupted: copies under way were finished. Rerun with --skip-existing to resume.');
  if (ending === 'stopped') out.line('Stopped at the first failure (--stop-on-error).');
  out.result({
    command: 'migrate',
    from: from.name,
    to: to.name,
    dryRun,
    ending,
    total: report.total,
    done: report.done,
    copied: report.copied,
    skipped: report.skipped,
    bytes: report.bytes,
    failed: report.failed.map((f) => ({ key: jsonKey(f.key), error: jsonError(f.error) })),
    seconds,
  });
  if (ending === 'interrupted') return EXIT.INTERRUPTED;
  return report.failed.length > 0 ? EXIT.PROBLEMS : EXIT.OK;
}

function safeDescribe(key: Parameters<typeof describeKey>[0]): string {
  try {
    return describeKey(key);
  } catch {
    // A key missing its id (the model's objectId failed): show what there is.
    return `${key.objectType ?? '?'}/? ${key.width}x${key.height} ${key.mimetype}`;
  }
}

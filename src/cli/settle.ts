/**
 * `objection-imageattach settle [--store NAME]`: finishes in one store what interrupted writes
 * left, as an app does at start-up: replacements a dead process staged (put in place when their
 * row committed, else discarded, see `settleInterruptedWrites`), and committed bytes a rollback
 * could not put back (`ERR_RESTORE_FAILED`, see `restoreKeptBackups`).
 */
import type { Model } from 'objection';
import { restoreKeptBackups, settleInterruptedWrites } from '../entity/index.js';
import { type LoadedConfig, storeNamed } from './config.js';
import { EXIT, UsageError } from './exit.js';
import { jsonError, type Output } from './output.js';

export interface SettleFlags {
  store?: string;
}

export async function settleCommand(config: LoadedConfig, flags: SettleFlags, out: Output): Promise<number> {
  const { name, store } = storeNamed(config, '--store', flags.store);
  const knex = config.knex ?? (config.imageClasses[0] as unknown as typeof Model | undefined)?.knex();
  if (!knex) throw new UsageError('settle asks the database which writes committed: export knex from the config');
  const staged = await settleInterruptedWrites({ store, knex });
  const kept = await restoreKeptBackups({ store, knex });
  out.line(
    `Settled ${name}: ${staged.promoted} staged writes put in place, ${staged.discarded} discarded; ` +
      `${kept.restored} kept backups put back, ${kept.discarded} no longer wanted.`,
  );
  for (const { token, error } of staged.failed)
    out.warn(`Could not settle staged write ${token} (left for a later settling): ${error.message}`);
  out.result({
    command: 'settle',
    store: name,
    promoted: staged.promoted,
    discarded: staged.discarded,
    failed: staged.failed.map(({ token, error }) => ({ token, ...jsonError(error) })),
    restored: kept.restored,
    dropped: kept.discarded,
  });
  return staged.failed.length > 0 ? EXIT.PROBLEMS : EXIT.OK;
}

/**
 * `objection-imageattach uploads sweep [--grace AGE] [--dry-run]`: removes direct uploads past
 * their expiry plus the grace, through every store of the config made with `directUploads`
 * (see `sweepUploads`). Run it from cron; several at once are safe.
 */
import type { Model } from 'objection';
import { DEFAULT_SWEEP_GRACE_MS, sweepUploads } from '../entity/index.js';
import { parseDuration } from './duration.js';
import type { LoadedConfig } from './config.js';
import { EXIT, UsageError } from './exit.js';
import { jsonError, type Output } from './output.js';

export interface UploadsSweepFlags {
  grace?: string;
  dryRun?: boolean;
}

/** `--grace` as milliseconds: `90s`, `10m`, `2h`, `1d`, or `0`. @throws InvalidArgumentError */
export function parseGrace(value: string): number {
  return parseDuration(value, '--grace');
}

export async function uploadsSweepCommand(
  config: LoadedConfig,
  flags: UploadsSweepFlags,
  out: Output,
): Promise<number> {
  const grace = flags.grace === undefined ? DEFAULT_SWEEP_GRACE_MS : parseGrace(flags.grace);
  const knex = config.knex ?? (config.imageClasses[0] as unknown as typeof Model | undefined)?.knex();
  if (!knex) throw new UsageError('uploads sweep reads imageattach_pending_uploads: export knex from the config');
  const names = Object.entries(config.stores).filter(([, store]) => store.directUploads !== undefined);
  if (names.length === 0) {
    throw new UsageError('uploads sweep needs a store made with the directUploads option in the config');
  }
  const dryRun = flags.dryRun === true;
  const report = await sweepUploads({ knex, stores: names.map(([, store]) => store), grace, dryRun });
  const storeName = new Map(names.map(([name, store]) => [store.directUploads!.tag, name]));
  out.line(
    dryRun
      ? `Would remove ${report.removed} abandoned uploads (dry run: nothing removed).`
      : `Removed ${report.removed} abandoned uploads.`,
  );
  for (const { id, store, error } of report.failed) {
    out.warn(
      `Could not remove upload ${id} from ${storeName.get(store) ?? store} (kept for the next sweep): ${error.message}`,
    );
  }
  for (const [tag, count] of Object.entries(report.unknownStores)) {
    out.warn(`${count} expired uploads went to store ${tag}, which the config does not have: left alone`);
  }
  out.result({
    command: 'uploads sweep',
    dryRun,
    graceMs: grace,
    removed: report.removed,
    failed: report.failed.map(({ id, store, error }) => ({
      id,
      store: storeName.get(store) ?? store,
      ...jsonError(error),
    })),
    unknownStores: report.unknownStores,
  });
  return report.failed.length > 0 ? EXIT.PROBLEMS : EXIT.OK;
}

/**
 * Which store `regenerate` may write into: the one the app's files live in.
 */
import type { LoadedConfig } from './config.js';
import { UsageError } from './exit.js';

/**
 * Refuses to write into a store other than the one the app's files live in, which the CLI knows
 * as the config's `defaultStore` (or its only store). Image rows are shared by every store: a
 * thumbnail made in another store gets a row that the live store has no file for, and pages link
 * to a 404 (a replaced one loses its file in the live store too). Only the database names no
 * store, so the config is the one place that says which store is live.
 * @throws UsageError (exit code 2) saying why, and what to run instead
 */
export function liveStoreOnly(config: LoadedConfig, storeName: string): void {
  const names = Object.keys(config.stores);
  const live = config.defaultStore ?? (names.length === 1 ? names[0] : undefined);
  if (storeName === live) return;
  const why =
    `regenerate writes image rows, and every store shares the rows: thumbnails made in ${storeName} would have rows ` +
    `whose files are only in ${storeName}`;
  throw new UsageError(
    live === undefined
      ? `Refusing to regenerate in ${storeName}: the config names no defaultStore, so which store the app's files live in is unknown, ` +
          `and ${why}. Set defaultStore in the config to the store the app uses, or pass --allow-non-default-store if ${storeName} is that store.`
      : `Refusing to regenerate in ${storeName}: ${why}, and ${live} (the config's defaultStore, where the app's files live) would answer 404 ` +
          `for them. Run it without --store (or with --store ${live}) and copy the new thumbnails with migrate, or pass ` +
          `--allow-non-default-store if the app now uses ${storeName} (then make it the defaultStore).`,
    { store: storeName, defaultStore: live ?? null },
  );
}

/**
 * Variants and meta follow their set: removed with it (`remove()`, a replacement, an owner's
 * delete), their files once the transaction commits, through the file ledger as image files are.
 */
import type { Knex } from 'knex';
import type { Model } from 'objection';
import type { Store } from '../stores/store.js';
import { attachmentInfo } from './attachment-info.js';
import { deleteMeta, metaTable } from './set-meta.js';
import { SetRows } from './set-rows.js';
import {
  deleteVariantRows,
  scheduleVariantFileDeletes,
  variantFileKey,
  variantsTable,
  readVariantRows,
} from './variant-rows.js';

/** True when the relation of `rows` keeps rows in this library's tables (it declares variants or a placeholder). */
export function hasVariantTables(rows: SetRows): boolean {
  return rows.info.variants.size > 0 || rows.info.placeholder !== undefined;
}

/** Deletes the set's variant rows (files after the commit) and its meta row, in `trx`. */
export async function dropVariantRows(trx: Knex.Transaction, rows: SetRows, store: Store): Promise<void> {
  if (!hasVariantTables(rows)) return;
  scheduleVariantFileDeletes(trx, rows, await deleteVariantRows(trx, rows, 'all'), store);
  await deleteMeta(trx, rows);
}

/**
 * Deletes the variant and meta rows of `owners` for every variant relation of theirs (an owner's
 * delete: the foreign keys would cascade the rows, but not the files). Their files go once `trx`
 * commits; without a transaction, the returned function deletes them (call it after the delete).
 */
export async function dropOwnersVariants(
  trx: Knex.Transaction | Knex,
  owners: readonly Model[],
  relationNames: readonly string[],
  store: Store,
): Promise<() => Promise<void>> {
  const later: (() => Promise<void>)[] = [];
  for (const owner of owners) {
    for (const name of relationNames) {
      const info = attachmentInfo(owner, name);
      if (info.variants.size === 0 && info.placeholder === undefined) continue;
      // Every set of the owner: the subsets are read from its variant and meta rows.
      const ownerKey = Object.fromEntries(info.ownerColumns.map((c, i) => [c, (owner as any)[info.ownerProps[i]!]]));
      const probe = new SetRows(owner, name, Object.fromEntries(info.subsetColumns.map((c) => [c, 0])));
      const subsets = new Map<string, Record<string, unknown>>();
      for (const table of [variantsTable(probe), metaTable(probe)]) {
        const found = (await trx(table)
          .where(ownerKey)
          .distinct(info.subsetColumns.length ? info.subsetColumns : [info.ownerColumns[0]!])) as Record<
          string,
          unknown
        >[];
        for (const row of found) {
          const subset = Object.fromEntries(info.subsetColumns.map((c) => [c, row[c]]));
          subsets.set(JSON.stringify(subset), subset);
        }
      }
      for (const subset of subsets.values()) {
        const rows = new SetRows(owner, name, subset);
        if ((trx as { isTransaction?: boolean }).isTransaction) {
          await dropVariantRows(trx as Knex.Transaction, rows, store);
        } else {
          const deleted = await readVariantRows(trx, rows);
          const image = new info.imageClass();
          Object.assign(image, ownerKey, subset, { width: 1, height: 1 });
          await trx(variantsTable(rows))
            .where({ ...ownerKey, ...subset })
            .delete();
          await trx(metaTable(rows))
            .where({ ...ownerKey, ...subset })
            .delete();
          later.push(async () => {
            for (const row of deleted) await store.delete(variantFileKey(image, row));
          });
        }
      }
    }
  }
  return async () => {
    for (const work of later) await work();
  };
}

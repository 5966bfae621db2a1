/**
 * `objection-imageattach clean --superseded --min-age AGE [--dry-run] [--store NAME]`: deletes the
 * files of variant outputs that no row of `<table>_variants` points to any more: outputs of an
 * old recipe (the recipe digest is in the key, so a changed recipe writes new files beside the old
 * ones), of a replaced original, or of a deleted owner.
 *
 * They are left behind on purpose: HTML cached with their URLs keeps working until this runs, and
 * `--min-age` says for how long at least. A file younger than that is kept, and the rows are read
 * again just before deleting, so a file a row now points to (an output made meanwhile) is kept too.
 */
import type { ImageEntityClass } from '../entity/index.js';
import { describeKey } from '../migration/copy.js';
import { objectTypeWithoutRow } from '../migration/models.js';
import { hasVariantTable, pagedVariantFiles } from '../migration/variant-rows.js';
import { type NormalizedKey, parseVariantObjectType } from '../stores/keys.js';
import { type LoadedConfig, storeNamed } from './config.js';
import { EXIT, UsageError } from './exit.js';
import { deleteOrphans, keyString, parseMinAge } from './orphans.js';
import { jsonKey, type Output } from './output.js';

export interface CleanFlags {
  superseded?: boolean;
  minAge?: string;
  dryRun?: boolean;
  store?: string;
}

/** The keys variant rows hold, and the object types whose variant namespaces are covered. */
interface VariantRowKeys {
  referenced: Set<string>;
  namespaces: Set<string>;
}

export async function cleanCommand(config: LoadedConfig, flags: CleanFlags, out: Output): Promise<number> {
  if (flags.superseded !== true)
    throw new UsageError(
      'clean needs to be told what to clean: --superseded (variant output files no row points to any more)',
    );
  if (flags.minAge === undefined)
    throw new UsageError(
      '--min-age is needed: how long a superseded file is kept for pages cached with its URL, e.g. 7d',
    );
  const minAgeMs = parseMinAge(flags.minAge);
  const dryRun = flags.dryRun === true;
  const { name: storeName, store } = storeNamed(config, '--store', flags.store);
  const classes = await classesWithVariants(config);
  if (classes.length === 0) {
    out.line('No configured image class has a variants table (<table>_variants): there is nothing to clean.');
    out.result({ command: 'clean', store: storeName, dryRun, superseded: [], deleted: 0, kept: [] });
    return EXIT.OK;
  }
  const rows = await variantRowKeys(config, classes);
  const superseded: NormalizedKey[] = [];
  for await (const key of store.listFiles()) {
    const variant = parseVariantObjectType(key.objectType);
    if (variant === undefined || !rows.namespaces.has(variant.objectType)) continue;
    if (!rows.referenced.has(keyString(key))) superseded.push(key);
  }
  superseded.sort((a, b) => (keyString(a) < keyString(b) ? -1 : 1));
  const verdicts = await deleteOrphans(
    store,
    superseded,
    minAgeMs,
    keyString,
    async () => (await variantRowKeys(config, classes)).referenced,
    { dryRun },
  );
  const kept = [...verdicts.tooRecent, ...verdicts.nowReferenced];
  for (const key of verdicts.deleted) out.line(`${dryRun ? 'would delete' : 'deleted'}: ${describeKey(key)}`);
  for (const key of verdicts.tooRecent) out.line(`kept (newer than --min-age ${flags.minAge}): ${describeKey(key)}`);
  for (const key of verdicts.nowReferenced) out.line(`kept (a row points to it now): ${describeKey(key)}`);
  out.line(
    `${superseded.length} superseded variant files in ${storeName}: ` +
      `${verdicts.deleted.length} ${dryRun ? 'would be deleted (dry run: nothing was deleted)' : 'deleted'}, ` +
      `${kept.length} kept.`,
  );
  out.result({
    command: 'clean',
    store: storeName,
    dryRun,
    minAge: flags.minAge,
    superseded: superseded.map(jsonKey),
    deleted: verdicts.deleted.length,
    deletedKeys: verdicts.deleted.map(jsonKey),
    kept: kept.map(jsonKey),
  });
  return EXIT.OK;
}

/** The configured image classes that have a variants table. */
async function classesWithVariants(config: LoadedConfig): Promise<ImageEntityClass[]> {
  const found = await Promise.all(config.imageClasses.map((cls) => hasVariantTable(cls, config.knex)));
  return config.imageClasses.filter((_cls, i) => found[i]);
}

async function variantRowKeys(config: LoadedConfig, classes: ImageEntityClass[]): Promise<VariantRowKeys> {
  const keys: VariantRowKeys = { referenced: new Set(), namespaces: new Set() };
  for (const cls of classes) {
    const objectType = objectTypeWithoutRow(cls);
    if (objectType !== undefined) keys.namespaces.add(objectType);
    for await (const file of pagedVariantFiles(cls, { knex: config.knex, pageSize: 500 })) {
      keys.referenced.add(keyString(file.key));
      keys.namespaces.add(parseVariantObjectType(file.key.objectType)!.objectType);
    }
  }
  return keys;
}

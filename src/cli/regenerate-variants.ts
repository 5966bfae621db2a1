/**
 * `objection-imageattach regenerate --model NAME --variants avatar,card [--only-missing | --only-stale]`:
 * makes the outputs of those named variants for every image set of the relation: all of them
 * anew by default (after a change of the rendering pipeline), only the missing ones (no row made
 * of the current original, or a row whose file is gone) with `--only-missing`, or only the stale
 * ones with `--only-stale`: made by an older recipe (a new recipe digest: new keys, so new URLs),
 * or of an original replaced since (by Python, which knows nothing of our rows).
 *
 * Each output is made through the same entry the queue and the variant route use
 * (`makeVariantOutputs`), so rows and files follow the same rules: files through the ledger,
 * rows in a transaction, old files removed only after the commit.
 */
import { type ImageEntity, type ImageSet, imageSet } from '../entity/index.js';
import { loadedVariantData, makeVariantOutputs, variantDeclarations } from '../entity/worker-api.js';
import { InvalidArgumentError } from '../errors.js';
import { describeKey } from '../migration/copy.js';
import { countRows, pagedRows } from '../migration/rows.js';
import { checked } from '../stores/checked-calls.js';
import { keyOf, type Store } from '../stores/store.js';
import { type ConfigRelation, type LoadedConfig, storeNamed } from './config.js';
import { EXIT, UsageError } from './exit.js';
import { liveStoreOnly } from './live-store.js';
import { jsonError, jsonKey, type Output } from './output.js';
import type { RegenerateFlags } from './regenerate.js';
import { setOfOriginal } from './set-of-original.js';

type Only = 'missing' | 'stale' | undefined;

interface Tally {
  /** Outputs the current original had no row for, made. */
  created: number;
  /** Outputs made anew (all of them, or the recipe-stale ones with `--only-stale`). */
  replaced: number;
  /** Outputs whose row was there but whose file was missing, made again (`--only-missing`). */
  restored: number;
  /** Outputs left as they were. */
  present: number;
  failed: Array<{ image: ImageEntity; error: Error }>;
}

export async function regenerateVariantsCommand(
  config: LoadedConfig,
  relation: ConfigRelation,
  flags: RegenerateFlags,
  out: Output,
): Promise<number> {
  if (flags.width !== undefined)
    throw new UsageError('--width makes thumbnails and --variants makes named variants: run regenerate once for each');
  for (const option of ['format', 'background'] as const) {
    if (flags[option] !== undefined)
      throw new UsageError(
        `--${option} is for thumbnails: a variant's formats and background are declared with it (imageAttachment's variants)`,
      );
  }
  if (flags.onlyMissing && flags.onlyStale)
    throw new UsageError('--only-missing and --only-stale each pick what to remake: pass one of them');
  const names = parseVariantNames(relation, flags.variants!);
  const only: Only = flags.onlyMissing ? 'missing' : flags.onlyStale ? 'stale' : undefined;
  const { name: storeName, store } = storeNamed(config, '--store', flags.store);
  if (flags.allowNonDefaultStore !== true) liveStoreOnly(config, storeName);
  const cls = relation.imageClass;
  const originalsOnly = (query: { where(column: string, value: boolean): unknown }) =>
    void query.where('original', true);
  const total = await countRows(cls, { knex: config.knex, where: originalsOnly });
  const progress = out.progress('regenerate', total, 'image sets');
  const tally: Tally = { created: 0, replaced: 0, restored: 0, present: 0, failed: [] };
  let settled = 0;
  try {
    // One set at a time: sharp already spreads each render over the CPU's cores.
    for await (const original of pagedRows(cls, { knex: config.knex, pageSize: 200, where: originalsOnly })) {
      try {
        const set = setOfOriginal(relation, original);
        await set.load();
        for (const name of names) await regenerateVariant(set, name, { store, only }, tally);
      } catch (error) {
        tally.failed.push({ image: original, error: error instanceof Error ? error : new Error(String(error)) });
      }
      progress.update(++settled);
    }
  } finally {
    progress.stop();
  }
  const model = `${relation.ownerName}.${relation.relationName}`;
  for (const { image, error } of tally.failed)
    out.line(`failed: ${describeKey(keyOf(image))}: ${jsonError(error).code}: ${error.message}`);
  out.line(
    `Regenerated variants ${names.join(', ')}${only ? ` (only ${only})` : ''} of ${settled} image sets of ${model} ` +
      `(${cls.name}) in ${storeName}: ${tally.created} created, ${tally.replaced} replaced, ${tally.restored} restored, ` +
      `${tally.present} already there, ${tally.failed.length} failed.`,
  );
  out.result({
    command: 'regenerate',
    model,
    store: storeName,
    variants: names,
    only: only ?? null,
    sets: settled,
    created: tally.created,
    replaced: tally.replaced,
    restored: tally.restored,
    present: tally.present,
    failed: tally.failed.map(({ image, error }) => ({ key: jsonKey(keyOf(image)), error: jsonError(error) })),
  });
  return tally.failed.length > 0 ? EXIT.PROBLEMS : EXIT.OK;
}

/**
 * `avatar,card` → `['avatar', 'card']`, each a variant `relation` declares.
 * @throws InvalidArgumentError naming the unknown name and listing the declared ones; UsageError
 *   when the relation declares none
 */
export function parseVariantNames(relation: ConfigRelation, value: string): string[] {
  const model = `${relation.ownerName}.${relation.relationName}`;
  const declared = [...declarationsOf(relation).keys()];
  if (declared.length === 0)
    throw new UsageError(`--variants: ${model} declares no variants (imageAttachment's variants option)`, {
      model,
    });
  const names = [...new Set(value.split(',').map((name) => name.trim()))];
  for (const name of names) {
    if (!declared.includes(name))
      throw new InvalidArgumentError(
        '--variants',
        `comma-separated names of variants ${model} declares (${declared.join(', ')})`,
        name === '' ? value : name,
      );
  }
  return names;
}

/** The relation's variant declarations, read off a set of an owner made for the purpose (no query). */
function declarationsOf(relation: ConfigRelation): ReturnType<typeof variantDeclarations> {
  const owner = relation.ownerClass.fromJson({}, { skipValidation: true });
  return variantDeclarations(imageSet(owner as never, relation.relationName as never));
}

/** Makes what `only` asks of variant `name` of `set` (loaded), and counts it. */
async function regenerateVariant(
  set: ImageSet,
  name: string,
  options: { store: Store; only: Only },
  tally: Tally,
): Promise<void> {
  const { store, only } = options;
  const state = set.variant(name);
  if (only === 'stale') {
    if (state.stale.length > 0) await makeVariantOutputs(set, name, state.stale, { store, which: 'stale' });
    // Source-stale: rows made of an original that was replaced since (by Python, say), never
    // served; for the current original those outputs are missing, and made now.
    const replaced = sourceStale(set, name, state.missing);
    if (replaced.length > 0) await makeVariantOutputs(set, name, replaced, { store, which: 'missing' });
    tally.replaced += state.stale.length + replaced.length;
    tally.present += state.outputs.length - state.stale.length;
    return;
  }
  if (only === 'missing') {
    if (state.missing.length > 0) await makeVariantOutputs(set, name, state.missing, { store, which: 'missing' });
    tally.created += state.missing.length;
    // A row is not enough: its file must be there too, or the output is made again.
    const gone = [];
    for (const output of state.outputs) if ((await checked(store).statFile(output.key)) === null) gone.push(output);
    if (gone.length > 0) await makeVariantOutputs(set, name, gone, { store, which: 'all' });
    tally.restored += gone.length;
    tally.present += state.outputs.length - gone.length;
    return;
  }
  await makeVariantOutputs(set, name, undefined, { store, which: 'all' });
  tally.created += state.missing.length;
  tally.replaced += state.outputs.length;
}

/** The `missing` outputs of variant `name` that have a row all the same: one made of an earlier original. */
function sourceStale<O extends { descriptor: string; format: string }>(set: ImageSet, name: string, missing: O[]): O[] {
  const rows = loadedVariantData(set.original!)?.variants ?? [];
  return missing.filter((output) =>
    rows.some((row) => row.name === name && row.descriptor === output.descriptor && row.format === output.format),
  );
}

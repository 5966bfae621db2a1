/**
 * `objection-imageattach verify [--store NAME] [--deep] [--variants] [--orphans [--delete [--min-age AGE]]]`:
 * checks that every image row's file is in the store (with `--deep`, that its header says the
 * row's type and size), with `--variants` the same of every variant row (`<table>_variants`), and
 * with `--orphans` lists the store's files no row points to.
 *
 * Orphans are looked for only among the object types of the configured image classes and, for
 * the classes that have a variants table, their variant namespaces (`<objectType>.<name>.<digest>`),
 * so files of other apps or classes sharing the store are never listed (nor deleted). Finding them
 * keeps one short string per row in memory (tens of bytes: millions of rows fit). Deleting them is
 * guarded against uploads in flight (see orphans.ts).
 */
import type { ImageEntityClass } from '../entity/index.js';
import { listKeptBackups } from '../entity/worker-api.js';
import { describeKey } from '../migration/copy.js';
import { objectTypeWithoutRow } from '../migration/models.js';
import { countRows, pagedRows } from '../migration/rows.js';
import { countVariantRows, hasVariantTable, pagedVariantFiles } from '../migration/variant-rows.js';
import { extensionFor, type ImageKey, type NormalizedKey, parseVariantObjectType } from '../stores/keys.js';
import { keyOf, type Store } from '../stores/store.js';
import { type LoadedConfig, storeNamed } from './config.js';
import { EXIT, UsageError } from './exit.js';
import { headerMismatch, readStoredHeader } from './file-header.js';
import { DEFAULT_MIN_AGE, deleteOrphans, keyString, parseMinAge } from './orphans.js';
import { jsonError, jsonKey, type Output } from './output.js';
import { forEachConcurrently } from './pool.js';
import { checked } from '../stores/checked-calls.js';

export interface VerifyFlags {
  store?: string;
  deep?: boolean;
  variants?: boolean;
  orphans?: boolean;
  delete?: boolean;
  minAge?: string;
}

/** File stats at once: enough to keep a disk or an S3 connection pool busy. */
const STAT_CONCURRENCY = 8;

interface RowPass {
  /** Image rows checked. */
  checked: number;
  /** Variant rows checked (`--variants`). */
  checkedVariants: number;
  referenced: Set<string>;
  objectTypes: Set<string>;
  /** Object types of the classes with a variants table: their variant namespaces are covered. */
  variantBases: Set<string>;
  missing: ImageKey[];
  /** Found under another extension of their type (`.tif` that Python 3.6 wrote for `.tiff`). */
  otherExtension: Array<{ key: ImageKey; extension: string }>;
  mismatched: Array<{ key: ImageKey; problem: string }>;
  /** Rows whose file could not be checked: which row (as people read it, and as JSON), and why. */
  unreadable: Array<{ row: string; id: unknown; error: Error }>;
}

export async function verifyCommand(config: LoadedConfig, flags: VerifyFlags, out: Output): Promise<number> {
  if (flags.delete && !flags.orphans) throw new UsageError('--delete deletes orphan files: it needs --orphans');
  if (flags.minAge !== undefined && !flags.delete)
    throw new UsageError('--min-age says which orphan files --delete may delete: it needs --orphans --delete');
  const minAgeMs = parseMinAge(flags.minAge ?? DEFAULT_MIN_AGE);
  const { name: storeName, store } = storeNamed(config, '--store', flags.store);
  const wantOrphans = flags.orphans === true;
  const wantVariants = flags.variants === true;
  const counts = await Promise.all(
    config.imageClasses.flatMap((cls) => [
      countOf(cls, config),
      wantVariants ? countVariantRows(cls, config.knex) : Promise.resolve(0),
    ]),
  );
  const progress = out.progress(
    'verify',
    counts.reduce((a, b) => a + b, 0),
  );
  let pass: RowPass;
  try {
    pass = await readRows(config, store, {
      check: flags.deep ? 'header' : 'exists',
      variants: wantVariants ? (flags.deep ? 'header' : 'exists') : 'none',
      collect: wantOrphans,
      onRow: (n) => progress.update(n),
    });
  } finally {
    progress.stop();
  }
  const { checked, checkedVariants, missing, otherExtension, mismatched, unreadable } = pass;
  // Checked concurrently, so found in no set order: sort for stable output.
  missing.sort((a, b) => (keyString(a) < keyString(b) ? -1 : 1));
  mismatched.sort((a, b) => (keyString(a.key) < keyString(b.key) ? -1 : 1));
  for (const key of missing) out.line(`missing: ${describeKey(key)}`);
  otherExtension.sort((a, b) => (keyString(a.key) < keyString(b.key) ? -1 : 1));
  for (const { key, extension } of otherExtension) {
    out.line(
      `other extension: ${describeKey(key)} is stored as ${extension} (it reads; its URL names ${extensionFor(key.mimetype)}: migrate to rename it)`,
    );
  }
  for (const { key, problem } of mismatched) out.line(`mismatch: ${describeKey(key)}: ${problem}`);
  for (const { row, error } of unreadable) out.line(`error: ${row}: ${jsonError(error).code}: ${error.message}`);
  out.line(
    `Checked ${checked} images${wantVariants ? ` and ${checkedVariants} variant outputs` : ''} in ${storeName}` +
      `${flags.deep ? ' (headers read)' : ''}: ${missing.length} missing` +
      (flags.deep ? `, ${mismatched.length} not matching their row` : '') +
      (unreadable.length ? `, ${unreadable.length} could not be checked` : '') +
      '.',
  );

  const orphans: NormalizedKey[] = [];
  let deleted: NormalizedKey[] = [];
  let kept: NormalizedKey[] = [];
  if (wantOrphans) {
    for await (const key of store.listFiles()) {
      if (covered(pass, key.objectType) && !pass.referenced.has(keyString(key))) orphans.push(key);
    }
    if (flags.delete) {
      const verdicts = await deleteOrphans(
        store,
        orphans,
        minAgeMs,
        keyString,
        async () => (await readRows(config, store, { check: 'none', variants: 'none', collect: true })).referenced,
      );
      deleted = verdicts.deleted;
      kept = [...verdicts.tooRecent, ...verdicts.nowReferenced];
      for (const key of deleted) out.line(`deleted orphan: ${describeKey(key)}`);
      for (const key of verdicts.tooRecent)
        out.line(`kept orphan (newer than --min-age ${flags.minAge ?? DEFAULT_MIN_AGE}): ${describeKey(key)}`);
      for (const key of verdicts.nowReferenced) out.line(`kept file (a row points to it now): ${describeKey(key)}`);
    } else {
      for (const key of orphans) out.line(`orphan: ${describeKey(key)}`);
    }
    out.line(
      `${orphans.length} orphan files (no row points to them)` +
        (flags.delete
          ? `, ${deleted.length} deleted${kept.length ? `, ${kept.length} kept` : ''}.`
          : orphans.length
            ? '; pass --delete to delete them.'
            : '.'),
    );
  }
  // Committed bytes a rollback could not put back: the key serves other bytes until `settle`.
  const keptBackups = (await listKeptBackups(store)).map(({ key }) => key);
  for (const key of keptBackups)
    out.line(
      `kept backup: ${describeKey(key)} holds rolled-back bytes; its committed bytes wait to be put back (run settle)`,
    );
  out.result({
    command: 'verify',
    store: storeName,
    checked,
    checkedVariants: wantVariants ? checkedVariants : null,
    missing: missing.map(jsonKey),
    otherExtension: otherExtension.map(({ key, extension }) => ({ ...jsonKey(key), extension })),
    mismatched: flags.deep ? mismatched.map(({ key, problem }) => ({ ...jsonKey(key), problem })) : null,
    errors: unreadable.map(({ id, error }) => ({ row: id, error: jsonError(error) })),
    orphans: wantOrphans ? orphans.map(jsonKey) : null,
    deleted: deleted.length,
    kept: kept.map(jsonKey),
    keptBackups: keptBackups.map(jsonKey),
  });
  return missing.length > 0 || mismatched.length > 0 || unreadable.length > 0 || keptBackups.length > 0
    ? EXIT.PROBLEMS
    : EXIT.OK;
}

interface RowPassOptions {
  /** What to check of each image row's file: that it exists, that its header matches the row, or nothing. */
  check: 'exists' | 'header' | 'none';
  /** The same for each variant row's file (`--variants`). */
  variants: 'exists' | 'header' | 'none';
  /** Collect the keys rows (image rows and variant rows) hold (for orphans). */
  collect: boolean;
  onRow?: (checked: number) => void;
}

/**
 * One pass over every row, image rows then variant rows: is its file there (or does its header
 * match), and which keys rows hold.
 */
async function readRows(config: LoadedConfig, store: Store, options: RowPassOptions): Promise<RowPass> {
  const pass: RowPass = {
    checked: 0,
    checkedVariants: 0,
    referenced: new Set(),
    objectTypes: new Set(config.imageClasses.flatMap((cls) => objectTypeWithoutRow(cls) ?? [])),
    variantBases: new Set(),
    missing: [],
    otherExtension: [],
    mismatched: [],
    unreadable: [],
  };
  const knex = config.knex;
  const onRow = () => options.onRow?.(pass.checked + pass.checkedVariants);
  for (const cls of config.imageClasses) {
    await forEachConcurrently(pagedRows(cls, { knex, pageSize: 500 }), STAT_CONCURRENCY, async (image) => {
      try {
        const key = keyOf(image);
        if (options.collect) {
          pass.referenced.add(keyString(key));
          pass.objectTypes.add(key.objectType);
        }
        await checkFile(store, key, options.check, pass);
      } catch (error) {
        pass.unreadable.push({
          row: `${image.constructor.name} ${JSON.stringify(image.$id())}`,
          id: image.$id(),
          error: error as Error,
        });
      } finally {
        pass.checked++;
        onRow();
      }
    });
  }
  if (!options.collect && options.variants === 'none') return pass;
  for (const cls of config.imageClasses) {
    if (!(await hasVariantTable(cls, knex))) continue;
    const objectType = objectTypeWithoutRow(cls);
    if (objectType !== undefined) pass.variantBases.add(objectType);
    await forEachConcurrently(pagedVariantFiles(cls, { knex, pageSize: 500 }), STAT_CONCURRENCY, async (file) => {
      const parsed = parseVariantObjectType(file.key.objectType);
      if (options.collect) {
        pass.referenced.add(keyString(file.key));
        if (parsed) pass.variantBases.add(parsed.objectType);
      }
      if (options.variants === 'none') return;
      try {
        await checkFile(store, file.key, options.variants, pass);
      } catch (error) {
        const id = { ...file.set, name: file.name, descriptor: file.descriptor, format: file.format };
        pass.unreadable.push({ row: `${cls.name} variant ${JSON.stringify(id)}`, id, error: error as Error });
      } finally {
        pass.checkedVariants++;
        onRow();
      }
    });
  }
  return pass;
}

/** Checks one row's file as `check` says, recording what is wrong in `pass`. */
async function checkFile(store: Store, key: ImageKey, check: RowPassOptions['check'], pass: RowPass): Promise<void> {
  if (check === 'none') return;
  const stat = await checked(store).statFile(key);
  if (stat === null) {
    pass.missing.push(key);
    return;
  }
  if (stat.extension !== undefined) pass.otherExtension.push({ key, extension: stat.extension });
  if (check === 'header') {
    const problem = headerMismatch(key, await readStoredHeader(store, key, stat));
    if (problem !== undefined) pass.mismatched.push({ key, problem });
  }
}

/**
 * Whether `objectType` is one verify looks for orphans in: a configured class's, or a variant
 * namespace of a class that has a variants table.
 */
function covered(pass: RowPass, objectType: string): boolean {
  if (pass.objectTypes.has(objectType)) return true;
  const variant = parseVariantObjectType(objectType);
  return variant !== undefined && pass.variantBases.has(variant.objectType);
}

function countOf(cls: ImageEntityClass, config: LoadedConfig): Promise<number> {
  return countRows(cls, { knex: config.knex });
}

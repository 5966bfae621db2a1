/**
 * `objection-imageattach verify [--store NAME] [--deep] [--orphans [--delete [--min-age AGE]]]`:
 * checks that every image row's file is in the store (with `--deep`, that its header says the
 * row's type and size), and with `--orphans` lists the store's files no row points to.
 *
 * Orphans are looked for only among the object types of the configured image classes, so files
 * of other apps or classes sharing the store are never listed (nor deleted). Finding them keeps
 * one short string per row in memory (tens of bytes: millions of rows fit). Deleting them is
 * guarded against uploads in flight (see orphans.ts).
 */
import type { ImageEntity, ImageEntityClass } from '../entity/index.js';
import { listKeptBackups } from '../entity/worker-api.js';
import { describeKey } from '../migration/copy.js';
import { countRows, pagedRows } from '../migration/rows.js';
import { extensionFor, type ImageKey, type NormalizedKey, toObjectId } from '../stores/keys.js';
import { keyOf, type Store } from '../stores/store.js';
import { type LoadedConfig, storeNamed } from './config.js';
import { EXIT, UsageError } from './exit.js';
import { headerMismatch, readStoredHeader } from './file-header.js';
import { DEFAULT_MIN_AGE, deleteOrphans, parseMinAge } from './orphans.js';
import { jsonError, jsonKey, type Output } from './output.js';
import { forEachConcurrently } from './pool.js';
import { checked } from '../stores/checked-calls.js';

export interface VerifyFlags {
  store?: string;
  deep?: boolean;
  orphans?: boolean;
  delete?: boolean;
  minAge?: string;
}

/** File stats at once: enough to keep a disk or an S3 connection pool busy. */
const STAT_CONCURRENCY = 8;

interface RowPass {
  checked: number;
  referenced: Set<string>;
  objectTypes: Set<string>;
  missing: ImageKey[];
  /** Found under another extension of their type (`.tif` that Python 3.6 wrote for `.tiff`). */
  otherExtension: Array<{ key: ImageKey; extension: string }>;
  mismatched: Array<{ key: ImageKey; problem: string }>;
  unreadable: Array<{ image: ImageEntity; error: Error }>;
}

export async function verifyCommand(config: LoadedConfig, flags: VerifyFlags, out: Output): Promise<number> {
  if (flags.delete && !flags.orphans) throw new UsageError('--delete deletes orphan files: it needs --orphans');
  if (flags.minAge !== undefined && !flags.delete)
    throw new UsageError('--min-age says which orphan files --delete may delete: it needs --orphans --delete');
  const minAgeMs = parseMinAge(flags.minAge ?? DEFAULT_MIN_AGE);
  const { name: storeName, store } = storeNamed(config, '--store', flags.store);
  const wantOrphans = flags.orphans === true;
  const total = (await Promise.all(config.imageClasses.map((cls) => countOf(cls, config)))).reduce((a, b) => a + b, 0);
  const progress = out.progress('verify', total);
  let pass: RowPass;
  try {
    pass = await readRows(config, store, {
      check: flags.deep ? 'header' : 'exists',
      collect: wantOrphans,
      onRow: (n) => progress.update(n),
    });
  } finally {
    progress.stop();
  }
  const { checked, missing, otherExtension, mismatched, unreadable } = pass;
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
  for (const { image, error } of unreadable)
    out.line(
      `error: ${image.constructor.name} ${JSON.stringify(image.$id())}: ${jsonError(error).code}: ${error.message}`,
    );
  out.line(
    `Checked ${checked} images in ${storeName}${flags.deep ? ' (headers read)' : ''}: ${missing.length} missing` +
      (flags.deep ? `, ${mismatched.length} not matching their row` : '') +
      (unreadable.length ? `, ${unreadable.length} could not be checked` : '') +
      '.',
  );

  const orphans: NormalizedKey[] = [];
  let deleted: NormalizedKey[] = [];
  let kept: NormalizedKey[] = [];
  if (wantOrphans) {
    for await (const key of store.listFiles()) {
      if (pass.objectTypes.has(key.objectType) && !pass.referenced.has(keyString(key))) orphans.push(key);
    }
    if (flags.delete) {
      const verdicts = await deleteOrphans(
        store,
        orphans,
        minAgeMs,
        keyString,
        async () => (await readRows(config, store, { check: 'none', collect: true })).referenced,
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
    missing: missing.map(jsonKey),
    otherExtension: otherExtension.map(({ key, extension }) => ({ ...jsonKey(key), extension })),
    mismatched: flags.deep ? mismatched.map(({ key, problem }) => ({ ...jsonKey(key), problem })) : null,
    errors: unreadable.map(({ image, error }) => ({ row: image.$id(), error: jsonError(error) })),
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
  /** What to check of each row's file: that it exists, that its header matches the row, or nothing. */
  check: 'exists' | 'header' | 'none';
  /** Collect the keys rows hold (for orphans). */
  collect: boolean;
  onRow?: (checked: number) => void;
}

/** One pass over every row: is its file there (or does its header match), and which keys rows hold. */
async function readRows(config: LoadedConfig, store: Store, options: RowPassOptions): Promise<RowPass> {
  const pass: RowPass = {
    checked: 0,
    referenced: new Set(),
    objectTypes: new Set(config.imageClasses.flatMap(defaultObjectType)),
    missing: [],
    otherExtension: [],
    mismatched: [],
    unreadable: [],
  };
  for (const cls of config.imageClasses) {
    await forEachConcurrently(pagedRows(cls, { knex: config.knex, pageSize: 500 }), STAT_CONCURRENCY, async (image) => {
      try {
        const key = keyOf(image);
        if (options.collect) {
          pass.referenced.add(keyString(key));
          pass.objectTypes.add(key.objectType);
        }
        if (options.check === 'none') return;
        const stat = await checked(store).statFile(key);
        if (stat === null) {
          pass.missing.push(key);
          return;
        }
        if (stat.extension !== undefined) pass.otherExtension.push({ key, extension: stat.extension });
        if (options.check === 'header') {
          const problem = headerMismatch(key, await readStoredHeader(store, key, stat));
          if (problem !== undefined) pass.mismatched.push({ key, problem });
        }
      } catch (error) {
        pass.unreadable.push({ image, error: error as Error });
      } finally {
        options.onRow?.(++pass.checked);
      }
    });
  }
  return pass;
}

function countOf(cls: ImageEntityClass, config: LoadedConfig): Promise<number> {
  return countRows(cls, { knex: config.knex });
}

/** The object type a class's rows get by default (from its table name), when it can be read without a row. */
function defaultObjectType(cls: ImageEntityClass): string[] {
  try {
    return [(Object.create(cls.prototype) as ImageEntity).objectType];
  } catch {
    // An objectType override that reads the row: only the rows themselves can say.
    return [];
  }
}

function keyString(key: ImageKey): string {
  return `${key.objectType}/${toObjectId(key.objectId)}/${key.width}x${key.height}/${key.mimetype}`;
}

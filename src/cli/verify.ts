/**
 * `objection-imageattach verify [--store NAME] [--orphans [--delete]]`: checks that every image
 * row's file is in the store, and with `--orphans` lists the store's files no row points to.
 *
 * Orphans are looked for only among the object types of the configured image classes, so files
 * of other apps or classes sharing the store are never listed (nor deleted). Finding them keeps
 * one short string per row in memory (tens of bytes: millions of rows fit).
 */
import type { ImageEntity, ImageEntityClass } from '../entity/image.js';
import { describeKey } from '../migration/copy.js';
import { countRows, pagedRows } from '../migration/rows.js';
import { extensionFor, type ImageKey, type NormalizedKey, toObjectId } from '../stores/keys.js';
import { keyOf } from '../stores/store.js';
import { type LoadedConfig, storeNamed } from './config.js';
import { EXIT, UsageError } from './exit.js';
import { jsonError, jsonKey, type Output } from './output.js';
import { forEachConcurrently } from './pool.js';

export interface VerifyFlags {
  store?: string;
  orphans?: boolean;
  delete?: boolean;
}

/** File stats at once: enough to keep a disk or an S3 connection pool busy. */
const STAT_CONCURRENCY = 8;

export async function verifyCommand(config: LoadedConfig, flags: VerifyFlags, out: Output): Promise<number> {
  if (flags.delete && !flags.orphans) throw new UsageError('--delete deletes orphan files: it needs --orphans');
  const { name: storeName, store } = storeNamed(config, '--store', flags.store);
  const wantOrphans = flags.orphans === true;
  const referenced = new Set<string>();
  const objectTypes = new Set<string>(config.imageClasses.flatMap(defaultObjectType));
  const missing: ImageKey[] = [];
  // Found under another extension of their type (`.tif` that Python 3.6 wrote for `.tiff`).
  const otherExtension: Array<{ key: ImageKey; extension: string }> = [];
  const unreadable: Array<{ image: ImageEntity; error: Error }> = [];
  let checked = 0;
  const total = (await Promise.all(config.imageClasses.map((cls) => countOf(cls, config)))).reduce((a, b) => a + b, 0);
  const progress = out.progress('verify', total);
  try {
    for (const cls of config.imageClasses) {
      await forEachConcurrently(pagedRows(cls, { knex: config.knex, pageSize: 500 }), STAT_CONCURRENCY, async (image) => {
        let key: ImageKey;
        try {
          key = keyOf(image);
          if (wantOrphans) {
            referenced.add(keyString(key));
            objectTypes.add(key.objectType);
          }
          const stat = await store.statFile(key);
          if (stat === null) missing.push(key);
          else if (stat.extension !== undefined) otherExtension.push({ key, extension: stat.extension });
        } catch (error) {
          unreadable.push({ image, error: error as Error });
        }
        progress.update(++checked);
      });
    }
  } finally {
    progress.stop();
  }
  // Checked concurrently, so found in no set order: sort for stable output.
  missing.sort((a, b) => (keyString(a) < keyString(b) ? -1 : 1));
  for (const key of missing) out.line(`missing: ${describeKey(key)}`);
  otherExtension.sort((a, b) => (keyString(a.key) < keyString(b.key) ? -1 : 1));
  for (const { key, extension } of otherExtension) {
    out.line(`other extension: ${describeKey(key)} is stored as ${extension} (it reads; its URL names ${extensionFor(key.mimetype)}: migrate to rename it)`);
  }
  for (const { image, error } of unreadable) out.line(`error: ${image.constructor.name} ${JSON.stringify(image.$id())}: ${jsonError(error).code}: ${error.message}`);
  out.line(`Checked ${checked} images in ${storeName}: ${missing.length} missing${unreadable.length ? `, ${unreadable.length} could not be checked` : ''}.`);

  const orphans: NormalizedKey[] = [];
  let deleted = 0;
  if (wantOrphans) {
    for await (const key of store.listFiles()) {
      if (objectTypes.has(key.objectType) && !referenced.has(keyString(key))) orphans.push(key);
    }
    for (const key of orphans) {
      if (flags.delete) {
        await store.deleteFile(key);
        deleted++;
        out.line(`deleted orphan: ${describeKey(key)}`);
      } else {
        out.line(`orphan: ${describeKey(key)}`);
      }
    }
    out.line(
      `${orphans.length} orphan files (no row points to them)` +
        (flags.delete ? `, ${deleted} deleted.` : orphans.length ? '; pass --delete to delete them.' : '.'),
    );
  }
  out.result({
    command: 'verify',
    store: storeName,
    checked,
    missing: missing.map(jsonKey),
    otherExtension: otherExtension.map(({ key, extension }) => ({ ...jsonKey(key), extension })),
    errors: unreadable.map(({ image, error }) => ({ row: image.$id(), error: jsonError(error) })),
    orphans: wantOrphans ? orphans.map(jsonKey) : null,
    deleted,
  });
  return missing.length > 0 || unreadable.length > 0 ? EXIT.PROBLEMS : EXIT.OK;
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

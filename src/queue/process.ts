/**
 * What a worker does with one thumbnail job, apart from BullMQ: render the thumbnail ahead (no
 * lock held), then load the owner, check that the original is still the one the job was enqueued
 * for, and store the thumbnail, all in one transaction that holds a share lock on the original
 * (see `entity/locks.ts`).
 */
import type { Knex } from 'knex';
import type { Model } from 'objection';
import { withStore } from '../context.js';
import { ImageAttachError, InvalidImageError } from '../errors.js';
import { filesSettled, imageSet } from '../entity/index.js';
import {
  generateThumbnailFrom,
  lockedImage,
  lockForWriting,
  makeVariantOutputs,
  type RenderedAhead,
  renderThumbnailAhead,
  type Subset,
  variantDeclarations,
} from '../entity/worker-api.js';
import type { Store } from '../stores/store.js';
import { decodeValue, isSameOriginal, type ThumbnailJobData, type VariantJobData } from './job.js';

/** Why a job made nothing, though it succeeded. */
export type SkipReason = 'owner-gone' | 'original-gone' | 'original-replaced';

/** What a job did; BullMQ keeps it as the job's return value. */
export type ThumbnailJobResult =
  | { status: 'created' | 'existing'; width: number; height: number; mimetype: string }
  | { status: 'skipped'; reason: SkipReason };

/** What a variant job did: how many outputs it made (0: all were there already). */
export type VariantJobResult =
  { status: 'created' | 'existing'; variants: string[]; made: number } | { status: 'skipped'; reason: SkipReason };

/** The result of any job. */
export type JobResult = ThumbnailJobResult | VariantJobResult;

/** The model classes and stores jobs may name. */
export interface JobRegistry {
  models: Readonly<Record<string, typeof Model>>;
  stores: Readonly<Record<string, Store>>;
}

/**
 * Runs one job. A job whose owner or original is gone, or whose original was replaced, succeeds
 * with `status: 'skipped'` and its reason; a thumbnail already there is `'existing'`.
 * @throws ImageAttachError `ERR_QUEUE_JOB_INVALID` for a model or store this process does not know;
 *   whatever making the thumbnail throws (the worker retries those that may pass next time)
 */
export async function runThumbnailJob(data: ThumbnailJobData, registry: JobRegistry): Promise<ThumbnailJobResult> {
  const ownerClass = registry.models[data.model];
  if (ownerClass === undefined) throw unknown('model', data.model, registry.models);
  const store = registry.stores[data.store];
  if (store === undefined) throw unknown('store', data.store, registry.stores);
  const id = decodeValue(data.id);
  const subset = Object.fromEntries(Object.entries(data.subset).map(([column, value]) => [column, decodeValue(value)]));
  const expected = data.original;
  if (ownerClass.getRelations()[data.relation] === undefined)
    throw unknown('relation', data.relation, ownerClass.getRelations());

  return withStore(store, async () => {
    // A head start, before any lock: the thumbnail of the original the job names, rendered into a
    // temp file, so the transaction below holds the database (SQLite: all of it) for rows and a
    // file copy, not for the resize. Under the lock it is used only if it is of the original found
    // there; whatever went wrong here, the transaction renders itself and meets the real error.
    const ahead = await renderJobAhead(ownerClass, id, data, subset, store).catch(() => undefined);
    let transaction: Knex.Transaction | undefined;
    try {
      return await ownerClass.transaction(async (trx): Promise<ThumbnailJobResult> => {
        transaction = trx;
        // SQLite locks the whole database, and only a transaction that starts by writing can wait for
        // it: lock through a set of the relation before reading the owner (no owner row needed for that).
        await lockForWriting(imageSet(new ownerClass(), data.relation, subset), trx);
        const owner = await ownerClass.query(trx).findById(id as never);
        if (owner === undefined) return { status: 'skipped', reason: 'owner-gone' };
        const set = imageSet(owner as Model, data.relation, subset);
        // Before: the original is the one the job names, and stays so until this commits.
        const original = await lockedImage(set, expected, trx);
        if (original === undefined || !isSameOriginal(original, expected)) {
          await set.load({ trx });
          return { status: 'skipped', reason: set.original === undefined ? 'original-gone' : 'original-replaced' };
        }
        await set.load({ trx });
        // generateThumbnail decides what answers the size (an image the set has, or a new one).
        const before = [...set.images];
        const thumbnail = await generateThumbnailFrom(
          set,
          data.size,
          { trx, store, format: data.format, background: data.background },
          ahead,
        );
        if (before.some((i) => i.width === thumbnail.width && i.height === thumbnail.height)) {
          return { status: 'existing', width: thumbnail.width, height: thumbnail.height, mimetype: thumbnail.mimetype };
        }

        // After: with the lock held this cannot fail; it is here so that a writer which bypasses
        // the lock makes the job fail (and its file go with the rollback) rather than attach a
        // thumbnail of an old original to a new one.
        if (!isSameOriginal(await lockedImage(set, expected, trx), expected)) {
          throw new ImageAttachError(
            'ERR_ORIGINAL_REPLACED',
            `The original of ${data.model} ${JSON.stringify(data.id)} ${data.relation} was replaced while its thumbnail was made`,
          );
        }
        return { status: 'created', width: thumbnail.width, height: thumbnail.height, mimetype: thumbnail.mimetype };
      });
    } finally {
      // The transaction is over; wait for its file work (removals, or undoing after a rollback).
      if (transaction !== undefined) await filesSettled(transaction);
      await ahead?.dispose();
    }
  });
}

/**
 * Runs one variant job: makes the outputs of its variants the set's current original lacks.
 * Idempotent: run again (a retry, a second job), it finds them made and makes nothing. A job whose
 * owner or original is gone, or whose original was replaced, succeeds with `status: 'skipped'`
 * (the replacement's own outputs are another job's).
 * @throws ImageAttachError `ERR_QUEUE_JOB_INVALID` for an unknown model, store, relation or variant
 */
export async function runVariantJob(data: VariantJobData, registry: JobRegistry): Promise<VariantJobResult> {
  const ownerClass = registry.models[data.model];
  if (ownerClass === undefined) throw unknown('model', data.model, registry.models);
  const store = registry.stores[data.store];
  if (store === undefined) throw unknown('store', data.store, registry.stores);
  if (ownerClass.getRelations()[data.relation] === undefined)
    throw unknown('relation', data.relation, ownerClass.getRelations());
  const subset = Object.fromEntries(Object.entries(data.subset).map(([column, value]) => [column, decodeValue(value)]));
  return withStore(store, async () => {
    const owner = await ownerClass.query().findById(decodeValue(data.id) as never);
    if (owner === undefined) return { status: 'skipped', reason: 'owner-gone' };
    const set = await imageSet(owner as Model, data.relation, subset).load();
    if (!isSameOriginal(set.original, data.original)) {
      return { status: 'skipped', reason: set.original === undefined ? 'original-gone' : 'original-replaced' };
    }
    const declared = variantDeclarations(set);
    for (const name of data.variants) {
      if (!declared.has(name)) throw unknown('variant', name, Object.fromEntries(declared));
    }
    let made = 0;
    for (const name of data.variants) {
      // What the loaded set lacks; makeVariantOutputs checks again in its transaction and makes only that.
      const missing = set.variant(name).missing;
      if (missing.length === 0) continue;
      const stored = await makeVariantOutputs(set, name);
      made += stored.filter((o) => missing.some((m) => m.descriptor === o.descriptor && m.format === o.format)).length;
    }
    return { status: made > 0 ? 'created' : 'existing', variants: data.variants, made };
  });
}

/**
 * The job's thumbnail rendered ahead, outside any transaction: nothing when the owner is gone,
 * its original is not the job's, or the thumbnail is there already (the transaction decides).
 */
async function renderJobAhead(
  ownerClass: typeof Model,
  id: unknown,
  data: ThumbnailJobData,
  subset: Subset,
  store: Store,
): Promise<RenderedAhead | undefined> {
  const owner = await ownerClass.query().findById(id as never);
  if (owner === undefined) return undefined;
  const set = await imageSet(owner, data.relation, subset).load();
  if (!isSameOriginal(set.original, data.original)) return undefined;
  return renderThumbnailAhead(set, data.size, { store, format: data.format, background: data.background });
}

/**
 * True for errors that no retry can cure: bad job data, a size or format the original cannot
 * have, an original that cannot be decoded (`ERR_ORIGINAL_UNREADABLE` too) or is over the pixel limit.
 */
export function isPermanent(error: unknown): boolean {
  if (!(error instanceof ImageAttachError)) return false;
  if (error instanceof InvalidImageError) return true;
  return [
    'ERR_QUEUE_JOB_INVALID',
    'ERR_INVALID_ARGUMENT',
    'ERR_NO_OBJECT_ID',
    'ERR_UNKNOWN_MIMETYPE',
    'ERR_IMAGE_SET_NOT_LOADED',
    'ERR_ORIGINAL_UNREADABLE',
  ].includes(error.code);
}

function unknown(what: string, name: string, known: object): ImageAttachError {
  return new ImageAttachError(
    'ERR_QUEUE_JOB_INVALID',
    `Invalid thumbnail job: this worker knows no ${what} named ${JSON.stringify(name)} (it knows ${Object.keys(known).join(', ') || 'none'})`,
  );
}

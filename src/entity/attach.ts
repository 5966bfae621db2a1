/**
 * Attaching an original (and, if asked, its thumbnails) to an image set: the bytes are checked
 * first, the thumbnails rendered, and only then does a transaction replace the whole set, so the
 * database is held for rows and file copies, never for decoding.
 */
import { Readable } from 'node:stream';
import { setTimeout } from 'node:timers/promises';
import type { Knex } from 'knex';
import type { Model } from 'objection';
import { sharp } from '../imaging/sharp.js';
import { InvalidArgumentError } from '../errors.js';
import * as check from '../util/check.js';
import { STRIPPABLE_TYPES, withoutMetadata } from '../imaging/metadata-strip.js';
import { checkProbed, type ImageLimits, type ProbedImage, probeImage, proveWhole } from '../imaging/probe.js';
import {
  checkThumbnailSpecs,
  planThumbnails,
  type RenderedThumbnail,
  renderThumbnails,
} from '../imaging/thumbnail-batch.js';
import { toDate } from '../stores/keys.js';
import { createdAtForInsert, createdAtUnit } from './created-at.js';
import { spoolToTempFile } from '../util/spool.js';
import type { Store } from '../stores/store.js';
import { concreteStore, type ImageEntity } from './image.js';
import { FileLedger } from './ledger.js';
import type { AttachOptions } from './set-options.js';
import type { SetRows } from './set-rows.js';
import { renderFromOneDecode } from '../imaging/thumbnail-batch.js';
import type { RenderedVariant, VariantJob } from '../imaging/variant-render.js';
import { resolveOutputs } from '../imaging/variant-recipe.js';
import { afterCommit } from './make-variants.js';
import { type SetMeta, upsertMeta } from './set-meta.js';
import { rememberVariantData } from './variant-eager.js';
import { dropVariantRows, hasVariantTables } from './variant-lifecycle.js';
import { enqueueVariants } from './variant-queue-hook.js';
import { insertVariantRow, variantFileKey, type VariantRow } from './variant-rows.js';

/**
 * Replaces the set of `rows` with `input` (a local file path or the bytes, of `size` bytes) as
 * its original, plus the thumbnails of `options.thumbnails`: all stored, or none.
 * @throws InvalidImageError when the bytes are rejected; InvalidArgumentError for a bad option
 */
export async function attachOriginal(
  rows: SetRows,
  input: string | Buffer,
  size: number,
  options: AttachOptions,
): Promise<ImageEntity> {
  const limits = rows.limits(options);
  const specs = checkThumbnailSpecs(options.thumbnails);
  // The header first (type, size, pixel limits: no decoding). The one decode that proves the bytes
  // whole comes after the metadata is removed, of the bytes to store: they are what must decode.
  const probed =
    options.probed === undefined
      ? await probeImage(input, size, limits, { decode: false })
      : reuseProbe(options.probed, size, limits);
  const store = concreteStore(options.store);
  const stored = await originalToStore(input, probed, options.keepMetadata, options.tempDir).catch(
    async (error: unknown) => {
      // Bytes the metadata walk could not follow: when they do not decode either, that is the error.
      await proveWhole(input, limits.maxPixels);
      throw error;
    },
  );
  try {
    const data = stored.data;
    // Every frame of an animation, which its thumbnails decode (a still decode reads the first).
    const animated = probed.pixels > probed.width * probed.height;
    let thumbnails: RenderedThumbnail[] = [];
    let variants: RenderedVariant[] = [];
    const jobs = uploadJobs(rows, probed.mimetype);
    if (jobs.length > 0) {
      // The thumbnails and the upload-time variants from one decode of the bytes to store.
      const planned = specs === undefined ? [] : planThumbnails(specs, probed);
      ({ thumbnails, variants } = await renderFromOneDecode(
        data,
        probed,
        { thumbnails: planned, variants: jobs, frame: {} },
        limits.maxPixels,
      ));
      if (animated) await proveWhole(data, limits.maxPixels, { animated });
    } else if (specs !== undefined) {
      // Their render is the decode (from the bytes to store: the same pixels, orientation and profile).
      thumbnails = await renderThumbnails(data, probed, planThumbnails(specs, probed), limits.maxPixels);
      if (animated) await proveWhole(data, limits.maxPixels, { animated });
    } else if (data !== input || probed.decoded === false) {
      // Not decoded yet (a caller's probe that decoded the input proves it, unless it was changed).
      await proveWhole(data, limits.maxPixels, { animated });
    }
    return await attachProven(rows, data, probed, { thumbnails, variants }, store, options);
  } finally {
    await stored.dispose();
  }
}

/** Replaces the set with the proven original `data` (and its rendered thumbnails), in one transaction. */
async function attachProven(
  rows: SetRows,
  data: string | Buffer,
  probed: ProbedImage,
  rendered: { thumbnails: RenderedThumbnail[]; variants: RenderedVariant[] },
  store: Store,
  options: AttachOptions,
): Promise<ImageEntity> {
  const { mimetype, width, height } = probed;
  const { thumbnails } = rendered;
  const withVariants = hasVariantTables(rows);
  let stored: { variants: VariantRow[]; meta: SetMeta } | undefined;
  if (options.trx === undefined) await clockPastSet(rows);
  const images = await rows.inTransaction(
    options.trx,
    async (trx) => {
      // Wait for thumbnails being made of the old original, so the delete below sees them too.
      const previous = await rows.lockSet(trx);
      // The old set's rows go now; the image hooks send their files after the commit.
      await rows.setQuery(trx).delete().context({ store });
      // The old set's variants and meta row too (their files after the commit).
      if (withVariants) await dropVariantRows(trx, rows, store);
      const created_at = await laterThan(trx, rows.info.imageClass.tableName, previous);
      const original = await rows.insert(trx, { mimetype, width, height, original: true, created_at });
      const made: ImageEntity[] = [];
      for (const t of thumbnails)
        made.push(
          await rows.insert(trx, {
            mimetype: t.mimetype,
            width: t.width,
            height: t.height,
            original: false,
            created_at,
          }),
        );
      const variantFiles: [VariantRow, Buffer][] = [];
      if (withVariants) {
        const meta = await upsertMeta(trx, rows, original, uprightOf(probed), {});
        for (const output of rendered.variants) {
          const row = await insertVariantRow(trx, rows, {
            name: output.variant,
            descriptor: output.descriptor,
            format: output.format,
            width: output.width,
            height: output.height,
            mimetype: output.mimetype,
            digest: output.digest,
            sourceCreatedAt: created_at,
          });
          variantFiles.push([row, output.data]);
        }
        stored = { variants: variantFiles.map(([row]) => row), meta };
      }
      const ledger = FileLedger.of(trx);
      // Side by side; every write settles before the transaction ends, so a rollback after a failed
      // one sees (and removes) every file the others wrote.
      const writes = await Promise.allSettled([
        // A stream per run of the transaction: a run after a deadlock reads the bytes again.
        ledger.write(store, original, typeof data === 'string' ? data : Readable.from([data]), { reproducible: false }),
        ...made.map((row, i) => ledger.write(store, row, Readable.from([thumbnails[i]!.data]), { reproducible: true })),
        ...variantFiles.map(([row, bytes]) =>
          ledger.write(store, variantFileKey(original, row), Readable.from([bytes]), { reproducible: true }),
        ),
      ]);
      const failed = writes.find((w): w is PromiseRejectedResult => w.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
      if (withVariants) {
        const queued = [...rows.info.variants.values()].filter((v) => v.make === 'queue').map((v) => v.name);
        const { owner, relationName, subset } = rows;
        // `make: 'queue'` outputs: handed to the queue (if one is bound) once the rows are committed.
        if (queued.length > 0)
          afterCommit(trx, () => enqueueVariants({ owner, relationName, subset, names: queued, store }));
      }
      return [original, ...made];
    },
    { uniqueRace: true },
  );
  if (stored !== undefined) rememberVariantData(images[0]!, stored);
  rows.replaceLoaded(images);
  return images[0]!;
}

/**
 * The bytes to store as the original: the input, without its metadata unless told to keep it. A
 * file's stripped bytes are spooled to a temp file (in `tempDir`), so they can be decoded before
 * they are stored; `dispose()` removes it.
 */
async function originalToStore(
  input: string | Buffer,
  probed: ProbedImage,
  keepMetadata: boolean | undefined,
  tempDir: string | undefined,
): Promise<{ data: string | Buffer; dispose: () => Promise<void> }> {
  if (keepMetadata !== undefined) check.boolean(keepMetadata, 'options.keepMetadata');
  const stripped =
    keepMetadata === true
      ? undefined
      : await withoutMetadata(
          input,
          probed.mimetype,
          probed.orientation ?? (await orientationOf(input, probed.mimetype)),
        );
  const data = stripped?.data ?? input;
  if (typeof data === 'string' || Buffer.isBuffer(data)) return { data, dispose: async () => {} };
  const spooled = await spoolToTempFile(data, Number.MAX_SAFE_INTEGER, tempDir);
  return { data: spooled.path, dispose: () => spooled.dispose() };
}

/** An earlier probe given by the caller may lack the orientation: read it from the header. */
async function orientationOf(input: string | Buffer, mimetype: string): Promise<number | undefined> {
  if (!STRIPPABLE_TYPES.includes(mimetype)) return undefined;
  return (await sharp(input, { limitInputPixels: false }).metadata()).orientation;
}

/**
 * The `created_at` of a replacement's rows: as `$beforeInsert` makes it (the column's precision,
 * the session's zone), but always later than the newest of the rows it replaces, so its URLs
 * (`?_ts=`) change and a row tells which write of its key it is (see `staged-writes.ts`). When the
 * clock has not moved past them (same second in a whole-second column, and another replacement
 * took this one), it is the column's next value: a little ahead of the clock, never a wait with
 * the set's locks held.
 */
async function laterThan(trx: Knex.Transaction, table: string, previous: ImageEntity[]): Promise<Date> {
  return createdAtForInsert(trx, table, newestOf(previous));
}

function newestOf(images: ImageEntity[]): number {
  return Math.max(0, ...images.map((row) => toDate(row.created_at).getTime()));
}

/**
 * Before a replacement takes its locks: where the column is coarser than the clock (MySQL's
 * whole-second DATETIME, as SQLAlchemy makes it), waits, holding no lock nor connection, until the
 * clock passes the set's newest row, so its `created_at` is the time it was made (one second at
 * most). Replacements racing for the same second then each take the next value (see laterThan).
 */
async function clockPastSet(rows: SetRows): Promise<void> {
  const cls = rows.info.imageClass as unknown as typeof Model;
  const unit = await createdAtUnit(cls.knex(), cls.tableName);
  if (unit <= 1) return;
  const next = (Math.floor(newestOf((await rows.setQuery(undefined)) as unknown as ImageEntity[]) / unit) + 1) * unit;
  const wait = next - Date.now();
  // A newest row further ahead than one step is not the clock's to catch up with.
  if (wait > 0 && wait <= unit) await setTimeout(wait);
}

/** An earlier probe of the same bytes, checked for shape, size and this set's limits. */
function reuseProbe(probed: ProbedImage, size: number, limits: ImageLimits): ProbedImage {
  const positive = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 1;
  if (
    probed === null ||
    typeof probed !== 'object' ||
    typeof probed.mimetype !== 'string' ||
    ![probed.width, probed.height, probed.pixels].every(positive)
  ) {
    throw new InvalidArgumentError(
      'options.probed',
      'the result of probing this file ({ mimetype, width, height, size, pixels })',
      probed,
    );
  }
  if (probed.size !== size)
    throw new InvalidArgumentError('options.probed.size', `${size} (the size of the file attached)`, probed.size);
  checkProbed(probed, limits);
  return probed;
}

/** The `make: 'upload'` variants of the relation, with every output, for an original of `mimetype`. */
function uploadJobs(rows: SetRows, mimetype: string): VariantJob[] {
  return [...rows.info.variants.values()]
    .filter((variant) => variant.make === 'upload')
    .map((variant) => ({ variant, outputs: resolveOutputs(variant, mimetype) }));
}

/** The picture's displayed size: the probe's, which already applies the EXIF orientation (probe.ts). */
function uprightOf(probed: ProbedImage): { width: number; height: number } {
  return { width: probed.width, height: probed.height };
}

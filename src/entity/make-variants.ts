/**
 * Making a set's variant outputs after the attach: rendered from the stored original outside the
 * transaction, then stored (rows and files) in one. What `generateVariants`, `findOrCreateVariant`,
 * the queue, the variant route and the CLI share; and the focal point and crop, which remake the
 * outputs they affect.
 */
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import type { Knex } from 'knex';
import { ImageAttachError, ImageNotFoundError, InvalidArgumentError } from '../errors.js';
import { sharp } from '../imaging/sharp.js';
import { type RenderedVariant, renderVariants, type VariantJob } from '../imaging/variant-render.js';
import {
  type CropRect,
  type FocalPoint,
  type NormalizedVariant,
  type ResolvedOutput,
  resolveFormat,
  resolveOutputs,
  type VariantFormat,
} from '../imaging/variant-recipe.js';
import type { Store } from '../stores/store.js';
import type { ImageEntity } from './image.js';
import { FileLedger, transactionOutcome } from './ledger.js';
import { readCurrentMeta, type SetMeta, upsertMeta } from './set-meta.js';
import type { SetRows } from './set-rows.js';
import { loadedVariantData, rememberVariantData } from './variant-eager.js';
import {
  deleteVariantRows,
  insertVariantRow,
  readVariantRows,
  scheduleVariantFileDeletes,
  variantFileKey,
  type VariantRow,
} from './variant-rows.js';
import { madeOf, toOutput, type VariantOutput } from './variants.js';
import { sameInstant } from './set-meta.js';
import { toDate } from '../stores/keys.js';

/** Which outputs of a variant to make: all of them, those with no row of the current original, or the recipe-stale ones. */
export type MakeWhich = 'all' | 'missing' | 'stale';

export interface VariantRequest {
  variant: NormalizedVariant;
  /** Only these of its outputs (by descriptor and format); all when left out. */
  outputs?: readonly Pick<ResolvedOutput, 'descriptor' | 'format'>[];
}

/** A store write of rendered outputs, made ready before the transaction. */
interface MakeOptions {
  trx?: Knex.Transaction;
  store: Store;
  which: MakeWhich;
}

/**
 * Makes the outputs of `requests` that `which` picks, of the set's current original, and stores
 * them: rows and files in one transaction (`trx`, or one of its own), source-stale rows of those
 * variants deleted with their files after the commit.
 * @returns the requested outputs as stored afterwards
 * @throws ImageNotFoundError when the set has no original; ImageAttachError `ERR_ORIGINAL_REPLACED`
 *   when it was replaced while the outputs were rendered
 */
export async function makeVariants(
  rows: SetRows,
  requests: readonly VariantRequest[],
  options: MakeOptions,
): Promise<VariantOutput[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await makeVariantsOnce(rows, requests, options);
    } catch (error) {
      // The focal point or crop moved while we rendered: render again with the new one (our own
      // transaction only; a caller's sees the error).
      if (!(error instanceof FrameMoved) || options.trx !== undefined || attempt >= 3) throw error;
    }
  }
}

/** The focal point or crop changed between the render and the transaction that would store it. */
class FrameMoved extends ImageAttachError {
  constructor(rows: SetRows) {
    super(
      'ERR_ORIGINAL_REPLACED',
      `The focal point or crop of ${rows.describe()} changed while its variants were being made: ask again`,
      { statusCode: 409 },
    );
  }
}

async function makeVariantsOnce(
  rows: SetRows,
  requests: readonly VariantRequest[],
  options: MakeOptions,
): Promise<VariantOutput[]> {
  const original = await currentOriginal(rows, options.trx);
  const loaded = loadedVariantData(original);
  const knex = options.trx ?? (rows.info.imageClass as unknown as { knex(): Knex }).knex();
  const before = loaded?.variants ?? (await readVariantRows(knex, rows));
  const meta = loaded
    ? loaded.meta && sameInstant(loaded.meta.sourceCreatedAt, toDate(original.created_at))
      ? loaded.meta
      : undefined
    : await readCurrentMeta(knex, rows, original);
  const jobs = planJobs(requests, original, before, options.which);
  let made: VariantRow[] = [];
  if (jobs.length > 0) {
    const input = await buffer(await original.openFile({ store: options.store }));
    const rendered = await renderVariants(
      input,
      {
        mimetype: original.mimetype,
        width: original.width,
        height: original.height,
        pixels: original.width * original.height,
      },
      jobs,
      { focal: meta?.focal, crop: meta?.crop },
      rows.limits({}).maxPixels,
    );
    const upright = meta ? { width: meta.sourceWidth, height: meta.sourceHeight } : await uprightSize(input);
    made = await rows.inTransaction(
      options.trx,
      async (trx) => {
        if (options.trx === undefined) {
          await rows.lockOwnerShared(trx);
          if (!(await rows.holdsOriginal(trx, original))) throw originalReplaced(rows);
          // What a setFocalPoint/setCrop committed meanwhile (it locks the set first) is seen now.
          const now = await readCurrentMeta(trx, rows, original);
          if (!sameFrame(now, meta)) throw new FrameMoved(rows);
        }
        return storeRendered(trx, rows, original, rendered, requests, options, meta ? undefined : upright);
      },
      { uniqueRace: true },
    );
  }
  const after = mergeRows(before, made);
  rememberIfLoaded(rows, original, after, meta);
  return requestedOutputs(requests, original, after);
}

/** The set's original, read now (in `trx` if given) with its variant and meta rows. */
export async function currentOriginal(rows: SetRows, trx: Knex.Transaction | undefined): Promise<ImageEntity> {
  const table = rows.info.imageClass.tableName;
  const original = (await rows.setQuery(trx).where(`${table}.original`, true).first()) as unknown as
    ImageEntity | undefined;
  if (original === undefined) throw new ImageNotFoundError(`${rows.describe()} has no original image`);
  return original;
}

function wanted(request: VariantRequest, output: ResolvedOutput): boolean {
  return (
    request.outputs === undefined ||
    request.outputs.some((o) => o.descriptor === output.descriptor && o.format === output.format)
  );
}

/** The row of `output` made of `original`, if any. */
function rowOf(rows: readonly VariantRow[], output: ResolvedOutput, original: ImageEntity): VariantRow | undefined {
  return rows.find(
    (r) =>
      r.name === output.variant &&
      r.descriptor === output.descriptor &&
      r.format === output.format &&
      madeOf(r, original),
  );
}

function needsMaking(row: VariantRow | undefined, output: ResolvedOutput, which: MakeWhich): boolean {
  if (which === 'all') return true;
  if (which === 'missing') return row === undefined;
  return row !== undefined && row.digest !== output.digest;
}

function planJobs(
  requests: readonly VariantRequest[],
  original: ImageEntity,
  rows: readonly VariantRow[],
  which: MakeWhich,
): VariantJob[] {
  return requests
    .map((request) => ({
      variant: request.variant,
      outputs: resolveOutputs(request.variant, original.mimetype).filter(
        (output) => wanted(request, output) && needsMaking(rowOf(rows, output, original), output, which),
      ),
    }))
    .filter((job) => job.outputs.length > 0);
}

/**
 * In `trx`: deletes the requested variants' rows made of another original, and stores each
 * rendered output that is still to be made (another writer may have stored it meanwhile), its
 * file through the ledger. With `upright`, the set's meta row is made too.
 */
async function storeRendered(
  trx: Knex.Transaction,
  rows: SetRows,
  original: ImageEntity,
  rendered: readonly RenderedVariant[],
  requests: readonly VariantRequest[],
  options: MakeOptions,
  upright: { width: number; height: number } | undefined,
): Promise<VariantRow[]> {
  const names = requests.map((r) => r.variant.name);
  const existing = await readVariantRows(trx, rows, names);
  const sourceStale = existing.filter((r) => !madeOf(r, original));
  scheduleVariantFileDeletes(trx, rows, await deleteVariantRows(trx, rows, sourceStale), options.store);
  if (upright !== undefined) await upsertMeta(trx, rows, original, upright, {});
  const made: VariantRow[] = [];
  const ledger = FileLedger.of(trx);
  const writes: Promise<void>[] = [];
  for (const output of rendered) {
    const resolved = {
      variant: output.variant,
      descriptor: output.descriptor,
      format: output.format,
      digest: output.digest,
    };
    const current = rowOf(existing, resolved as ResolvedOutput, original);
    if (current !== undefined && !needsMaking(current, resolved as ResolvedOutput, options.which)) {
      // Another writer stored it since the plan was made: theirs is the output.
      made.push(current);
      continue;
    }
    // Its file stays: of the same recipe, the new bytes overwrite it (same key); of another, it is
    // superseded, left for `clean --superseded --min-age` so pages cached with its URL still load.
    if (current !== undefined) await deleteVariantRows(trx, rows, [current]);
    const row = await insertVariantRow(trx, rows, {
      name: output.variant,
      descriptor: output.descriptor,
      format: output.format,
      width: output.width,
      height: output.height,
      mimetype: output.mimetype,
      digest: output.digest,
      sourceCreatedAt: toDate(original.created_at),
    });
    made.push(row);
    writes.push(
      ledger.write(options.store, variantFileKey(original, row), Readable.from([output.data]), { reproducible: true }),
    );
  }
  // Every write settles before the transaction ends, so a rollback sees (and removes) every file.
  const failed = (await Promise.allSettled(writes)).find((w): w is PromiseRejectedResult => w.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return made;
}

/** `before` with the rows of `made` in place of those of the same outputs, and source-stale rows of their variants gone. */
function mergeRows(before: readonly VariantRow[], made: readonly VariantRow[]): VariantRow[] {
  const same = (a: VariantRow, b: VariantRow) =>
    a.name === b.name && a.descriptor === b.descriptor && a.format === b.format;
  return [...before.filter((r) => !made.some((m) => same(r, m))), ...made];
}

function requestedOutputs(
  requests: readonly VariantRequest[],
  original: ImageEntity,
  rows: readonly VariantRow[],
): VariantOutput[] {
  const outputs: VariantOutput[] = [];
  for (const request of requests) {
    for (const output of resolveOutputs(request.variant, original.mimetype)) {
      if (!wanted(request, output)) continue;
      const row = rowOf(rows, output, original);
      if (row !== undefined) outputs.push(toOutput(original, row));
    }
  }
  return outputs;
}

/** Updates the loaded relation's original (if it is this one) with the rows now stored. */
function rememberIfLoaded(
  rows: SetRows,
  original: ImageEntity,
  variants: VariantRow[],
  meta: SetMeta | undefined,
): void {
  if (!rows.isLoaded) return;
  const loaded = rows.loadedImages().find((image) => image.original);
  if (loaded === undefined || !sameInstant(toDate(loaded.created_at), toDate(original.created_at))) return;
  const data = loadedVariantData(loaded);
  rememberVariantData(loaded, { variants, meta: meta ?? data?.meta });
}

/** The picture's size as displayed (EXIF orientation applied), from its header. */
export async function uprightSize(input: string | Buffer): Promise<{ width: number; height: number }> {
  const { width = 1, height = 1, orientation } = await sharp(input, { limitInputPixels: false }).metadata();
  return orientation !== undefined && orientation >= 5 ? { width: height, height: width } : { width, height };
}

function sameFrame(a: SetMeta | undefined, b: SetMeta | undefined): boolean {
  const frame = (m: SetMeta | undefined) => JSON.stringify([m?.focal ?? null, m?.crop ?? null]);
  return frame(a) === frame(b);
}

function originalReplaced(rows: SetRows): ImageAttachError {
  return new ImageAttachError(
    'ERR_ORIGINAL_REPLACED',
    `The original of ${rows.describe()} was replaced while its variants were being made: ask again`,
    { statusCode: 409 },
  );
}

/**
 * Checks a focal point: fractions of the upright picture, 0–1.
 * @throws InvalidArgumentError naming the bad value
 */
export function checkFocalPoint(point: unknown): FocalPoint | null {
  if (point === null) return null;
  const p = point as FocalPoint;
  const fraction = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1;
  if (typeof point !== 'object' || !fraction(p.x) || !fraction(p.y)) {
    throw new InvalidArgumentError(
      'point',
      '{ x, y } with x and y fractions of the picture from 0 to 1 (or null)',
      point,
    );
  }
  return { x: p.x, y: p.y };
}

/**
 * Checks a crop rectangle: fractions of the upright picture, inside it and not empty.
 * @throws InvalidArgumentError naming the bad value
 */
export function checkCropRect(rect: unknown): CropRect | null {
  if (rect === null) return null;
  const r = rect as CropRect;
  const finite = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  const EPSILON = 1e-9;
  if (
    typeof rect !== 'object' ||
    ![r.left, r.top, r.width, r.height].every(finite) ||
    r.left < 0 ||
    r.top < 0 ||
    r.width <= 0 ||
    r.height <= 0 ||
    r.left + r.width > 1 + EPSILON ||
    r.top + r.height > 1 + EPSILON
  ) {
    throw new InvalidArgumentError(
      'rect',
      '{ left, top, width, height }: fractions of the picture, inside it (left + width ≤ 1, top + height ≤ 1) and not empty (or null)',
      rect,
    );
  }
  return { left: r.left, top: r.top, width: r.width, height: r.height };
}

/** Which variants a change of the focal point or of the crop affects. */
export function affectedBy(variants: Iterable<NormalizedVariant>, change: 'focal' | 'crop'): NormalizedVariant[] {
  // The focal point places the window of a cover crop; the other fits keep the whole picture.
  return [...variants].filter((v) =>
    change === 'focal' ? v.position === 'focal' && v.fit === 'cover' : v.crop === 'user',
  );
}

/** Runs `work` once `trx` has committed (never if it rolls back). */
export function afterCommit(trx: Knex.Transaction, work: () => void | Promise<void>): void {
  const ledger = FileLedger.of(trx);
  void ledger.settled.then(async () => {
    if (transactionOutcome(trx) === 'committed') await work();
  });
}

/**
 * The output of `variant` (for an original of `mimetype`) that `wanted` names: by descriptor
 * (`2x`, `640w`), by width in pixels, by format (`auto` is the original's family); the first
 * declared output that matches.
 * @throws InvalidArgumentError when none matches
 */
export function pickOutput(
  variant: NormalizedVariant,
  mimetype: string,
  wanted: { width?: number; descriptor?: string; format?: VariantFormat },
): ResolvedOutput {
  const format = wanted.format === undefined ? undefined : resolveFormat(wanted.format, mimetype, variant.animated);
  const outputs = resolveOutputs(variant, mimetype);
  const found = outputs.find(
    (o) =>
      (wanted.descriptor === undefined || o.descriptor === wanted.descriptor) &&
      (wanted.width === undefined || o.boxWidth === wanted.width) &&
      (format === undefined || o.format === format),
  );
  if (found === undefined) {
    throw new InvalidArgumentError(
      'output',
      `one of the outputs of variant ${variant.name} (${outputs.map((o) => `${o.descriptor} ${o.format} ${o.boxWidth}px`).join(', ')})`,
      wanted,
    );
  }
  return found;
}

/**
 * A set's named variants as loaded (no query, no store I/O): which outputs exist for the current
 * original, which are missing, which were made by an older recipe; and the focal point, crop and
 * placeholder of the current original. Only rows made of the loaded original count: after a
 * replacement (ours or Python's) the old outputs are never served.
 */
import { ImageAttachError, ImageNotFoundError, InvalidArgumentError } from '../errors.js';
import {
  type CropRect,
  type FocalPoint,
  type NormalizedVariant,
  outputDimensions,
  type ResolvedOutput,
  resolveOutputs,
} from '../imaging/variant-recipe.js';
import { type ImageKey, toDate } from '../stores/keys.js';
import { concreteStore, type ImageEntity, type StoreOption } from './image.js';
import { type Placeholder, sameInstant, type SetMeta } from './set-meta.js';
import type { SetRows } from './set-rows.js';
import { type LoadedVariantData, loadedVariantData } from './variant-eager.js';
import { variantFileKey, type VariantRow } from './variant-rows.js';

/** One stored output of a variant. */
export interface VariantOutput {
  variant: string;
  /** `1x`, `2x`, `640w`: the srcset descriptor. */
  descriptor: string;
  format: ResolvedOutput['format'];
  width: number;
  height: number;
  mimetype: string;
  /** The recipe digest that made it (12 hex). */
  digest: string;
  created_at: Date;
  /** Its file's key in the store. */
  key: ImageKey;
  /** Its URL (with the `?_ts=` cache buster). No I/O. */
  locate(options?: StoreOption): string;
}

/** What a set has of one variant, for its current original. */
export interface VariantState {
  name: string;
  declaration: NormalizedVariant;
  /** The outputs made of the current original, in srcset order (recipe-stale ones included: served until remade). */
  outputs: VariantOutput[];
  /** The declared outputs with no row made of the current original. */
  missing: ResolvedOutput[];
  /** The outputs among `outputs` whose recipe digest is not the current recipe's. */
  stale: VariantOutput[];
  /** The CSS box: the 1× output's size (`x` descriptors) or the largest width's (`w`). */
  box: { width: number; height: number };
}

/**
 * The relation's declaration of variant `name`.
 * @throws InvalidArgumentError naming the declared variants when it declares none of that name
 */
export function declaredVariant(rows: SetRows, name: string): NormalizedVariant {
  const variant = typeof name === 'string' ? rows.info.variants.get(name) : undefined;
  if (variant === undefined) {
    const names = [...rows.info.variants.keys()];
    throw new InvalidArgumentError(
      'name',
      `a variant of ${rows.owner.constructor.name}.${rows.relationName} (${names.join(', ') || 'it declares none'})`,
      name,
    );
  }
  return variant;
}

/** The loaded variant and meta rows of `original`. @throws ImageAttachError when they were not loaded with it */
export function loadedData(rows: SetRows, original: ImageEntity): LoadedVariantData {
  const data = loadedVariantData(original);
  if (data === undefined) {
    throw new ImageAttachError(
      'ERR_IMAGE_SET_NOT_LOADED',
      `${rows.describe()}: its variants were not loaded with it: fetch owners with .withGraphFetched('${rows.relationName}') ` +
        `(without a select of the image columns), or await imageSet(owner, '${rows.relationName}').load()`,
    );
  }
  return data;
}

/** The meta row of `data` when it describes `original`. */
export function currentMeta(data: LoadedVariantData, original: ImageEntity): SetMeta | undefined {
  const meta = data.meta;
  return meta !== undefined && sameInstant(meta.sourceCreatedAt, toDate(original.created_at)) ? meta : undefined;
}

/** True when `row` was made of `original` (not of one it replaced). */
export function madeOf(row: VariantRow, original: ImageEntity): boolean {
  return sameInstant(row.sourceCreatedAt, toDate(original.created_at));
}

/** A variant row as an output of `original`'s set. */
export function toOutput(original: Pick<ImageEntity, 'objectType' | 'objectId'>, row: VariantRow): VariantOutput {
  const stored = variantFileKey(original, row);
  const key: ImageKey = {
    objectType: stored.objectType,
    objectId: stored.objectId,
    width: row.width,
    height: row.height,
    mimetype: row.mimetype,
  };
  return {
    variant: row.name,
    descriptor: row.descriptor,
    format: row.format,
    width: row.width,
    height: row.height,
    mimetype: row.mimetype,
    digest: row.digest,
    created_at: row.createdAt,
    key,
    locate: (options: StoreOption = {}) => concreteStore(options.store).locate(stored),
  };
}

/**
 * The state of variant `variant` of the set whose original is `original`, from `rows` (its
 * variant rows, whatever original they were made of) and `meta` (its current meta row, if any).
 */
export function variantStateOf(
  variant: NormalizedVariant,
  original: ImageEntity,
  variantRows: readonly VariantRow[],
  meta: SetMeta | undefined,
): VariantState {
  const resolved = resolvedOutputs(variant, original.mimetype);
  const outputs: VariantOutput[] = [];
  const stale: VariantOutput[] = [];
  const missing: ResolvedOutput[] = [];
  // The original's file identity, worked out once for all its outputs.
  let keyOf: Pick<ImageEntity, 'objectType' | 'objectId'> | undefined;
  for (const declared of resolved) {
    const row = variantRows.find(
      (r) =>
        r.name === variant.name &&
        r.descriptor === declared.descriptor &&
        r.format === declared.format &&
        madeOf(r, original),
    );
    if (row === undefined) {
      missing.push(declared);
      continue;
    }
    const output = toOutput((keyOf ??= { objectType: original.objectType, objectId: original.objectId }), row);
    outputs.push(output);
    if (row.digest !== declared.digest) stale.push(output);
  }
  return {
    name: variant.name,
    declaration: variant,
    outputs,
    missing,
    stale,
    box: boxOf(variant, resolved, outputs, original, meta),
  };
}

function boxOf(
  variant: NormalizedVariant,
  resolved: readonly ResolvedOutput[],
  outputs: readonly VariantOutput[],
  original: ImageEntity,
  meta: SetMeta | undefined,
): { width: number; height: number } {
  // The box's output: 1× (or the smallest density), or the largest width.
  const step =
    variant.descriptorKind === 'x' ? (variant.steps.includes(1) ? 1 : variant.steps[0]!) : variant.steps.at(-1)!;
  const descriptor = `${step}${variant.descriptorKind}`;
  const made = outputs.find((o) => o.descriptor === descriptor);
  const scale = variant.descriptorKind === 'x' ? step : 1;
  if (made !== undefined) return { width: Math.round(made.width / scale), height: Math.round(made.height / scale) };
  const declared = resolved.find((o) => o.descriptor === descriptor)!;
  let source = meta
    ? { width: meta.sourceWidth, height: meta.sourceHeight }
    : { width: original.width, height: original.height };
  if (meta?.crop !== undefined && variant.crop === 'user') {
    source = {
      width: Math.max(1, Math.round(source.width * meta.crop.width)),
      height: Math.max(1, Math.round(source.height * meta.crop.height)),
    };
  }
  const size = outputDimensions(variant, declared, source);
  return { width: Math.round(size.width / scale), height: Math.round(size.height / scale) };
}

const resolvedCache = new WeakMap<NormalizedVariant, Map<string, ResolvedOutput[]>>();

/** {@link resolveOutputs}, worked out once per variant and mimetype (a page asks it of every owner). */
export function resolvedOutputs(variant: NormalizedVariant, mimetype: string): ResolvedOutput[] {
  let byType = resolvedCache.get(variant);
  if (byType === undefined) resolvedCache.set(variant, (byType = new Map()));
  let outputs = byType.get(mimetype);
  if (outputs === undefined) byType.set(mimetype, (outputs = resolveOutputs(variant, mimetype)));
  return outputs;
}

/** The loaded set's state of variant `name`. @throws InvalidArgumentError, ImageNotFoundError, ImageAttachError (not loaded) */
export function loadedVariant(rows: SetRows, name: string, original: ImageEntity | undefined): VariantState {
  const variant = declaredVariant(rows, name);
  if (original === undefined)
    throw new ImageNotFoundError(`${rows.describe()} has no original image, so no variant ${name}`);
  const data = loadedData(rows, original);
  return variantStateOf(variant, original, data.variants, currentMeta(data, original));
}

/** The loaded set's frame and placeholder, for the current original only. */
export function loadedMeta(rows: SetRows, original: ImageEntity | undefined): SetMeta | undefined {
  if (original === undefined) return undefined;
  return currentMeta(loadedData(rows, original), original);
}

export type { CropRect, FocalPoint, Placeholder };

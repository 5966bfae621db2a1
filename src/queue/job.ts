/**
 * What a thumbnail job carries through Redis, and the id that makes it idempotent.
 *
 * Jobs travel as JSON, so owner ids and subset values are encoded first: a `bigint` (ids past
 * 2^53, UUIDs read as integers), a `Buffer` (binary UUID keys) or a `Date` would otherwise be lost
 * or refused. A composite id stays an array.
 */
import { createHash } from 'node:crypto';
import { ImageAttachError } from '../errors.js';
import type { ThumbnailBackground } from '../imaging/background.js';
import type { ThumbnailFormat, ThumbnailSize } from '../imaging/thumbnail.js';

/** A key value as JSON can carry it. */
export type EncodedValue =
  string | number | boolean | null | { $bigint: string } | { $buffer: string } | { $date: string } | EncodedValue[];

/** Which original a job was enqueued for: a replacement has another `createdAt` (and often size and type). */
export interface OriginalIdentity {
  width: number;
  height: number;
  mimetype: string;
  /** `created_at` as an ISO string (milliseconds, as the database driver returns it). */
  createdAt: string;
}

/** The data of a thumbnail job (version 1). */
export interface ThumbnailJobData {
  v: 1;
  /** The owner's model: a key of the queue's `models`. */
  model: string;
  /** The owner's `$id()`, encoded. */
  id: EncodedValue;
  relation: string;
  subset: Record<string, EncodedValue>;
  size: ThumbnailSize;
  format?: ThumbnailFormat;
  /** What transparency becomes in a format without alpha; absent: white. */
  background?: ThumbnailBackground;
  /** A key of the queue's `stores`. */
  store: string;
  original: OriginalIdentity;
}

/**
 * The data of a variant job (version 1): make the missing outputs of named variants of a set's
 * original. Its `kind` tells it from a thumbnail job, which has none (jobs queued before it existed).
 */
export interface VariantJobData {
  v: 1;
  kind: 'variant';
  model: string;
  id: EncodedValue;
  relation: string;
  subset: Record<string, EncodedValue>;
  /** The variant names, sorted. */
  variants: string[];
  store: string;
  original: OriginalIdentity;
}

/** Any job of the queue. */
export type JobData = ThumbnailJobData | VariantJobData;

/** Encodes a key value (or an array of them) for JSON. */
export function encodeValue(value: unknown): EncodedValue {
  if (typeof value === 'bigint') return { $bigint: value.toString() };
  if (Buffer.isBuffer(value)) return { $buffer: value.toString('base64') };
  if (value instanceof Date) return { $date: value.toISOString() };
  if (Array.isArray(value)) return value.map(encodeValue);
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  throw invalid(`a key value of type ${typeof value} cannot be queued`);
}

/** Decodes what {@link encodeValue} made. @throws ImageAttachError `ERR_QUEUE_JOB_INVALID` */
export function decodeValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decodeValue);
  if (value !== null && typeof value === 'object') {
    const tagged = value as Record<string, unknown>;
    if (typeof tagged.$bigint === 'string' && /^-?\d+$/.test(tagged.$bigint)) return BigInt(tagged.$bigint);
    if (typeof tagged.$buffer === 'string') return Buffer.from(tagged.$buffer, 'base64');
    if (typeof tagged.$date === 'string') return new Date(tagged.$date);
    throw invalid(`unknown encoded value ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * The job id: a hash of everything that makes the job what it is. The same thumbnail of the same
 * original asked for again gets the same id, and BullMQ adds no second job while the first exists.
 */
export function thumbnailJobId(data: ThumbnailJobData): string {
  return `thumbnail-${createHash('sha256').update(canonicalJson(data)).digest('hex').slice(0, 32)}`;
}

/** The variant job's id, as {@link thumbnailJobId}: the same outputs of the same original join one job. */
export function variantJobId(data: VariantJobData): string {
  return `variant-${createHash('sha256').update(canonicalJson(data)).digest('hex').slice(0, 32)}`;
}

/** The id of any job. */
export function jobIdOf(data: JobData): string {
  return isVariantJob(data) ? variantJobId(data) : thumbnailJobId(data);
}

export function isVariantJob(data: JobData): data is VariantJobData {
  return (data as Partial<VariantJobData>).kind === 'variant';
}

/** JSON with object keys sorted at every level, so equal data hashes equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The identity of an image row, as a job records it. */
export function identityOf(image: {
  width: number;
  height: number;
  mimetype: string;
  created_at: Date;
}): OriginalIdentity {
  return {
    width: image.width,
    height: image.height,
    mimetype: image.mimetype,
    createdAt: image.created_at.toISOString(),
  };
}

/**
 * True when `image` is still the original `expected` names. `created_at` is compared to the
 * millisecond, or to the second when the database gives back whole seconds: a column made without
 * fractional seconds (MySQL's DATETIME, as the Python library made it) drops the milliseconds the
 * attach held in memory when the job was enqueued. This check only decides whether a job is stale;
 * that a thumbnail is made of the current original's bytes is the lock's business (see
 * `entity/locks.ts`), so the rare original it cannot tell apart loses nothing by it.
 */
export function isSameOriginal(
  image: { width: number; height: number; mimetype: string; original: boolean; created_at: Date } | undefined,
  expected: OriginalIdentity,
): boolean {
  return (
    image !== undefined &&
    image.original === true &&
    image.width === expected.width &&
    image.height === expected.height &&
    image.mimetype === expected.mimetype &&
    sameInstant(image.created_at.getTime(), Date.parse(expected.createdAt))
  );
}

function sameInstant(stored: number, enqueued: number): boolean {
  return stored === enqueued || (stored % 1000 === 0 && stored === Math.floor(enqueued / 1000) * 1000);
}

/**
 * Checks job data read back from Redis (written by another version of the app, perhaps).
 * @throws ImageAttachError `ERR_QUEUE_JOB_INVALID`
 */
export function parseJobData(data: unknown): JobData {
  const d = data as (Partial<ThumbnailJobData & Omit<VariantJobData, 'kind'>> & { kind?: unknown }) | null;
  if (d === null || typeof d !== 'object') throw invalid('the job data is not an object');
  if (d.v !== 1) throw invalid(`unknown job data version ${JSON.stringify(d.v)}`);
  if (d.kind !== undefined && d.kind !== 'variant') throw invalid(`unknown job kind ${JSON.stringify(d.kind)}`);
  for (const field of ['model', 'relation', 'store'] as const) {
    if (typeof d[field] !== 'string') throw invalid(`${field} is not a string`);
  }
  if (d.subset === null || typeof d.subset !== 'object') throw invalid('subset is not an object');
  if (d.kind === 'variant') {
    if (!Array.isArray(d.variants) || !d.variants.every((name) => typeof name === 'string'))
      throw invalid('variants is not a list of names');
  } else if (d.size === null || typeof d.size !== 'object') throw invalid('size is not an object');
  const o = d.original;
  if (
    !o ||
    typeof o.width !== 'number' ||
    typeof o.height !== 'number' ||
    typeof o.mimetype !== 'string' ||
    Number.isNaN(Date.parse(o.createdAt))
  ) {
    throw invalid('original is not { width, height, mimetype, createdAt }');
  }
  return d as JobData;
}

function invalid(why: string): ImageAttachError {
  return new ImageAttachError('ERR_QUEUE_JOB_INVALID', `Invalid thumbnail job: ${why}`);
}

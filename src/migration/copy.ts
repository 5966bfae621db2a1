/**
 * Copying one image's file from a store to another, streamed: source → byte meter → destination.
 * The meter counts bytes and, when the copy is to be verified, hashes them on the way, so the
 * source is read once and no file is ever held whole in memory.
 */
import { createHash, type Hash } from 'node:crypto';
import { pipeline, type Readable, Transform, type TransformCallback } from 'node:stream';
import type { ImageEntity } from '../entity/index.js';
import { ImageNotFoundError } from '../errors.js';
import { type ImageKey, toObjectId } from '../stores/keys.js';
import { keyOf, type Store } from '../stores/store.js';
import { MigrationError } from './types.js';
import { checked } from '../stores/checked-calls.js';

export interface CopyOptions {
  skipExisting: boolean;
  verify: boolean;
  dryRun: boolean;
}

export interface CopyOutcome {
  status: 'copied' | 'skipped';
  /** Bytes copied (in a dry run: the bytes a real run would copy). */
  bytes: number;
}

/** Counts the bytes that pass through, and hashes them when asked to. */
class ByteMeter extends Transform {
  bytes = 0;
  private readonly hash: Hash | undefined;

  constructor(hashed: boolean) {
    super();
    this.hash = hashed ? createHash('sha256') : undefined;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash?.update(chunk);
    callback(null, chunk);
  }

  digest(): string {
    return this.hash?.digest('hex') ?? '';
  }
}

/** `user-picture/12 100x75 image/jpeg`: a key as people read it. */
export function describeKey(key: ImageKey): string {
  return `${key.objectType}/${toObjectId(key.objectId)} ${key.width}x${key.height} ${key.mimetype}`;
}

/**
 * Copies the file of `image` from `source` to `destination` (as reproducible when the image is a
 * thumbnail), or skips it, or (dry run) says what it would do.
 * @throws ImageNotFoundError when the source has no file; StoreError when a store fails;
 *   MigrationError `ERR_MIGRATION_CHECKSUM_MISMATCH` when the copy read back differs (the bad
 *   copy is removed, so a rerun with `skipExisting` copies it again)
 */
export function copyImage(
  source: Store,
  destination: Store,
  image: ImageEntity,
  options: CopyOptions,
): Promise<CopyOutcome> {
  return copyFile(source, destination, keyOf(image), { ...options, reproducible: !image.original });
}

/**
 * Copies the file of `key` (see {@link copyImage}); `reproducible` says it can be made again from
 * the original (a thumbnail, a variant output), which lets a store write it with less care.
 */
export async function copyFile(
  source: Store,
  destination: Store,
  key: ImageKey,
  options: CopyOptions & { reproducible: boolean },
): Promise<CopyOutcome> {
  const { reproducible } = options;
  if (options.skipExisting || options.dryRun) {
    const [from, to] = await Promise.all([
      checked(source).statFile(key),
      options.skipExisting ? checked(destination).statFile(key) : null,
    ]);
    if (from === null)
      throw new ImageNotFoundError(`The source store has no file for ${describeKey(key)}`, { data: { key } });
    if (to !== null && to.size === from.size) return { status: 'skipped', bytes: 0 };
    if (options.dryRun) return { status: 'copied', bytes: from.size };
  }
  // Local to local, unverified: let the destination copy the file itself (the kernel, for a
  // filesystem store), with no bytes through JavaScript. Verifying needs the bytes: stream them.
  const local = options.verify ? undefined : checked(source).localPath(key);
  if (local !== undefined) {
    const bytes = await checked(destination).putLocalFile(key, local, { reproducible });
    return { status: 'copied', bytes };
  }
  const input = await checked(source).getFile(key);
  const meter = new ByteMeter(options.verify);
  // pipeline ends the meter with the source and destroys both when either fails; its error then
  // reaches putFile through the meter, which rejects with it (a StoreError naming the cause).
  pipeline(input, meter, () => {});
  await checked(destination).putFile(key, meter, { reproducible });
  if (options.verify) await verifyCopy(destination, key, meter.bytes, meter.digest());
  return { status: 'copied', bytes: meter.bytes };
}

/** Reads the destination's copy back and compares it with what was sent. */
async function verifyCopy(destination: Store, key: ImageKey, bytes: number, sha256: string): Promise<void> {
  const copy = await checked(destination).getFile(key);
  const meter = new ByteMeter(true);
  await new Promise<void>((resolve, reject) => {
    pipeline(copy as Readable, meter, (error) => (error ? reject(error) : resolve()));
    meter.resume();
  });
  const copied = meter.digest();
  if (meter.bytes === bytes && copied === sha256) return;
  // A bad copy must not stay: a rerun with skipExisting would take it for a good one.
  await checked(destination).deleteFile(key);
  throw new MigrationError(
    'ERR_MIGRATION_CHECKSUM_MISMATCH',
    `The copy of ${describeKey(key)} read back from the destination differs from the source ` +
      `(${meter.bytes} bytes, sha256 ${copied.slice(0, 12)}… instead of ${bytes} bytes, sha256 ${sha256.slice(0, 12)}…); the copy was removed`,
    { data: { key, expected: { bytes, sha256 }, received: { bytes: meter.bytes, sha256: copied } } },
  );
}

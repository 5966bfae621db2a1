/**
 * Claiming a direct upload: the bytes a browser sent straight to the store's staging place (see
 * `stores/direct-uploads.ts`) become the set's original, checked as any upload is and attached
 * exactly as `fromFile` attaches, or refused with nothing left behind.
 *
 * Nothing the client said is trusted: the token is checked in constant time, the pending row must
 * be this owner's, this principal's, this purpose's and this store's, the size is measured by the
 * store (never taken from metadata) and capped again while the bytes are read, and the type comes
 * from the bytes. The pending row is locked (`FOR UPDATE`; SQLite: its write lock) in the attach's
 * own transaction, after the set, so of two claims of one upload exactly one commits.
 */
import type { Knex } from 'knex';
import type { Model } from 'objection';
import { ImageAttachError, InvalidArgumentError, InvalidImageError, UploadError } from '../errors.js';
import { type ProbedImage, probeImage, tooLarge } from '../imaging/probe.js';
import type { ThumbnailSpec } from '../imaging/thumbnail-batch.js';
import type { DirectUploads } from '../stores/direct-uploads.js';
import type { Store } from '../stores/store.js';
import * as check from '../util/check.js';
import { spoolToTempFile } from '../util/spool.js';
import { attachOriginal } from './attach.js';
import { concreteStore, type ImageEntity } from './image.js';
import { afterCommit } from './ledger.js';
import type { ImageSet } from './image-set.js';
import {
  defaultPurpose,
  findPendingUpload,
  ownerText,
  type PendingUploadRow,
  type PendingUploadStatus,
  setPendingUploadStatus,
} from './pending-uploads.js';
import { verifyUploadToken } from './upload-token.js';
import { PENDING_UPLOADS_TABLE } from '../schema.js';
import type { AttachOptions } from './set-options.js';
import type { SetRows } from './set-rows.js';

export interface ClaimOptions extends Omit<AttachOptions, 'probed' | 'thumbnails'> {
  /**
   * Thumbnails to make with the original, as `fromFile` takes them; or, since the claim is where
   * the upload's size is first known, a function of the original (its type and displayed size)
   * that returns them: `({ width }) => [100, 400].filter((w) => w < width).map((w) => ({ width: w }))`.
   */
  thumbnails?: readonly ThumbnailSpec[] | ((original: ProbedImage) => readonly ThumbnailSpec[]);
  /**
   * Who claims: the same principal the presign route recorded (the signed-in user's id), or
   * `null` when it recorded none. Required, so that forgetting it is an error, not a pass.
   */
  principal: string | null;
  /** The purpose the upload was presigned for. Default: `<owner table>.<relation>`, as presign's. */
  purpose?: string;
}

/**
 * Attaches the upload of `token` to the set of `rows`, as its new original (and `options.thumbnails`).
 * @throws UploadError `ERR_UPLOAD_TOKEN_INVALID` (403), `ERR_UPLOAD_EXPIRED` (410),
 *   `ERR_UPLOAD_NOT_RECEIVED` (400), `ERR_UPLOAD_CLAIMED` (409); InvalidImageError as `fromFile`
 */
export async function claimUpload(
  set: ImageSet,
  rows: SetRows,
  token: string,
  options: ClaimOptions,
): Promise<ImageEntity> {
  check.object(options, 'options', 'an options object ({ principal })');
  const principal = options.principal;
  if (principal !== null && (typeof principal !== 'string' || principal === ''))
    throw new InvalidArgumentError('options.principal', 'the claiming principal (a string), or null', principal);
  const purpose = options.purpose ?? defaultPurpose(set);
  const store = concreteStore(options.store);
  const uploads = directUploadsOf(store);
  const owner = ownerText(set);
  // The MAC is recomputed from what this claim expects: another owner's, principal's, purpose's
  // or store's token fails as a forged one does (403), before any row is read.
  const { id } = verifyUploadToken(token, uploads.secrets, { purpose, owner, principal, store: uploads.tag });
  const knex = options.trx ?? (rows.info.imageClass as unknown as typeof Model).knex();

  const pending = await findPendingUpload(knex, id);
  if (
    pending === undefined ||
    pending.purpose !== purpose ||
    pending.owner !== owner ||
    (pending.principal ?? null) !== principal ||
    pending.store !== uploads.tag
  )
    throw invalidToken();
  checkClaimable(pending);

  const limits = rows.limits(options);
  const cap = Math.min(limits.maxBytes, pending.declared_size);
  const measured = await uploads.stat(id);
  if (measured === null) {
    throw new UploadError('ERR_UPLOAD_NOT_RECEIVED', `Upload ${id} has not arrived in the store yet`, {
      statusCode: 400,
      data: { id },
    });
  }
  const refuse = async (error: unknown): Promise<never> => {
    if (error instanceof InvalidImageError) await reject(knex, uploads, id);
    throw error;
  };
  if (measured.size > cap) await refuse(tooLargeFor(measured.size, pending, limits.maxBytes));

  // Read again under the same cap: the object may have been replaced since it was measured.
  const spooled = await spoolToTempFile(await uploads.open(id), cap, options.tempDir, () =>
    tooLargeFor(undefined, pending, limits.maxBytes),
  ).catch(refuse);
  let original: ImageEntity;
  try {
    // The header (type from the bytes, pixel and animation caps), before anything decodes.
    const probed = await probeImage(spooled.path, spooled.size, limits, { decode: false }).catch(refuse);
    const thumbnails = typeof options.thumbnails === 'function' ? options.thumbnails(probed) : options.thumbnails;
    original = await attachOriginal(
      rows,
      spooled.path,
      spooled.size,
      { ...options, store, probed, thumbnails },
      { afterLock: (trx) => markClaimed(trx, id) },
    ).catch(refuse);
  } finally {
    await spooled.dispose();
  }
  if (options.trx === undefined) await removeStaged(uploads, id);
  else afterCommit(options.trx, () => removeStaged(uploads, id));
  return original;
}

/** The store's direct-upload capability. @throws InvalidArgumentError for a store made without one */
function directUploadsOf(store: Store): DirectUploads {
  const uploads = (store as { directUploads?: DirectUploads }).directUploads;
  if (uploads === undefined)
    throw new InvalidArgumentError('options.store', 'a store made with the directUploads option', store);
  return uploads;
}

/** @throws UploadError unless the row is pending and within its claim window */
function checkClaimable(pending: PendingUploadRow): void {
  if (pending.status === 'claimed') throw alreadyClaimed(pending.id);
  if (pending.status !== 'pending' || pending.expires_at.getTime() <= Date.now()) {
    throw new UploadError(
      'ERR_UPLOAD_EXPIRED',
      `Upload ${pending.id} can no longer be claimed (${pending.status === 'pending' ? 'expired' : pending.status})`,
      {
        statusCode: 410,
        data: { id: pending.id, status: pending.status },
      },
    );
  }
}

/**
 * In the attach's transaction, once the set is locked: locks the pending row (`FOR UPDATE`;
 * SQLite: lockSet took the database write lock already) and marks it claimed. A claim that comes
 * second finds it claimed (or rejected) and rolls back, leaving nothing.
 */
async function markClaimed(trx: Knex.Transaction, id: string): Promise<void> {
  const locked = await findPendingUpload(trx, id, { lock: true });
  if (locked === undefined) throw invalidToken();
  checkClaimable(locked);
  await setPendingUploadStatus(trx, id, 'claimed');
}

/** Marks a refused upload rejected (never claimable again) and removes its bytes at once. */
async function reject(knex: Knex, uploads: DirectUploads, id: string): Promise<void> {
  await knex(PENDING_UPLOADS_TABLE)
    .where({ id, status: 'pending' })
    .update({ status: 'rejected' satisfies PendingUploadStatus });
  await uploads.delete(id);
}

/**
 * The staged bytes once the claim has committed. The claim has succeeded by then: a failed
 * delete is reported as a warning (the sweep's bucket lifecycle rule is the backstop), not thrown.
 */
async function removeStaged(uploads: DirectUploads, id: string): Promise<void> {
  await uploads.delete(id).catch((error: unknown) =>
    process.emitWarning(
      new ImageAttachError(
        'ERR_FILE_CLEANUP',
        `objection-imageattach: removing claimed upload ${id} failed: ${(error as Error).message}`,
        {
          cause: error,
        },
      ),
    ),
  );
}

function tooLargeFor(size: number | undefined, pending: PendingUploadRow, maxBytes: number): InvalidImageError {
  const declared = pending.declared_size;
  if (declared >= maxBytes) return tooLarge(size, maxBytes);
  return new InvalidImageError(
    'ERR_IMAGE_TOO_LARGE',
    `Expected at most the ${declared} bytes declared at presign but the upload ` +
      (size === undefined ? 'is larger' : `has ${size}`),
    { statusCode: 413, data: { size, declaredSize: declared, maxBytes } },
  );
}

function invalidToken(): UploadError {
  return new UploadError(
    'ERR_UPLOAD_TOKEN_INVALID',
    'Expected a valid upload token for this owner, purpose and principal',
    {
      statusCode: 403,
    },
  );
}

function alreadyClaimed(id: string): UploadError {
  return new UploadError('ERR_UPLOAD_CLAIMED', `Upload ${id} has already been claimed`, {
    statusCode: 409,
    data: { id },
  });
}

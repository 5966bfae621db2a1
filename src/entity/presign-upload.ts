/**
 * Presigning a direct upload: the first of its three steps (presign, upload, claim). The app
 * has authorised the request; this checks the declared size and type against the relation's
 * limits (an early answer for the user only: the claim measures the bytes and reads their type
 * from them), signs the way to upload (the store's `directUploads`), and records the pending row.
 */
import type { Knex } from 'knex';
import type { Model } from 'objection';
import { InvalidArgumentError, InvalidImageError } from '../errors.js';
import { tooLarge } from '../imaging/probe.js';
import { newUploadId, type UploadInstructions } from '../stores/direct-uploads.js';
import type { Store } from '../stores/store.js';
import * as check from '../util/check.js';
import { concreteStore } from './image.js';
import { type ImageSet, rowsOf } from './image-set.js';
import { defaultPurpose, insertPendingUpload, ownerText } from './pending-uploads.js';
import { signUploadToken } from './upload-token.js';

/** Seconds a presigned upload stays valid unless told otherwise: time to upload, and to claim. */
export const DEFAULT_UPLOAD_EXPIRY = 600;

/** The longest `expiresIn`: a day (S3 allows 7, but an unclaimed upload should not linger). */
const MAX_UPLOAD_EXPIRY = 86_400;

export interface PresignUploadOptions {
  /** The file's size in bytes, as the browser declares it (`file.size`). */
  size: number;
  /** The file's type, as the browser declares it (`file.type`): one of the relation's `types`. */
  type: string;
  /**
   * Who may claim it: your user's id, as text (up to 255 characters). The claim must name the
   * same principal. `null` (the default) for none: then anyone holding the token may claim it.
   */
  principal?: string | null;
  /** What the upload is for (up to 64 characters); the claim must name the same. Default `<owner table>.<relation>`. */
  purpose?: string;
  /** Seconds until the upload, and its claim, expire: 1 to 86400. Default 600. */
  expiresIn?: number;
  /** The store the bytes go to (with its `directUploads` option). Default: the current store. */
  store?: Store;
  /** The connection or transaction to record the pending row in. Default: the image class's. */
  trx?: Knex;
}

/** What the browser needs: how to upload, and the token to hand back with its form. */
export interface PresignedUpload {
  /** The upload's id: 32 hex digits. */
  id: string;
  /** Hand it back with the form; `fromUpload(token, …)` claims the upload. */
  token: string;
  /** When the upload URL and the token expire (ISO 8601). */
  expiresAt: string;
  /** How to send the file. */
  upload: UploadInstructions;
}

/**
 * Presigns a direct upload into `set` (see docs/direct-uploads.md).
 * @throws InvalidImageError `ERR_IMAGE_TOO_LARGE` (413) for a declared size over `maxBytes`,
 *   `ERR_IMAGE_UNSUPPORTED_TYPE` (415) for a declared type not in `types`; InvalidArgumentError
 *   for a bad option, or a store without `directUploads`
 * @example
 * const answer = await presignUpload(imageSet(user, 'picture'), { size, type, principal: String(user.id) });
 */
export async function presignUpload(set: ImageSet, options: PresignUploadOptions): Promise<PresignedUpload> {
  check.object(options, 'options', 'an options object ({ size, type })');
  const { size, type, principal = null, expiresIn = DEFAULT_UPLOAD_EXPIRY } = options;
  check.positiveInteger(size, 'options.size', 'bytes');
  check.string(type, 'options.type', 'a mimetype such as "image/jpeg"');
  if (principal !== null && (typeof principal !== 'string' || principal.length === 0 || principal.length > 255)) {
    throw new InvalidArgumentError('options.principal', 'a string of 1 to 255 characters, or null', principal);
  }
  const purpose = options.purpose ?? defaultPurpose(set);
  if (typeof purpose !== 'string' || purpose.length === 0 || purpose.length > 64) {
    throw new InvalidArgumentError('options.purpose', 'a string of 1 to 64 characters', purpose);
  }
  check.integerIn(expiresIn, 1, MAX_UPLOAD_EXPIRY, 'options.expiresIn', 'seconds');
  const store = concreteStore(options.store);
  const uploads = store.directUploads;
  if (uploads === undefined) {
    throw new InvalidArgumentError('store', 'a store made with the directUploads option', store);
  }

  const rows = rowsOf(set);
  const limits = rows.limits({});
  if (size > limits.maxBytes) throw tooLarge(size, limits.maxBytes);
  const declared = type.toLowerCase();
  if (!limits.types.includes(declared)) {
    throw new InvalidImageError(
      'ERR_IMAGE_UNSUPPORTED_TYPE',
      `Expected one of ${limits.types.join(', ')} but the upload declares ${JSON.stringify(type)}`,
      { statusCode: 415, data: { mimetype: type, allowed: limits.types } },
    );
  }

  const owner = ownerText(set);
  const id = newUploadId();
  const now = Date.now();
  const expiresAt = new Date(Math.floor(now / 1000) * 1000 + expiresIn * 1000);
  // Signed before the row is written: a signing failure (credentials) then leaves nothing.
  const upload = await uploads.presign({ id, size, type: declared, expiresAt });
  const token = signUploadToken({ id, purpose, owner, principal, store: uploads.tag, expiresAt }, uploads.secrets);
  const knex = options.trx ?? (rows.info.imageClass as unknown as typeof Model).knex();
  await insertPendingUpload(knex, {
    id,
    purpose,
    owner,
    principal,
    store: uploads.tag,
    object_key: uploads.stagingKey(id),
    declared_size: size,
    declared_type: declared,
    created_at: new Date(now),
    expires_at: expiresAt,
  });
  return { id, token, expiresAt: expiresAt.toISOString(), upload };
}

/**
 * Direct uploads: a store that lets a browser send an upload's bytes straight to it (an S3
 * bucket through a presigned POST or PUT; a filesystem store through this app's signed upload
 * endpoint), into a staging place of the store's choosing that is never served. The bytes stay
 * there, untrusted, until a claim reads them back (stat, open), checks them as any upload is
 * checked, attaches them, and deletes them; the sweep deletes those never claimed.
 *
 * A store has this capability as its optional `directUploads` property, present when the store
 * was made with a `directUploads` option (see {@link DirectUploadOptions}).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { InvalidArgumentError } from '../errors.js';
import * as check from '../util/check.js';
import { checkSecrets } from '../util/hmac.js';

/** What a store's `directUploads` option takes (both kinds of store). */
export interface DirectUploadOptions {
  /**
   * Secrets (32 characters or more) that sign upload tokens and, for filesystem stores, upload
   * URLs: the first signs, any verifies, so a new secret goes first and an old one is dropped
   * once what it signed has expired.
   */
  secrets: readonly string[];
  /**
   * The name pending uploads record for this store (64 characters at most), so that a claim or
   * the sweep finds the store an upload went to. Default: the kind of store and a hash of its
   * place (`fs:<16 hex>`, `s3:<16 hex>`). Set it when that place may change (a moved folder).
   */
  tag?: string;
}

/** One upload the store is to accept: its id (32 hex), the declared size and type, and until when. */
export interface DirectUploadTarget {
  id: string;
  size: number;
  type: string;
  expiresAt: Date;
}

/**
 * How the browser sends the bytes. `POST`: a `multipart/form-data` body with `fields` in order,
 * then the file as the last field, named `file` (S3's POST policy form). `PUT`: the file as the
 * body, with `headers` (the browser adds the `Content-Length` of the file, which is signed too).
 */
export type UploadInstructions =
  | { method: 'POST'; url: string; fields: Record<string, string> }
  | { method: 'PUT'; url: string; headers: Record<string, string> };

/** What a store knows of a staged upload without reading it: its size, measured by the store. */
export interface StagedUploadStat {
  size: number;
  modifiedAt?: Date;
}

/** A store's direct-upload capability (its `directUploads` property). */
export interface DirectUploads {
  /** The name pending rows record for this store. */
  readonly tag: string;
  /** The secrets of the upload tokens (first signs, any verifies). */
  readonly secrets: readonly string[];
  /** The key (or path inside the store) where the bytes of upload `id` are staged. No I/O. */
  stagingKey(id: string): string;
  /** How the browser uploads `target`'s bytes (signs; no I/O beyond resolving credentials). */
  presign(target: DirectUploadTarget): Promise<UploadInstructions>;
  /** The staged bytes' measured size, or `null` when nothing (or nothing complete) arrived. */
  stat(id: string): Promise<StagedUploadStat | null>;
  /** The staged bytes. @throws ImageNotFoundError when none arrived */
  open(id: string): Promise<Readable>;
  /** Removes the staged bytes. Idempotent. */
  delete(id: string): Promise<void>;
}

/** A new upload id: 128 random bits, as 32 lowercase hex digits. */
export function newUploadId(): string {
  return randomBytes(16).toString('hex');
}

const UPLOAD_ID = /^[0-9a-f]{32}$/;

/** True for a well-formed upload id (32 lowercase hex digits). */
export function isUploadId(id: unknown): id is string {
  return typeof id === 'string' && UPLOAD_ID.test(id);
}

/**
 * Checks an upload id before it names a file or an object.
 * @throws InvalidArgumentError unless it is 32 lowercase hex digits
 */
export function checkUploadId(id: unknown): asserts id is string {
  if (!isUploadId(id)) throw new InvalidArgumentError('id', 'an upload id (32 lowercase hex digits)', id);
}

/**
 * Checks a store's `directUploads` option, and gives its secrets and tag (`kind:<hash of place>`
 * by default).
 * @throws InvalidArgumentError naming the bad option
 */
export function resolveDirectUploadOptions(
  options: DirectUploadOptions,
  kind: string,
  place: string,
): { secrets: readonly string[]; tag: string } {
  check.object(options, 'options.directUploads', 'an object ({ secrets })');
  const secrets = checkSecrets(options.secrets, 'options.directUploads.secrets');
  const tag = options.tag ?? `${kind}:${createHash('sha256').update(place).digest('hex').slice(0, 16)}`;
  if (typeof tag !== 'string' || !/^[\x21-\x7e]{1,64}$/.test(tag)) {
    throw new InvalidArgumentError('options.directUploads.tag', '1 to 64 printable ASCII characters', tag);
  }
  return { secrets, tag };
}

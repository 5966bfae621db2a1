/**
 * One streamed upload to S3 through `@aws-sdk/lib-storage` (one PUT for small files, multipart
 * for large ones), within the operation's deadline. An S3 object appears only when its PUT or
 * multipart upload completes, so a failed upload leaves nothing visible, and a failed multipart
 * upload is aborted.
 */
import type { ObjectCannedACL, StorageClass } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { StoreError } from '../errors.js';
import { clientWithSignal, Deadline, type S3Access } from './s3-deadline.js';
import { s3Upload } from './s3-sdk.js';

/** What an uploaded object carries besides its bytes. */
export interface ObjectHeaders {
  ContentType: string;
  CacheControl: string;
  StorageClass?: string;
  ACL?: string;
}

/**
 * Uploads `stream` as the object `name`. The input is ours to end: it is destroyed once done.
 * @throws StoreError `ERR_STORE_WRITE` (the input failed), `ERR_STORE_UNAVAILABLE` (S3 did, or the deadline passed)
 */
export async function uploadObject(
  access: S3Access,
  name: string,
  stream: Readable,
  headers: ObjectHeaders,
): Promise<void> {
  // The input's own failure is the one to report: the upload then fails (and aborts) because of it.
  let inputError: unknown;
  const onInputError = (error: unknown) => {
    inputError ??= error;
  };
  stream.on('error', onInputError);
  const deadline = new Deadline(access.timeout, { bucket: access.bucket, key: name, operation: 'PutObject' });
  const abortController = new AbortController();
  deadline.signal.addEventListener('abort', () => abortController.abort(), { once: true });
  try {
    const upload = new (s3Upload().Upload)({
      client: clientWithSignal(access.client, deadline.signal),
      abortController,
      // Parts of 5 MiB (S3's minimum), two in flight: memory stays near 15 MiB whatever the file size.
      queueSize: 2,
      leavePartsOnError: false,
      params: {
        Bucket: access.bucket,
        Key: name,
        Body: stream,
        ContentType: headers.ContentType,
        CacheControl: headers.CacheControl,
        StorageClass: headers.StorageClass as StorageClass | undefined,
        ACL: headers.ACL as ObjectCannedACL | undefined,
      },
    });
    await upload.done();
  } catch (error) {
    if (inputError !== undefined) {
      throw new StoreError(
        'ERR_STORE_WRITE',
        `Writing s3://${access.bucket}/${name} failed: ${(inputError as Error).message ?? inputError}`,
        {
          cause: inputError,
          data: { bucket: access.bucket, key: name },
        },
      );
    }
    throw deadline.failure(error);
  } finally {
    deadline.clear();
    stream.off('error', onInputError);
    // A stream left open on failure would hold its source open.
    if (!stream.destroyed) stream.destroy();
  }
}

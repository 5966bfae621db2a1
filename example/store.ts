/**
 * Where the image files go: a folder this app serves itself (the default), or an S3 bucket.
 */
import path from 'node:path';
import { HttpExposedFileSystemStore, type Store } from 'objection-imageattach';
import { S3Store } from 'objection-imageattach/s3';

/** S3 settings, from S3_BUCKET, S3_REGION, S3_ENDPOINT… (credentials: the AWS SDK's usual chain). */
export interface S3Settings {
  bucket: string;
  region?: string;
  /** An S3-compatible service (MinIO, s3rver…): `http://127.0.0.1:9000`. */
  endpoint?: string;
  /** A key prefix inside the bucket. */
  prefix?: string;
  /** The public URL of the bucket (a CDN…); default: the bucket's own URL. */
  publicBaseUrl?: string;
  /** How browsers send direct uploads to the bucket: a POST policy form (default) or a presigned PUT. */
  uploadMethod?: 'POST' | 'PUT';
}

export interface ImageStorage {
  /**
   * An `HttpExposedFileSystemStore` that the app serves itself (app.ts mounts `serveStore(store)`),
   * or an `S3Store`. The folder's image URLs are root-relative (`/__images__/…`): never built from
   * the Host header a client sends.
   */
  store: Store;
}

/**
 * `uploadSecrets`, when given, sign direct uploads (the form's JavaScript sends the file straight to the store):
 * the browser PUTs it to this app's upload endpoint for the folder, or POSTs it to the bucket,
 * which then needs a region and CORS for this app's origin (docs/direct-uploads.md).
 */
export function makeStorage(dataDir: string, s3?: S3Settings, uploadSecrets?: string[]): ImageStorage {
  // The workers (queue.ts) take no uploads: they are made without.
  const directUploads = uploadSecrets === undefined ? undefined : { secrets: uploadSecrets };
  if (s3 === undefined) {
    return {
      store: new HttpExposedFileSystemStore({
        path: path.join(dataDir, 'images'),
        prefix: '__images__',
        directUploads,
      }),
    };
  }
  // The AWS SDK (an optional dependency) is loaded only now, when an S3 store is made. A custom
  // endpoint (MinIO, s3rver…) usually wants path-style URLs: http://host/bucket/key. Direct
  // uploads are signed for a region: without one, the form posts through the app only.
  const { uploadMethod, ...settings } = s3;
  return {
    store: new S3Store({
      ...settings,
      forcePathStyle: s3.endpoint !== undefined,
      ...(s3.region === undefined || directUploads === undefined
        ? {}
        : { directUploads: { ...directUploads, method: uploadMethod } }),
    }),
  };
}

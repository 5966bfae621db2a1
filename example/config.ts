/**
 * The example's settings, from the environment. Everything has a default: `npm start` alone runs
 * on http://localhost:3000 with SQLite and a local folder under example/data.
 */
import { fileURLToPath } from 'node:url';
import type { AppOptions } from './app.js';

export interface Settings extends AppOptions {
  port: number;
}

/**
 * - `PORT` (3000); `DATA_DIR` (example/data): the SQLite file, the images, the upload temp files
 * - `DATABASE_URL`: `mysql://…`, `mariadb://…` or `postgres://…` instead of SQLite
 * - `S3_BUCKET` (with `S3_REGION`, `S3_ENDPOINT`, `S3_PREFIX`, `S3_PUBLIC_URL`): images in S3;
 *   with `S3_REGION`, the form's script uploads straight to the bucket (`S3_UPLOAD_METHOD=PUT`:
 *   a presigned PUT rather than a POST policy form)
 * - `REDIS_URL`: thumbnails made by `npm run worker` processes instead of in the upload request;
 *   `THUMBNAIL_QUEUE`: the queue's name, for several apps (or test runs) on one Redis
 */
export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): Settings {
  const port = Number(env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`PORT must be a port number (got ${env.PORT})`);
  return {
    port,
    dataDir: env.DATA_DIR || fileURLToPath(new URL('./data', import.meta.url)),
    databaseUrl: env.DATABASE_URL || undefined,
    s3: env.S3_BUCKET
      ? {
          bucket: env.S3_BUCKET,
          region: env.S3_REGION || undefined,
          endpoint: env.S3_ENDPOINT || undefined,
          prefix: env.S3_PREFIX || undefined,
          publicBaseUrl: env.S3_PUBLIC_URL || undefined,
          uploadMethod: env.S3_UPLOAD_METHOD === 'PUT' ? 'PUT' : undefined,
        }
      : undefined,
    redisUrl: env.REDIS_URL || undefined,
    queueName: env.THUMBNAIL_QUEUE || undefined,
  };
}

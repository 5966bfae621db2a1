/**
 * The example app: an Express 5 gallery of users and their pictures, built the way the library
 * means to be used. `createApp()` returns the app without listening, so tests can mount it on a
 * temp DATA_DIR; server.ts listens.
 *
 * The order of the middleware is the lesson:
 *   1. the store's own files, served with ranges and conditional GET (`serveStore(store)`);
 *   2. `storeContext(store)`: every request runs with this store as "the current store";
 *   3. `imageHelpers()`: `imgTag`, `srcset` and `pictureTag` for every view (and, with a queue,
 *      missing thumbnails queued as pages ask for them);
 *   4. the routes (a refused upload goes back to its form, in words from messages.ts);
 *   5. a 404 page, then the error page.
 *
 * With `redisUrl` (REDIS_URL), the app also has a thumbnail queue (queue.ts): routes find it on
 * `req.app.locals.queue`, and `npm run worker` processes make what it queues.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Knex } from 'knex';
import { Model } from 'objection';
import { filesSettled, HttpExposedFileSystemStore, type Store } from 'objection-imageattach';
import { directUploadEndpoint, imageHelpers, serveStore, storeContext } from 'objection-imageattach/express';
import { type ThumbnailQueue } from 'objection-imageattach/queue';
import { browserModule } from './browser-module.js';
import { connect, migrate } from './database.js';
import { megabytes, messageFor, SERVER_ERROR, uploadMessage } from './messages.js';
import { exampleQueue } from './queue.js';
import { picturesRouter, refusedAsJson } from './routes/pictures.js';
import { usersRouter } from './routes/users.js';
import { makeStorage, type S3Settings } from './store.js';

export interface AppOptions {
  /** The SQLite file, the images (unless in S3) and the upload temp files go here. */
  dataDir: string;
  /** `mysql://…`, `mariadb://…` or `postgres://…`; default: SQLite in `dataDir`. */
  databaseUrl?: string;
  /** Keep the images in S3 instead of `dataDir/images`. */
  s3?: S3Settings;
  /** `redis://…`: thumbnails are queued for `npm run worker` instead of made in the request. */
  redisUrl?: string;
  /** The thumbnail queue's name (default: the library's), for several apps on one Redis. */
  queueName?: string;
  /**
   * Secrets that sign direct uploads (32 characters or more; the first signs, any verifies).
   * Default: one made at random on first start and kept in `dataDir/upload-secret`.
   */
  uploadSecrets?: string[];
}

export interface ExampleApp {
  app: Express;
  knex: Knex;
  store: Store;
  /** The thumbnail queue, when `redisUrl` was given; also `app.locals.queue`. */
  queue: ThumbnailQueue | undefined;
  /** Closes the queue's connection, waits for pending file cleanup, then closes the database. */
  close(): Promise<void>;
}

const here = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));

export async function createApp(options: AppOptions): Promise<ExampleApp> {
  // The upload temp files go here (imageUpload's, and the claims' spooled copies).
  await mkdir(path.join(options.dataDir, 'uploads'), { recursive: true });
  const { store } = makeStorage(
    options.dataDir,
    options.s3,
    options.uploadSecrets ?? (await uploadSecret(options.dataDir)),
  );
  const knex = connect(options.dataDir, options.databaseUrl);
  try {
    await migrate(knex);
  } catch (error) {
    await knex.destroy();
    throw error;
  }
  // Objection's models run their queries on this knex.
  Model.knex(knex);

  // Nothing connects to Redis until the first enqueue: the app starts even while Redis is down,
  // and an upload then fails with a 503 (ERR_QUEUE_UNAVAILABLE) rather than hanging.
  const queue = options.redisUrl === undefined ? undefined : exampleQueue(options.redisUrl, store, options.queueName);

  const app = express();
  app.locals.queue = queue;
  app.set('views', here('./views'));
  app.set('view engine', 'ejs');
  // The words for the upload form's own checks (see views/user.ejs) come from messages.ts too.
  Object.assign(app.locals, {
    uploadMessage,
    megabytes,
    SERVER_ERROR,
    directUploads: store.directUploads !== undefined,
  });
  app.use('/static', express.static(here('./public')));

  // The store's own files, when the app keeps them in a folder. Their URLs change whenever a file
  // does (?_ts=), so browsers may keep every file for a year.
  if (store instanceof HttpExposedFileSystemStore) app.use(serveStore(store, { maxAge: 31_536_000, immutable: true }));
  // Where the form's script PUTs a picture for the folder (signed, expiring URLs from the presign
  // route; written to a staging folder that serveStore never serves). An S3 bucket takes them itself.
  if (store instanceof HttpExposedFileSystemStore) app.use(directUploadEndpoint(store), refusedAsJson);
  // The browser helper (objection-imageattach/browser), for the form's script to import.
  app.get('/static/direct-upload.js', browserModule());
  app.use(storeContext(store));
  // Given the queue, a page asking for a thumbnail the set lacks (a failed job, a new size in a
  // view) also queues it; the page shows the original meanwhile.
  app.use(imageHelpers({ queue }));

  app.use(usersRouter());
  app.use(picturesRouter({ tempDir: path.join(options.dataDir, 'uploads') }));

  app.use((req, res) => {
    res.status(404).render('error', { status: 404, message: `Nothing here: ${req.method} ${req.path}` });
  });
  app.use(errorPage);

  return {
    app,
    knex,
    store,
    queue,
    async close() {
      await queue?.close();
      await filesSettled();
      await knex.destroy();
    },
  };
}

/** The secret of `dataDir`, made on first start: uploads presigned before a restart stay valid. */
async function uploadSecret(dataDir: string): Promise<string[]> {
  const file = path.join(dataDir, 'upload-secret');
  const existing = await readFile(file, 'utf8').catch(() => undefined);
  if (existing !== undefined && existing.trim().length >= 32) return [existing.trim()];
  const secret = randomBytes(32).toString('hex');
  await writeFile(file, secret, { mode: 0o600 });
  return [secret];
}

/**
 * Errors with a `statusCode` under 500 are the visitor's: the library's are put into words by
 * messages.ts, others (Objection's NotFoundError, with this app's own message) shown as they are.
 * Anything else is logged and shown as a plain 500, since its message may say more about the
 * server than a visitor should read.
 */
function errorPage(error: any, _req: Request, res: Response, next: NextFunction): void {
  if (res.headersSent) return next(error);
  const status =
    Number.isInteger(error?.statusCode) && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
  // A stored picture that does not decode is a 422 (nothing in the request is wrong), yet the
  // operator should hear of it.
  if (status >= 500 || error?.code === 'ERR_ORIGINAL_UNREADABLE') console.error(error);
  const message = status < 500 ? (messageFor(error) ?? error.message) : SERVER_ERROR;
  res.status(status).render('error', { status, message });
}

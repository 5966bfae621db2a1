/**
 * A user's picture: upload (with thumbnails made at once, or queued when the app has a queue),
 * its focal point (the avatar's crop), delete, and thumbnails on demand.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { imageUpload, presignRoute, thumbnailRoute, type UploadedImage } from 'objection-imageattach/express';
import { ImageAttachError, type ThumbnailFormat } from 'objection-imageattach';
import { type ThumbnailQueue } from 'objection-imageattach/queue';
import { type Flash, setFlash } from '../flash.js';
import { messageFor } from '../messages.js';
import { User, type UserPicture } from '../models.js';

/** Made at upload: the sizes the pages show. */
export const UPLOAD_THUMBNAILS: ReadonlyArray<{ width: number; format?: ThumbnailFormat }> = [
  { width: 100 }, // the gallery (in the original's format)
  { width: 400 }, // the user page
  { width: 800, format: 'webp' }, // the user page on high-density screens, for browsers that read WebP
];

/** What `GET /users/:id/picture?width=N` may make. Any other N is a 400. */
export const ON_DEMAND_WIDTHS = [50, 100, 200, 400, 800];

/**
 * What the user page's table calls an image. A width made by thumbnailRoute() (someone opened
 * `?width=200`) joins the set like the upload's thumbnails, so the table says which ones those are.
 */
export function imageKind(image: UserPicture, original: UserPicture): string {
  if (image.original) return 'original';
  const madeAtUpload = UPLOAD_THUMBNAILS.some(
    ({ width, format }) =>
      image.width === width && image.mimetype === (format === undefined ? original.mimetype : `image/${format}`),
  );
  return madeAtUpload ? 'thumbnail' : 'thumbnail, made on demand';
}

/** What an upload may be; the page tells people, and its script checks a file before sending it. */
export const UPLOAD_LIMITS = {
  maxBytes: 10 * 1024 * 1024,
  maxPixels: 40_000_000,
  types: ['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'image/avif', 'image/tiff', 'image/heic', 'image/heif'],
};

/** Finds the user of the URL first: no one uploads a file for a user who is not there. */
async function loadUser(req: Request<{ id: string }>, res: Response, next: NextFunction): Promise<void> {
  res.locals.user = await User.findWithPicture(req.params.id);
  next();
}

/**
 * The outcome of an upload. A plain form post gets a 303 back to the user's page with the message
 * in a flash cookie (post/redirect/get, so a reload posts nothing again); the page's script, which
 * asks for JSON, gets the message and stays on the page, the chosen file still chosen.
 */
function answer(req: Request, res: Response, user: User, flash: Flash, status: number): void {
  const next = `/users/${user.id}`;
  const wantsJson = req.accepts(['html', 'json']) === 'json';
  // Success: the script loads the page, which shows the message; an error is shown where it is.
  if (!wantsJson || flash.kind === 'done') setFlash(res, flash);
  if (wantsJson) res.status(status).json({ ...flash, next: flash.kind === 'done' ? next : undefined });
  else res.redirect(303, next);
}

/** A refused presign or direct upload, answered to the page's script as JSON (its status says why). */
export function refusedAsJson(error: any, _req: Request, res: Response, next: NextFunction): void {
  if (res.headersSent || !(Number.isInteger(error?.statusCode) && error.statusCode < 500)) return next(error);
  res.status(error.statusCode).json({ code: error.code, message: messageFor(error) ?? error.message });
}

export function picturesRouter(options: { tempDir: string }): Router {
  const router = express.Router();

  // imageUpload() streams the file to a temp file (never into memory), reads its real type and
  // size, and rejects what is too big, too many pixels or not an image, with an error whose `code`
  // says which (uploadFailed below puts it into words). The temp file is removed when the
  // response is over.
  // `verifyDecode: false`: the attach below decodes the whole image anyway (to render its
  // thumbnails, or, when a queue makes them, to prove it whole), so a truncated upload is still
  // refused with nothing stored; checking it here too would decode every upload once more.
  const upload = imageUpload({ field: 'picture', ...UPLOAD_LIMITS, tempDir: options.tempDir, verifyDecode: false });

  const attach = async (req: Request, res: Response) => {
    const user: User = res.locals.user;
    const file = req.file as UploadedImage;
    // Thumbnails shrink, never enlarge: a small upload gets fewer (thumbnailRoute() below makes
    // any other width on demand). `probed`: imageUpload() has read the file's header already.
    const sizes = UPLOAD_THUMBNAILS.filter(({ width }) => width < file.width);
    const queue: ThumbnailQueue | undefined = req.app.locals.queue;
    if (queue === undefined) {
      // One call: the thumbnails are rendered from one decode of the file before any transaction,
      // then one transaction replaces the old set (old rows now, old files once it commits) with
      // the original and its thumbnails: all stored, or, should anything fail, none.
      await user.pictureSet.fromFile(file.path, { probed: file.probed, thumbnails: sizes });
    } else {
      // With REDIS_URL, the workers (npm run worker) make the thumbnails; until then the pages
      // show the original at each thumbnail's size. The attach itself decodes the file once to
      // prove it whole (imageUpload was told not to).
      await user.pictureSet.fromFile(file.path, { probed: file.probed });
      try {
        if (sizes.length > 0) await queue.enqueue(user, 'picture', [...sizes]);
      } catch (error) {
        // The original is committed by now: say what happened rather than fail the whole upload.
        // (The pages queue missing thumbnails again when Redis is back; thumbnailRoute makes any.)
        if (!(error instanceof ImageAttachError && error.code === 'ERR_QUEUE_UNAVAILABLE')) throw error;
        console.error(`upload for user ${user.id}: original stored, thumbnails not queued: ${error.message}`);
        const next = `/users/${user.id}?notice=thumbnails-not-queued`;
        if (req.accepts(['html', 'json']) === 'json')
          res.json({ kind: 'done', text: `Uploaded “${file.originalname}”.`, next });
        else res.redirect(303, next);
        return;
      }
    }
    answer(req, res, user, { kind: 'done', text: `Uploaded “${file.originalname}”.` }, 200);
  };

  // A refused upload: its words (messages.ts) go back to the form. Anything else (a 404 user, a
  // server failure) goes on to the app's error page.
  const uploadFailed = (error: any, req: Request, res: Response, next: NextFunction) => {
    const text = messageFor(error);
    if (text === undefined || res.locals.user === undefined) return next(error);
    answer(req, res, res.locals.user, { kind: 'error', text, field: 'picture' }, error.statusCode);
  };

  router.post('/users/:id/picture', loadUser, upload, attach, uploadFailed);

  // Direct uploads, when the page's script runs (public/upload.js with objection-imageattach/browser):
  // 1. presign: `{ size, type }` in, how to upload and a token out (a few hundred bytes each way);
  // 2. the browser sends the file straight to the store (the bucket, or the folder's upload endpoint);
  // 3. claim: the token comes back here, and the staged upload becomes the user's picture, checked
  //    as the form's file is (type from the bytes, size measured, the same limits and thumbnails).
  // This example has no sign-in, so no principal: an app with one passes the signed-in user's id
  // to both, and a token presigned for one user is refused to another.
  router.post(
    '/users/:id/picture/presign',
    express.json({ limit: '4kb' }),
    loadUser,
    presignRoute({ imageSet: (req) => (req.res!.locals.user as User).pictureSet, expiresIn: 600 }),
    refusedAsJson,
  );
  router.post(
    '/users/:id/picture/claim',
    express.urlencoded({ extended: false, limit: '4kb' }),
    loadUser,
    async (req: Request, res: Response) => {
      const user: User = res.locals.user;
      const token = typeof req.body?.upload === 'string' ? req.body.upload : '';
      const queue: ThumbnailQueue | undefined = req.app.locals.queue;
      // The upload's size is first known here: the thumbnails are a function of the original.
      const sizes = (width: number) => UPLOAD_THUMBNAILS.filter((t) => t.width < width);
      const original = await user.pictureSet.fromUpload(token, {
        principal: null,
        ...UPLOAD_LIMITS,
        tempDir: options.tempDir,
        thumbnails: queue === undefined ? ({ width }) => sizes(width) : undefined,
      });
      if (queue !== undefined && sizes(original.width).length > 0)
        await queue.enqueue(user, 'picture', [...sizes(original.width)]).catch((error: unknown) => {
          console.error(`claim for user ${user.id}: thumbnails not queued: ${(error as Error).message}`);
        });
      const name = typeof req.body?.name === 'string' ? req.body.name.slice(0, 200) : 'the picture';
      answer(req, res, user, { kind: 'done', text: `Uploaded “${name}”.` }, 200);
    },
    uploadFailed,
  );

  router.get('/users/:id/picture/delete', async (req, res) => {
    const user = await User.findWithPicture(req.params.id);
    res.render('confirm', {
      user,
      title: `Delete ${user.name}'s picture?`,
      detail: `This deletes the picture and its thumbnails: ${user.pictureSet.images.length} image files. It can't be undone.`,
      action: `/users/${user.id}/picture/delete`,
      button: 'Delete the picture',
    });
  });

  router.post('/users/:id/picture/delete', loadUser, async (_req, res) => {
    const user: User = res.locals.user;
    // Rows go in a transaction; the files once it has committed.
    await user.pictureSet.remove();
    setFlash(res, { kind: 'done', text: 'Picture deleted.' });
    res.redirect(303, `/users/${user.id}`);
  });

  // The focal point: the picture's clicked spot (public/focal.js) or the form's two numbers, in
  // percent of its width and height. setFocalPoint() stores it beside the image table and
  // remakes the avatar around it before answering, so the page we redirect to shows the new crop.
  router.post(
    '/users/:id/picture/focal-point',
    express.urlencoded({ extended: false, limit: '1kb' }),
    loadUser,
    async (req, res) => {
      const user: User = res.locals.user;
      const [x, y] = [req.body?.x, req.body?.y].map((value) => (/^\d{1,3}(\.\d+)?$/.test(value) ? Number(value) : NaN));
      if (!(x! <= 100 && y! <= 100) || user.pictureSet.original === undefined) {
        setFlash(res, { kind: 'error', text: 'Give the focal point as two numbers from 0 to 100.', field: 'focal' });
      } else {
        await user.pictureSet.setFocalPoint({ x: x! / 100, y: y! / 100 });
        setFlash(res, { kind: 'done', text: `Focal point set to ${x}% across, ${y}% down.`, field: 'focal' });
      }
      res.redirect(303, `/users/${user.id}`);
    },
  );

  // Any allowed width, made on first request (one thumbnail for any number of concurrent
  // requests), then its bytes, with the static server's validators (a revalidating browser gets a
  // 304). The user page links to these widths: as an <img src="/users/1/picture?width=200"> one
  // would be made, and join the set, the first time anyone merely viewed the page.
  router.get(
    '/users/:id/picture',
    thumbnailRoute({
      widths: ON_DEMAND_WIDTHS,
      load: async (req) => (await User.findWithPicture(String(req.params.id))).pictureSet,
    }),
  );

  return router;
}

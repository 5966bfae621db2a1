/**
 * A user's picture: upload (with thumbnails made at once), delete, and thumbnails on demand.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { imageUpload, type ThumbnailFormat, thumbnailRoute, type UploadedImage } from 'objection-imageattach';
import { User } from '../models.js';

/** Made at upload: the sizes the pages show. */
export const UPLOAD_THUMBNAILS: ReadonlyArray<{ width: number; format?: ThumbnailFormat }> = [
  { width: 100 }, // the gallery (in the original's format)
  { width: 400 }, // the user page
  { width: 800, format: 'webp' }, // the user page on high-density screens, for browsers that read WebP
];

/** What `GET /users/:id/picture?width=N` may make. Any other N is a 400. */
export const ON_DEMAND_WIDTHS = [50, 100, 200, 400, 800];

/** Finds the user of the URL first: no one uploads a file for a user who is not there. */
async function loadUser(req: Request<{ id: string }>, res: Response, next: NextFunction): Promise<void> {
  res.locals.user = await User.findWithPicture(req.params.id);
  next();
}

export function picturesRouter(options: { tempDir: string }): Router {
  const router = express.Router();

  // imageUpload() streams the file to a temp file (never into memory), reads its real type and
  // size, and rejects what is too big, too many pixels, not an image or truncated: a 4xx error,
  // which the app's error page shows. The temp file is removed when the response is over.
  const upload = imageUpload({ field: 'picture', maxBytes: 10 * 1024 * 1024, maxPixels: 40_000_000, tempDir: options.tempDir });

  router.post('/users/:id/picture', loadUser, upload, async (req, res) => {
    const user: User = res.locals.user;
    const file = req.file as UploadedImage;
    // The original first, in a transaction of its own: it replaces the old set (old rows now,
    // old files once that commits). `probed`: imageUpload() has read the file already.
    const original = await user.pictureSet.fromFile(file.path, { probed: file.probed });
    // Then the thumbnails, side by side. Given no transaction, each is rendered before a short one
    // of its own takes the database, so other requests never wait for a resize (SQLite has one
    // writer). Thumbnails shrink, never enlarge: a small upload gets fewer. Should one fail, the
    // original stays, and thumbnailRoute() below makes any missing width on demand.
    await Promise.all(
      UPLOAD_THUMBNAILS.filter(({ width }) => width < original.width).map(({ width, format }) =>
        user.pictureSet.findOrCreateThumbnail({ width }, { format }),
      ),
    );
    res.redirect(303, `/users/${user.id}`);
  });

  router.post('/users/:id/picture/delete', loadUser, async (_req, res) => {
    const user: User = res.locals.user;
    // Rows go in a transaction; the files once it has committed.
    await user.pictureSet.remove();
    res.redirect(303, `/users/${user.id}`);
  });

  // Any allowed width, made on first request (one thumbnail for any number of concurrent
  // requests), then a redirect to its URL. Pages use it as <img src="/users/1/picture?width=200">.
  router.get(
    '/users/:id/picture',
    thumbnailRoute({
      widths: ON_DEMAND_WIDTHS,
      load: async (req) => (await User.findWithPicture(String(req.params.id))).pictureSet,
    }),
  );

  return router;
}

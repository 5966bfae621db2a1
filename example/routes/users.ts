/**
 * The gallery, adding and deleting users, and a user's page.
 */
import express, { type Router } from 'express';
import { setFlash, takeFlash } from '../flash.js';
import { User } from '../models.js';
import { imageKind, ON_DEMAND_WIDTHS, UPLOAD_LIMITS } from './pictures.js';

const NOTICES = {
  thumbnailsNotQueued:
    'Your picture is stored, but its thumbnails could not be queued (the thumbnail queue is unavailable): the original stands in for them until they are made.',
};

export function usersRouter(): Router {
  const router = express.Router();

  // The gallery. withGraphFetched loads every user's images in one more query, however many
  // users there are; imgTag() in the view then needs no query and no store I/O.
  router.get('/', async (req, res) => {
    const users = await User.query().withGraphFetched('picture').orderBy('id', 'desc');
    res.render('index', { users, flash: takeFlash(req, res) });
  });

  router.post('/users', express.urlencoded({ extended: false, limit: '4kb' }), async (req, res) => {
    const name = typeof req.body?.name === 'string' ? req.body.name.trim() : '';
    if (name.length < 1 || name.length > 100) {
      // Back to the form, with the message beside it (and nothing to re-post on reload).
      const text =
        name.length < 1 ? 'Type a name for the new user first.' : 'A name can be at most 100 characters long.';
      setFlash(res, { kind: 'error', text, field: 'name' });
      res.redirect(303, '/');
      return;
    }
    const user = await User.query().insert({ name });
    setFlash(res, { kind: 'done', text: `Added ${user.name}.` });
    // 303: the browser follows with a GET, so reloading the page does not post the form again.
    res.redirect(303, `/users/${user.id}`);
  });

  router.get('/users/:id', async (req, res) => {
    const user = await User.findWithPicture(req.params.id);
    // A notice the upload route redirects with (a fixed set: never the query's text itself).
    const notice = req.query.notice === 'thumbnails-not-queued' ? NOTICES.thumbnailsNotQueued : undefined;
    res.render('user', {
      user,
      onDemandWidths: ON_DEMAND_WIDTHS,
      imageKind,
      limits: UPLOAD_LIMITS,
      flash: takeFlash(req, res),
      notice,
    });
  });

  // Deleting asks first, on a page of its own: it works without JavaScript and with a keyboard.
  router.get('/users/:id/delete', async (req, res) => {
    const user = await User.findWithPicture(req.params.id);
    res.render('confirm', {
      user,
      title: `Delete ${user.name}?`,
      detail: user.pictureSet.original
        ? `This deletes ${user.name} and their picture: ${user.pictureSet.images.length} image files. It can't be undone.`
        : `This deletes ${user.name}. It can't be undone.`,
      action: `/users/${user.id}/delete`,
      button: `Delete ${user.name}`,
    });
  });

  router.post('/users/:id/delete', async (req, res) => {
    const user = await User.findWithPicture(req.params.id);
    // ImageOwner (models.ts): deleting the user deletes their images' rows in the same
    // transaction, and their files once it has committed.
    await User.transaction(async (trx) => {
      await user.$query(trx).delete();
    });
    setFlash(res, { kind: 'done', text: `Deleted ${user.name}.` });
    res.redirect(303, '/');
  });

  return router;
}

/**
 * The gallery, adding users, and a user's page.
 */
import express, { type Router } from 'express';
import { User } from '../models.js';
import { ON_DEMAND_WIDTHS } from './pictures.js';

const NOTICES = {
  thumbnailsNotQueued: 'Your picture is stored, but its thumbnails could not be queued (the thumbnail queue is unavailable): the original stands in for them until they are made.',
};

export function usersRouter(): Router {
  const router = express.Router();

  // The gallery. withGraphFetched loads every user's images in one more query, however many
  // users there are; imgTag() in the view then needs no query and no store I/O.
  router.get('/', async (_req, res) => {
    const users = await User.query().withGraphFetched('picture').orderBy('id', 'desc');
    res.render('index', { users });
  });

  router.post('/users', express.urlencoded({ extended: false, limit: '4kb' }), async (req, res) => {
    const name = typeof req.body?.name === 'string' ? req.body.name.trim() : '';
    if (name.length < 1 || name.length > 100) {
      res.status(400).render('error', { status: 400, message: 'A name of 1 to 100 characters, please.' });
      return;
    }
    const user = await User.query().insert({ name });
    // 303: the browser follows with a GET, so reloading the page does not post the form again.
    res.redirect(303, `/users/${user.id}`);
  });

  router.get('/users/:id', async (req, res) => {
    const user = await User.findWithPicture(req.params.id);
    // A notice the upload route redirects with (a fixed set: never the query's text itself).
    const notice = req.query.notice === 'thumbnails-not-queued' ? NOTICES.thumbnailsNotQueued : undefined;
    res.render('user', { user, onDemandWidths: ON_DEMAND_WIDTHS, notice });
  });

  return router;
}

/**
 * A malformed owner id in the URL (`/users/abc`) is a 404 on every database, never a 500, in
 * thumbnailRoute() and in an upload route as the docs write it: on
 * PostgreSQL the driver refuses `'abc'` for an integer column (invalid input syntax), on MariaDB a
 * NaN is no SQL value at all. Both ways of writing `load` are covered.
 */
import assert from 'node:assert/strict';
import type { NextFunction, Request, Response } from 'express';
import { Model } from 'objection';
import request from 'supertest';
import { imageSet } from '../../src/entity/image-set.js';
import { storeContext, withStore } from '../../src/context.js';
import { thumbnailRoute } from '../../src/http/thumbnail-route.js';
import { imageUpload } from '../../src/http/upload.js';
import { FileSystemStore } from '../../src/stores/fs.js';
import { createSchema, User } from '../entity/models.js';
import { forEachDialect } from '../support/db.js';
import { fsStore } from '../support/fs-store.js';
import { jpeg } from '../support/images.js';
import { listTree, removeDir, tempDir } from '../support/tmp.js';
import { forEachExpress } from './express-majors.js';

const MALFORMED = ['abc', 'NaN', '1.5', '99999999999999999999', '1e3', '%20', '-', '0x10'];

forEachDialect('a malformed owner id', (db, dialect) => {
  let store: FileSystemStore;
  let cleanup: () => Promise<void>;
  let annId: number;

  before(async function () {
    Model.knex(db());
    await createSchema(db());
    ({ store, cleanup } = await fsStore(`owner-id-${dialect}`, 'http://img.test/'));
    const ann = await User.query().insert({ name: 'Ann' });
    annId = ann.id;
    const bytes = await jpeg(80, 60);
    await withStore(store, () => imageSet(ann, 'picture').fromBlob(bytes));
  });
  after(async function () {
    await cleanup();
  });

  forEachExpress('answers 404, never 500', function (express) {
    function appWith(load: Parameters<typeof thumbnailRoute>[0]['load']) {
      const app = express();
      app.use(storeContext(store));
      app.get('/users/:id/picture', thumbnailRoute({ widths: [40], load }));
      app.use((error: any, _req: Request, res: Response, _next: NextFunction) => {
        res.status(error.statusCode ?? 500).json({ code: error.code, message: error.message });
      });
      return app;
    }
    const loads: Record<string, Parameters<typeof thumbnailRoute>[0]['load']> = {
      'an owner made from Number(id)': (req) => imageSet(User.fromJson({ id: Number(req.params.id) }), 'picture'),
      'an owner made from the id as text': (req) =>
        imageSet(User.fromJson({ id: req.params.id as unknown as number }), 'picture'),
      'an owner fetched by the route': async (req) => {
        const user = await User.query().findById(req.params.id!).withGraphFetched('picture');
        return user && imageSet(user, 'picture');
      },
    };

    it('and an upload route written as docs/uploads.md says (the id checked by app.param)', async function () {
      const tmp = await tempDir(`owner-id-upload-${dialect}`);
      try {
        const app = express();
        app.param('id', (_req, _res, next, id: string) => next(/^[1-9][0-9]{0,9}$/.test(id) ? undefined : 'route'));
        // Express 4 does not catch a rejected promise: the route hands its errors to next() itself.
        app.post('/users/:id/picture', imageUpload({ field: 'picture', tempDir: tmp }), async (req, res, next) => {
          try {
            const user = await User.query().findById(Number(req.params.id)).throwIfNotFound();
            await withStore(store, () =>
              imageSet(user, 'picture').fromFile(req.file!.path, { probed: req.file!.probed }),
            );
            res.sendStatus(204);
          } catch (error) {
            next(error);
          }
        });
        app.use((error: any, _req: Request, res: Response, _next: NextFunction) => {
          res.status(error.statusCode ?? 500).json({ code: error.code });
        });
        const picture = await jpeg(80, 60);
        for (const id of [...MALFORMED, '0', '123456']) {
          const res = await request(app).post(`/users/${id}/picture`).attach('picture', picture, 'a.jpg');
          assert.equal(res.status, 404, `/users/${id}`);
        }
        assert.equal(
          (await request(app).post(`/users/${annId}/picture`).attach('picture', picture, 'a.jpg')).status,
          204,
        );
        assert.deepEqual(await listTree(tmp), []);
      } finally {
        await removeDir(tmp);
      }
    });

    for (const [how, load] of Object.entries(loads)) {
      it(`with ${how}`, async function () {
        const app = appWith(load);
        for (const id of MALFORMED) {
          const res = await request(app).get(`/users/${id}/picture?width=40`);
          assert.deepEqual(
            [res.status, res.body.code],
            [404, 'ERR_IMAGE_NOT_FOUND'],
            `/users/${id}: ${res.body.message}`,
          );
        }
        // A good id still answers.
        assert.equal((await request(app).get(`/users/${annId}/picture?width=40`)).status, 200);
      });
    }
  });
});

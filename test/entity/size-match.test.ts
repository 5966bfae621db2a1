import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import express from 'express';
import { Model } from 'objection';
import request from 'supertest';
import { storeContext, withStore } from '../../src/context.js';
import { imageSet } from '../../src/entity/image-set.js';
import { thumbnailRoute } from '../../src/http/thumbnail-route.js';
import { identityOf } from '../../src/queue/job.js';
import { runThumbnailJob } from '../../src/queue/process.js';
import { FileSystemStore } from '../../src/stores/fs.js';
import { forEachDialect } from '../support/db.js';
import { fsStore } from '../support/fs-store.js';
import { jpeg } from '../support/images.js';
import { createPythonSchema, insertPythonRow } from '../support/python-schema.js';
import { User, UserPicture } from './models.js';

forEachDialect('reuse before computing (SQLAlchemy-ImageAttach sets)', (db, dialect) => {
  let root: string;
  let store: FileSystemStore;
  let cleanup: () => Promise<void>;
  let user: User;

  before(async function () {
    Model.knex(db());
    await createPythonSchema(db(), dialect);
  });
  beforeEach(async function () {
    ({ store, dir: root, cleanup } = await fsStore(`size-match-${dialect}`));
    user = await User.query().insert({ name: 'Ann' });
  });
  afterEach(async function () {
    await cleanup();
  });

  /** A row and its file, as the Python library writes them: `user-picture/<id>/0/<id>.<w>x<h>.jpe`. */
  async function pythonImage(width: number, height: number, original: boolean): Promise<void> {
    await insertPythonRow(db(), dialect, {
      user_id: user.id,
      width,
      height,
      mimetype: 'image/jpeg',
      original,
      created_at: '2026-12-02 11:04:43.123456',
    });
    const dir = path.join(root, 'user-picture', String(user.id), '0');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, `${user.id}.${width}x${height}.jpe`), await jpeg(width, height));
  }
  const sizes = async () =>
    (await UserPicture.query().where('user_id', user.id).orderBy(['width', 'height'])).map(
      (i) => `${i.width}x${i.height}`,
    );

  it("SQLAlchemy-ImageAttach's own test_generate_thumbnail: { width: 202 } after { height: 320 } of 405×640 returns that 202×320", async function () {
    await withStore(store, async () => {
      const set = imageSet(user, 'picture');
      await set.fromBlob(await jpeg(405, 640));
      const byHeight = await set.generateThumbnail({ height: 320 });
      const byWidth = await set.generateThumbnail({ width: 202 });
      assert.deepEqual([byHeight.width, byHeight.height], [202, 320]);
      assert.deepEqual([byWidth.width, byWidth.height], [202, 320]);
    });
    assert.deepEqual(await sizes(), ['202x320', '405x640']);
  });

  it('a Python set holding 87×57: generateThumbnail and findOrCreateThumbnail by width or height return it, adding no 87×58', async function () {
    await pythonImage(300, 200, true);
    await pythonImage(87, 57, false);
    await withStore(store, async () => {
      const set = imageSet(user, 'picture');
      for (const found of [
        await set.generateThumbnail({ width: 87 }),
        await set.generateThumbnail({ height: 57 }),
        await set.findOrCreateThumbnail({ width: 87 }),
        await set.findOrCreateThumbnail({ height: 57 }),
      ]) {
        assert.deepEqual([found.width, found.height, found.original], [87, 57, false]);
      }
    });
    assert.deepEqual(await sizes(), ['87x57', '300x200']);
  });

  it('a queue job for { width: 87 } on that set finds 87×57 and makes nothing', async function () {
    await pythonImage(300, 200, true);
    await pythonImage(87, 57, false);
    const original = (await UserPicture.query().where({ user_id: user.id, original: true }))[0]!;
    const data = {
      v: 1 as const,
      model: 'User',
      id: user.id,
      relation: 'picture',
      subset: {},
      size: { width: 87 },
      store: 'default',
      original: identityOf(original),
    };
    const result = await runThumbnailJob(data, { models: { User }, stores: { default: store } });
    assert.deepEqual(result, { status: 'existing', width: 87, height: 57, mimetype: 'image/jpeg' });
    assert.deepEqual(await sizes(), ['87x57', '300x200']);
  });

  it('the on-demand route for ?width=87 redirects to 87×57 and makes nothing', async function () {
    await pythonImage(300, 200, true);
    await pythonImage(87, 57, false);
    const app = express();
    app.use(storeContext(store));
    // As a redirect, so the Location names the image chosen (a file answer would send its bytes).
    app.get(
      '/users/:id/picture',
      thumbnailRoute({
        widths: [87],
        respondWith: 'redirect',
        load: async (req) => imageSet((await User.query().findById(req.params.id!))!, 'picture'),
      }),
    );
    const response = await request(app).get(`/users/${user.id}/picture?width=87`).expect(302);
    assert.match(response.headers.location!, new RegExp(`/${user.id}\\.87x57\\.jpe\\?_ts=`));
    assert.deepEqual(await sizes(), ['87x57', '300x200']);
  });

  it('a { ratio } is answered by the image of the computed size, as SQLAlchemy-ImageAttach does', async function () {
    await pythonImage(300, 200, true);
    await pythonImage(87, 57, false);
    await withStore(store, async () => {
      const t = await imageSet(user, 'picture').generateThumbnail({ ratio: 0.29 });
      assert.deepEqual([t.width, t.height], [87, 57]);
    });
    assert.deepEqual(await sizes(), ['87x57', '300x200']);
  });

  it('findThumbnail with several matches: the original first, else the smallest on the other side', async function () {
    await pythonImage(300, 200, true);
    await pythonImage(87, 58, false);
    await pythonImage(87, 57, false);
    await pythonImage(300, 199, false);
    const set = await imageSet(user, 'picture').load();
    const size = (i: UserPicture) => `${i.width}x${i.height}${i.original ? ' original' : ''}`;
    assert.equal(size(set.findThumbnail({ width: 87 })), '87x57');
    assert.equal(size(set.findThumbnail({ width: 300 })), '300x200 original');
    assert.equal(size(set.findThumbnail({ width: 87, height: 58 })), '87x58');
    await withStore(store, async () => {
      assert.equal(size(await set.generateThumbnail({ width: 87 })), '87x57');
      assert.equal(size(await set.generateThumbnail({ width: 300 })), '300x200 original');
    });
  });
});

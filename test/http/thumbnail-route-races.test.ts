import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import express, { type NextFunction, type Request, type Response } from 'express';
import { Model } from 'objection';
import request from 'supertest';
import { storeContext } from '../../src/context.js';
import { imageSet, withStore } from '../../src/index.js';
import { thumbnailRoute } from '../../src/http/thumbnail-route.js';
import { createSchema, User } from '../entity/models.js';
import { colourOf, solid } from '../support/colours.js';
import { forEachDialect } from '../support/db.js';
import { GatedFileSystemStore } from '../support/gated-fs-store.js';
import { gate, until } from '../support/hooked-store.js';
import { waitsForLock } from '../support/lock-waits.js';
import { removeDir, tempDir } from '../support/tmp.js';
import { bodyOf, bytes } from './fixtures.js';

forEachDialect('thumbnailRoute() while the picture is replaced or broken', (db, dialect) => {
  let root: string;
  let store: GatedFileSystemStore;
  let app: express.Express;
  let ann: User;

  before(async function () {
    Model.knex(db());
    await createSchema(db());
  });
  beforeEach(async function () {
    root = await tempDir(`route-race-${dialect}`);
    store = new GatedFileSystemStore({ path: root, baseUrl: 'http://img.test/' });
    ann = await User.query().insert({ name: 'Ann' });
    await withStore(store, async () => imageSet(ann, 'picture').fromBlob(await solid(800, 600, '#d00000')));
    app = express();
    app.use(storeContext(store));
    app.get(
      '/users/:id/picture',
      thumbnailRoute({
        widths: [100, 200],
        load: (req) => imageSet(User.fromJson({ id: Number(req.params.id) }), 'picture'),
      }),
    );
    app.use((error: any, _req: Request, res: Response, _next: NextFunction) => {
      res.status(error.statusCode ?? 500).json({ code: error.code, message: error.message });
    });
  });
  afterEach(async function () {
    await removeDir(root);
  });

  const get = (query: string) => request(app).get(`/users/${ann.id}/picture${query}`).buffer(true).parse(bytes);

  // Regression (issue 22 #1): a ?width=200 asked while the picture was replaced answered (and kept)
  // the old photo's thumbnail in the new set, or a 500 ERR_STORE_WRITE, or a 400 naming a path.
  it('answers a thumbnail of the new picture once the replacement returns, never the old one', async function () {
    const held = gate();
    store.holdNext = { gate: held, which: (key) => key.width === 640 };
    const replacing = withStore(store, async () => imageSet(ann, 'picture').fromBlob(await solid(640, 480, '#0000d0')));
    await held.reached;
    let answered = false;
    const during = get('?width=200').then((res) => {
      answered = true;
      return res;
    });
    await until(
      async () => answered || (await waitsForLock(db(), dialect)),
      15_000,
      'the request to wait for the replacement',
    );
    held.open();
    await replacing;
    const res = await during;
    assert.equal(res.status, 200, bodyOf(res).toString());
    assert.equal(await colourOf(bodyOf(res)), 'blue');
    const after = await get('?width=200');
    assert.equal(after.status, 200);
    assert.equal(await colourOf(bodyOf(after)), 'blue');
  });

  // Issue 22 #8 and #15: a stored original that cannot be decoded (damaged on disk, or written by
  // another program) answered 500 ERR_STORE_WRITE or a 400 after decoding it twice per request.
  it('answers 422 ERR_ORIGINAL_UNREADABLE for a stored original that does not decode, at once the next time, with no path', async function () {
    const user = (await User.query().findById(ann.id).withGraphFetched('picture'))!;
    const file = store.pathFor(imageSet(user, 'picture').requireOriginal());
    const good = await solid(800, 600, '#d00000');
    // The header stays (the size is read), the scan is cut: the decoder fails part way.
    await writeFile(file, good.subarray(0, Math.floor(good.length * 0.6)));
    // Opened once (the render made ahead, outside the transaction), not again in the transaction.
    let opened = 0;
    const localPath = store.localPath.bind(store);
    store.localPath = (key) => {
      if (key.width === 800) opened++;
      return localPath(key);
    };
    const first = await request(app).get(`/users/${ann.id}/picture?width=100`);
    assert.equal(first.status, 422, JSON.stringify(first.body));
    assert.equal(opened, 1);
    assert.equal(first.body.code, 'ERR_ORIGINAL_UNREADABLE');
    assert.ok(!first.text.includes(root), first.text);
    // The next request does not open the original again.
    opened = 0;
    const again = await request(app).get(`/users/${ann.id}/picture?width=200`);
    assert.equal(opened, 0);
    assert.deepEqual([again.status, again.body.code], [422, 'ERR_ORIGINAL_UNREADABLE']);
    assert.ok(!again.text.includes(root), again.text);
    // A replacement clears it.
    await withStore(store, async () => imageSet(ann, 'picture').fromBlob(await solid(800, 600, '#0000d0')));
    const fixed = await get('?width=100');
    assert.equal(fixed.status, 200);
    assert.equal(await colourOf(bodyOf(fixed)), 'blue');
  });
});

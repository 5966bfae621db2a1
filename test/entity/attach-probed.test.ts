import assert from 'node:assert/strict';
import { unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Model } from 'objection';
import sharp from 'sharp';
import {
  FileSystemStore,
  imageSet,
  InvalidArgumentError,
  InvalidImageError,
  popStoreContext,
  pushStoreContext,
} from '../../src/index.js';
import { forEachDialect } from '../support/db.js';
import { jpeg, png } from '../support/images.js';
import { listTree, removeDir, tempDir } from '../support/tmp.js';
import { createSchema, User, UserPicture } from './models.js';

// The `probed` attach option: imageUpload() has read the file already; attach reuses that.
forEachDialect('attaching with an earlier probe', (db, dialect) => {
  let root: string;
  let user: User;
  let file: string;
  let bytes: Buffer;

  before(async function () {
    Model.knex(db());
    await createSchema(db());
  });
  beforeEach(async function () {
    root = await tempDir(`probed-${dialect}`);
    pushStoreContext(new FileSystemStore({ path: path.join(root, 'store'), baseUrl: 'http://static.example.com/' }));
    user = await User.query().insert({ name: 'Ann' });
    bytes = await jpeg(64, 48);
    file = path.join(root, 'upload.jpg');
    await writeFile(file, bytes);
  });
  afterEach(async function () {
    popStoreContext();
    await removeDir(root);
  });

  const probe = () => ({ mimetype: 'image/jpeg', width: 64, height: 48, size: bytes.length, pixels: 64 * 48 });

  it('stores the row the probe describes without decoding the file again', async function () {
    // A probe that differs from the bytes in width proves the file was not read again.
    const image = await imageSet(user, 'picture').fromFile(file, {
      probed: { ...probe(), width: 65, pixels: 65 * 48 },
    });
    assert.deepEqual([image.width, image.height, image.mimetype], [65, 48, 'image/jpeg']);
    assert.equal((await sharp(await imageSet(user, 'picture').makeBlob()).metadata()).width, 64);
  });

  it("still checks the probe against the set's limits", async function () {
    await assert.rejects(
      imageSet(user, 'picture').fromFile(file, { probed: probe(), types: ['image/png'] }),
      (e: unknown) => e instanceof InvalidImageError && e.code === 'ERR_IMAGE_UNSUPPORTED_TYPE' && e.statusCode === 415,
    );
    await assert.rejects(imageSet(user, 'picture').fromFile(file, { probed: probe(), maxPixels: 1000 }), {
      code: 'ERR_IMAGE_TOO_MANY_PIXELS',
      message: 'Expected at most 1000 pixels but the image declares 64×48 (3072 pixels)',
    });
    await assert.rejects(imageSet(user, 'picture').fromFile(file, { probed: probe(), maxBytes: 10 }), {
      code: 'ERR_IMAGE_TOO_LARGE',
    });
    assert.deepEqual(await listTree(path.join(root, 'store')), []);
  });

  it('refuses a probe of other bytes (its size differs from the file)', async function () {
    const other = await png(64, 48);
    await assert.rejects(
      imageSet(user, 'picture').fromFile(file, { probed: { ...probe(), size: other.length } }),
      (e: unknown) =>
        e instanceof InvalidArgumentError &&
        e.message ===
          `Expected ${bytes.length} (the size of the file attached) for options.probed.size but received ${other.length} of type number`,
    );
  });

  // Regression: the file was opened as a stream before the ledger listened to it, so a file gone
  // by then (an upload's temp file removed when its client hung up) crashed the process.
  it('rejects, and stores nothing, when the file is gone by the time it is copied', async function () {
    const removeOnInsert = (query: { sql: string }) => {
      if (/^insert/i.test(query.sql)) void unlink(file).catch(() => {});
    };
    // The unlink must land before the copy opens the file: do it when the row is inserted.
    db().on('query', removeOnInsert);
    try {
      await assert.rejects(imageSet(user, 'picture').fromFile(file, { probed: probe() }), {
        code: 'ERR_IMAGE_NOT_FOUND',
      });
    } finally {
      db().off('query', removeOnInsert);
    }
    assert.equal(await UserPicture.query().where('user_id', user.id).resultSize(), 0);
    assert.deepEqual(await listTree(path.join(root, 'store')), []);
  });

  it('refuses something that is not a probe result', async function () {
    await assert.rejects(imageSet(user, 'picture').fromFile(file, { probed: { mimetype: 'image/jpeg' } as never }), {
      message:
        'Expected the result of probing this file ({ mimetype, width, height, size, pixels }) for options.probed but received an object',
    });
  });
});

import assert from 'node:assert/strict';
import knexFactory, { type Knex } from 'knex';
import { Model } from 'objection';
import sharp from 'sharp';
import { FileSystemStore, imageSet, InvalidImageError, withStore } from '../../src/index.js';
import { fsStore } from '../support/fs-store.js';
import { listTree } from '../support/tmp.js';
import { createSchema, User, UserPicture } from './models.js';

/** An animated GIF of three frames whose last frame's data is broken: its first frame decodes. */
async function gifWithBrokenLastFrame(): Promise<Buffer> {
  const frames = await sharp({
    create: {
      width: 64,
      height: 144,
      channels: 4,
      background: '#777',
      noise: { type: 'gaussian', mean: 128, sigma: 40 },
    },
  })
    .raw()
    .toBuffer();
  const gif = await sharp(frames, { raw: { width: 64, height: 144, channels: 4, pageHeight: 48 } })
    .gif()
    .toBuffer();
  const broken = Buffer.from(gif);
  const at = Math.floor(gif.length * 0.9);
  broken.fill(0xff, at, at + 40);
  return broken;
}

// Issue 22 #8: an original that passed the probe but that sharp could not decode was stored, and
// every thumbnail request then failed on it. What is stored must decode, before anything commits.
describe('attaching an original that does not decode in full', function () {
  let knex: Knex;
  let root: string;
  let store: FileSystemStore;
  let cleanup: () => Promise<void>;
  let user: User;

  before(async function () {
    knex = knexFactory({
      client: 'better-sqlite3',
      connection: { filename: ':memory:' },
      useNullAsDefault: true,
      pool: { min: 1, max: 1 },
    });
    Model.knex(knex);
    await createSchema(knex);
  });
  after(async function () {
    await knex.destroy();
  });
  beforeEach(async function () {
    ({ store, dir: root, cleanup } = await fsStore('attach-undecodable', 'http://img.test/'));
    user = await User.query().insert({ name: 'Ann' });
  });
  afterEach(async function () {
    await cleanup();
  });

  for (const [title, options] of [
    ['alone', {}],
    [
      'with JPEG thumbnails (which read the first frame only)',
      { thumbnails: [{ width: 32, format: 'jpeg' as const }] },
    ],
  ] as const) {
    it(`refuses an animation with a broken later frame with a 400 ERR_IMAGE_UNREADABLE, storing nothing (${title})`, async function () {
      const gif = await gifWithBrokenLastFrame();
      await assert.rejects(
        withStore(store, () => imageSet(user, 'picture').fromBlob(gif, options)),
        (error: unknown) =>
          error instanceof InvalidImageError && error.code === 'ERR_IMAGE_UNREADABLE' && error.statusCode === 400,
      );
      assert.deepEqual(await UserPicture.query().where({ user_id: user.id }), []);
      assert.deepEqual(await listTree(root), []);
    });
  }

  it('still attaches an animation whose frames all decode, and makes its thumbnails', async function () {
    const frames = await sharp({ create: { width: 64, height: 144, channels: 4, background: '#0a0' } })
      .raw()
      .toBuffer();
    const gif = await sharp(frames, { raw: { width: 64, height: 144, channels: 4, pageHeight: 48 } })
      .gif()
      .toBuffer();
    await withStore(store, () => imageSet(user, 'picture').fromBlob(gif));
    const thumbnail = await withStore(store, () => imageSet(user, 'picture').generateThumbnail({ width: 32 }));
    assert.deepEqual([thumbnail.width, thumbnail.height], [32, 24]);
  });
});

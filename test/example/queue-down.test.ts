/**
 * The example's upload with its thumbnail queue unreachable (Redis down): the original is
 * committed before the thumbnails are queued, so the answer says that, not a bare 503.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import request from 'supertest';
import { User, UserPicture } from '../../example/models.js';
import { jpeg } from '../support/images.js';
import { exampleDatabases, type MountedExample, mountExample } from './harness.js';

/** A port where nothing listens: a Redis that is down. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('the example upload with Redis down', function () {
  this.timeout(60_000);
  let example: MountedExample;

  before(async function () {
    example = await mountExample(exampleDatabases[0], { redisUrl: `redis://127.0.0.1:${await closedPort()}` });
  });
  after(async function () {
    await example?.dispose();
  });

  it('says the picture is stored and its thumbnails are not queued', async function () {
    const user = await User.query().insert({ name: 'No queue' });
    const upload = await request(example.app)
      .post(`/users/${user.id}/picture`)
      .attach('picture', await jpeg(800, 600), 'photo.jpg');
    assert.equal(upload.status, 303, upload.text);
    assert.equal(upload.headers.location, `/users/${user.id}?notice=thumbnails-not-queued`);
    assert.equal(
      (await UserPicture.query().where({ user_id: user.id, original: true })).length,
      1,
      'the original is committed',
    );
    const page = await request(example.app).get(upload.headers.location!).expect(200);
    assert.match(page.text, /Your picture is stored, but its thumbnails could not be queued/);
  });
});

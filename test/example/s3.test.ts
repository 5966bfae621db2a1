/**
 * The example with S3_BUCKET set: its images in a bucket of s3rver, a real S3 endpoint.
 */
import assert from 'node:assert/strict';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import request from 'supertest';
import { spawnS3rver } from '../support/s3.js';
import { exampleDatabases, type MountedExample, mountExample } from './harness.js';
import { sceneJpeg } from './scene.js';

describe('the example app with S3_BUCKET', function () {
  let server: Awaited<ReturnType<typeof spawnS3rver>>;
  let endpoint: string;
  let example: MountedExample;
  const saved = { ...process.env };

  before(async function () {
    server = await spawnS3rver();
    endpoint = server.endpoint;
    // What a deployment would set: credentials through the SDK's environment chain, and (for
    // s3rver only) plain uploads instead of aws-chunked ones with streaming checksums.
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    });
    const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true });
    await client.send(new CreateBucketCommand({ Bucket: 'example-images' }));
    client.destroy();
    example = await mountExample(exampleDatabases[0], { s3: { bucket: 'example-images', endpoint } });
  });
  after(async function () {
    await example?.dispose();
    await server?.stop();
    process.env = saved;
  });

  it('keeps uploads, their thumbnails and avatars in the bucket, with URLs on the endpoint', async function () {
    const created = await request(example.app).post('/users').type('form').send({ name: 'Ann' }).expect(303);
    const page = created.headers.location!;
    await request(example.app)
      .post(`${page}/picture`)
      .attach('picture', await sceneJpeg(1200, 900), 'sunset.jpg')
      .expect(303);
    const html = (await request(example.app).get(page).expect(200)).text;
    // Every image of the set, from the picture's src and srcsets and the table's links.
    const found = [...html.matchAll(/(?:src|srcset|href)="(http[^"]+)"/g)].flatMap((m) =>
      m[1]!.split(', ').map((entry) => entry.split(' ')[0]!.replace(/&amp;/g, '&')),
    );
    const urls = [...new Set(found)];
    // The original and three thumbnails, and the avatar's six outputs (AVIF, WebP, JPEG at 1× and 2×).
    assert.equal(urls.length, 10, urls.join('\n'));
    assert.equal(urls.filter((url) => url.includes('/example-images/user-picture.avatar.')).length, 6);
    for (const url of urls) {
      assert.match(url, new RegExp(`^${endpoint}/example-images/user-picture(\\.avatar\\.[0-9a-f]{12})?/`), url);
      const res = await fetch(url);
      assert.equal(res.status, 200, url);
      assert.match(res.headers.get('content-type') ?? '', /^image\//);
    }
  });
});

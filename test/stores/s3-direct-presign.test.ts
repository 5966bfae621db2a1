import assert from 'node:assert/strict';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { S3Store, type S3StoreOptions, type SigningCredentials } from '../../src/s3.js';
import { newUploadId } from '../../src/stores/direct-uploads.js';
import type { S3DirectUploads } from '../../src/stores/s3-direct-uploads.js';

const keys = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const secrets = ['s'.repeat(32)];

/** An SDK client as the store signs: the same region, endpoint and credentials, no checksum parameters. */
function sdkClient(options: S3StoreOptions, extra: Record<string, unknown> = {}): S3Client {
  return new S3Client({
    region: options.region,
    endpoint: options.endpoint,
    forcePathStyle: options.forcePathStyle,
    credentials: options.credentials as SigningCredentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...extra,
  });
}

const cases: Array<[string, S3StoreOptions]> = [
  ['a virtual-hosted AWS bucket, with a prefix', { bucket: 'photos', region: 'eu-west-1', prefix: 'app/images' }],
  [
    'temporary credentials (session token)',
    { bucket: 'photos', region: 'us-east-1', credentials: { ...keys, sessionToken: 'FwoGZXIvYXdzEJr//token+/=' } },
  ],
  [
    'a path-style custom endpoint with a port',
    { bucket: 'photos', region: 'us-east-1', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true },
  ],
];

describe('direct-upload signatures against the AWS SDK, byte for byte', function () {
  // Whole seconds: SigV4 dates have no fraction, and the store floors "now" to them.
  const now = Math.floor(Date.now() / 1000) * 1000;
  const target = { id: newUploadId(), size: 2_345_678, type: 'image/jpeg', expiresAt: new Date(now + 900_000) };

  for (const [label, base] of cases) {
    const options: S3StoreOptions = { credentials: keys, ...base };

    it(`POST policy matches @aws-sdk/s3-presigned-post: ${label}`, async function () {
      const store = new S3Store({ ...options, directUploads: { secrets } });
      const uploads = store.directUploads as S3DirectUploads;
      const ours = await uploads.presign(target, now);
      store.destroy();
      // createPresignedPost takes its instant from the clock plus the client's offset: offset to `now`.
      const client = sdkClient(options, { systemClockOffset: now - Date.now() });
      const expected = await createPresignedPost(client, {
        Bucket: options.bucket,
        Key: uploads.stagingKey(target.id),
        Conditions: [
          ['content-length-range', 1, target.size],
          ['eq', '$Content-Type', target.type],
        ],
        Expires: 900,
      });
      client.destroy();
      assert.equal(ours.method, 'POST');
      if (ours.method !== 'POST') return;
      assert.equal(ours.url.replace(/\/?$/, '/'), expected.url.replace(/\/?$/, '/'));
      const { 'Content-Type': type, ...signed } = ours.fields;
      assert.equal(type, 'image/jpeg');
      assert.deepEqual(Object.entries(signed), Object.entries(expected.fields));
      const policy = JSON.parse(Buffer.from(signed.Policy!, 'base64').toString()) as {
        expiration: string;
        conditions: unknown[];
      };
      assert.equal(policy.expiration, new Date(now + 900_000).toISOString().replace('.000', ''));
      assert.deepEqual(policy.conditions.slice(0, 2), [
        ['content-length-range', 1, 2_345_678],
        ['eq', '$Content-Type', 'image/jpeg'],
      ]);
      assert.deepEqual(policy.conditions.at(-1), { key: uploads.stagingKey(target.id) });
    });

    it(`PUT with content-length and content-type signed matches @aws-sdk/s3-request-presigner: ${label}`, async function () {
      const store = new S3Store({ ...options, directUploads: { secrets, method: 'PUT' } });
      const uploads = store.directUploads as S3DirectUploads;
      const ours = await uploads.presign(target, now);
      store.destroy();
      const client = sdkClient(options);
      const expected = await getSignedUrl(
        client,
        new PutObjectCommand({
          Bucket: options.bucket,
          Key: uploads.stagingKey(target.id),
          ContentType: target.type,
          ContentLength: target.size,
        }),
        { expiresIn: 900, signingDate: new Date(now), signableHeaders: new Set(['content-type', 'content-length']) },
      );
      client.destroy();
      assert.equal(ours.method, 'PUT');
      assert.equal(ours.url, expected);
      assert.equal(new URL(ours.url).searchParams.get('X-Amz-SignedHeaders'), 'content-length;content-type;host');
      assert.deepEqual(ours.method === 'PUT' && ours.headers, { 'Content-Type': 'image/jpeg' });
    });
  }

  it('refuses an expiry in the past or beyond SigV4 limit of 7 days', async function () {
    const store = new S3Store({ ...cases[0]![1], credentials: keys, directUploads: { secrets } });
    const uploads = store.directUploads as S3DirectUploads;
    await assert.rejects(uploads.presign({ ...target, expiresAt: new Date(now) }, now), /for expiresAt/);
    await assert.rejects(
      uploads.presign({ ...target, expiresAt: new Date(now + 8 * 86_400_000) }, now),
      /for expiresAt/,
    );
    store.destroy();
  });
});

import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl, S3RequestPresigner } from '@aws-sdk/s3-request-presigner';
import { S3Store, type SigningCredentials } from '../../src/s3.js';
import { StoreError, type StoredImage } from '../../src/index.js';
import { presignGetUrl } from '../../src/stores/s3-presign.js';
import { TEST_CREDENTIALS, useS3Server } from '../support/s3.js';
import { sampleKey } from './contract.js';

const date = new Date('2024-01-02T03:04:05Z');
const keys = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

/** A client whose presigned URLs carry no checksum parameters, so they compare with ours. */
function sdkClient(region: string, credentials: SigningCredentials, extra: Record<string, unknown> = {}): S3Client {
  return new S3Client({
    region,
    credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...extra,
  });
}

/** The signing instant of a presigned URL (its X-Amz-Date). */
function amzDateOf(url: string): Date {
  const stamp = new URL(url).searchParams.get('X-Amz-Date')!;
  return new Date(stamp.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
}

/** The query of `url` as a plain object. */
function queryOf(url: string): Record<string, string> {
  return Object.fromEntries(new URL(url).searchParams);
}

describe('presigned GET URLs (synchronous SigV4)', function () {
  const cases: Array<[string, string, SigningCredentials, Record<string, unknown>, string, string]> = [
    ['a virtual-hosted AWS URL', 'eu-west-1', keys, {}, 'photos', 'https://photos.s3.eu-west-1.amazonaws.com'],
    ['temporary credentials (session token)', 'us-east-1', { ...keys, sessionToken: 'FwoGZXIvYXdzEJr//token+/=' }, {}, 'photos', 'https://photos.s3.us-east-1.amazonaws.com'],
    ['a path-style URL on a custom endpoint with a port', 'us-east-1', keys, { endpoint: 'http://127.0.0.1:9000', forcePathStyle: true }, 'photos', 'http://127.0.0.1:9000/photos'],
  ];
  for (const [label, region, credentials, extra, bucket, base] of cases) {
    it(`matches @aws-sdk/s3-request-presigner byte for byte: ${label}`, async function () {
      const client = sdkClient(region, credentials, extra);
      const key = 'pre fix+(1)/testing/1234/405x640.jpe';
      const expected = await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: 900, signingDate: date });
      client.destroy();
      // The SDK tags its URLs with ?x-id=GetObject; sign the same query to compare whole URLs.
      const path = key.split('/').map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`));
      const ours = presignGetUrl(`${base}/${path.join('/')}?x-id=GetObject`, { region, credentials, expiresIn: 900, date });
      assert.equal(ours, expected);
    });
  }

  it('signs a query the URL already has (the _ts cache buster) as the SDK does', async function () {
    const client = sdkClient('eu-west-1', keys);
    const presigner = new S3RequestPresigner({ ...client.config });
    const request = {
      method: 'GET',
      protocol: 'https:',
      hostname: 'photos.s3.eu-west-1.amazonaws.com',
      path: '/testing/1234/405x640.jpe',
      query: { _ts: '20130920030839123000' },
      headers: {},
    };
    const signed = await presigner.presign(request as never, { expiresIn: 60, signingDate: date });
    client.destroy();
    const ours = presignGetUrl('https://photos.s3.eu-west-1.amazonaws.com/testing/1234/405x640.jpe?_ts=20130920030839123000', {
      region: 'eu-west-1',
      credentials: keys,
      expiresIn: 60,
      date,
    });
    assert.deepEqual(queryOf(ours), signed.query);
  });
});

describe('S3Store signedUrls', function () {
  const server = useS3Server();
  const image: StoredImage = { ...sampleKey, original: true, created_at: new Date('2013-09-20T03:08:39.123Z') };

  it('getUrl returns a presigned URL for expiresIn seconds that the server serves', async function () {
    const bucket = await server.current.createBucket('signed');
    const store = server.current.store(bucket, { region: 'us-east-1', signedUrls: { expiresIn: 600 } });
    await store.putFile(sampleKey, Readable.from([Buffer.from('private bytes')]), { reproducible: false });
    const url = store.getUrl(sampleKey);
    assert.ok(url.startsWith(`${server.current.endpoint}/${bucket}/testing/1234/405x640.jpe?X-Amz-Algorithm=AWS4-HMAC-SHA256&`));
    assert.equal(queryOf(url)['X-Amz-Expires'], '600');
    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'private bytes');
  });

  it('getUrl signs the same request as the SDK would at the same instant', async function () {
    const bucket = await server.current.createBucket('signed');
    const store = server.current.store(bucket, { region: 'us-east-1', signedUrls: { expiresIn: 600 } });
    const url = store.getUrl(sampleKey);
    const client = sdkClient('us-east-1', TEST_CREDENTIALS, { endpoint: server.current.endpoint, forcePathStyle: true });
    const expected = await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: 'testing/1234/405x640.jpe' }), {
      expiresIn: 600,
      signingDate: amzDateOf(url),
    });
    client.destroy();
    // Same host, path and X-Amz-* parameters; the signatures differ only because the SDK also signs ?x-id=GetObject.
    const unsigned = (u: string) => {
      const { 'X-Amz-Signature': _, 'x-id': __, ...rest } = queryOf(u);
      return [u.split('?')[0], rest];
    };
    assert.deepEqual(unsigned(url), unsigned(expected));
    assert.equal(url, presignGetUrl(url.split('?')[0]!, { region: 'us-east-1', credentials: TEST_CREDENTIALS, expiresIn: 600, date: amzDateOf(url) }));
  });

  it('locate puts _ts inside the signature, where S3 checks it', async function () {
    const bucket = await server.current.createBucket('signed');
    const store = server.current.store(bucket, { region: 'us-east-1', signedUrls: { expiresIn: 600 } });
    await store.store(image, Buffer.from('located'));
    const url = store.locate(image);
    const query = queryOf(url);
    assert.equal(query._ts, '20130920030839123000');
    const resigned = presignGetUrl(url.split('?')[0] + '?_ts=20130920030839123000', {
      region: 'us-east-1',
      credentials: TEST_CREDENTIALS,
      expiresIn: 600,
      date: amzDateOf(url),
    });
    assert.equal(url, resigned);
    assert.equal(await (await fetch(url)).text(), 'located');
  });

  describe('credentials from a provider', function () {
    it('getUrl throws ERR_NO_SIGNING_CREDENTIALS until refreshCredentials() has run', async function () {
      const store = new S3Store({ bucket: 'photos', region: 'eu-west-1', credentials: async () => keys, signedUrls: {} });
      assert.throws(() => store.getUrl(sampleKey), (e: unknown) => e instanceof StoreError && e.code === 'ERR_NO_SIGNING_CREDENTIALS');
      await store.refreshCredentials();
      assert.match(store.getUrl(sampleKey), /X-Amz-Credential=AKIDEXAMPLE%2F\d{8}%2Feu-west-1%2Fs3%2Faws4_request/);
      store.destroy();
    });

    it('getUrl refuses to sign with expired credentials', async function () {
      const expired = { ...keys, expiration: new Date(Date.now() - 1000) };
      const store = new S3Store({ bucket: 'photos', region: 'eu-west-1', credentials: async () => expired, signedUrls: {} });
      await store.refreshCredentials();
      assert.throws(() => store.getUrl(sampleKey), (e: unknown) => e instanceof StoreError && /only expired credentials/.test(e.message));
      store.destroy();
    });

    it('getUrl refreshes credentials in the background when they are about to expire', async function () {
      // Each call hands out a new key that lives one minute (the SDK's own cache refetches such keys too).
      let calls = 0;
      const provider = async () => ({ ...keys, accessKeyId: `KEY${++calls}`, expiration: new Date(Date.now() + 60_000) });
      const store = new S3Store({ bucket: 'photos', region: 'eu-west-1', credentials: provider, signedUrls: {} });
      await store.refreshCredentials();
      const keyIn = (url: string) => Number(/X-Amz-Credential=KEY(\d+)%2F/.exec(url)![1]);
      const first = keyIn(store.getUrl(sampleKey));
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.ok(keyIn(store.getUrl(sampleKey)) > first);
      store.destroy();
    });
  });
});

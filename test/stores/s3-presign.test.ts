import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl, S3RequestPresigner } from '@aws-sdk/s3-request-presigner';
import { S3Store, type SigningCredentials } from '../../src/s3.js';
import { StoreError, type StoredImage } from '../../src/index.js';
import { presignGetUrl, stableSigningDate } from '../../src/stores/s3-presign.js';
import { TEST_CREDENTIALS, useS3Server } from '../support/s3.js';
import { sampleKey } from '../../src/testing.js';

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
    [
      'temporary credentials (session token)',
      'us-east-1',
      { ...keys, sessionToken: 'FwoGZXIvYXdzEJr//token+/=' },
      {},
      'photos',
      'https://photos.s3.us-east-1.amazonaws.com',
    ],
    [
      'a path-style URL on a custom endpoint with a port',
      'us-east-1',
      keys,
      { endpoint: 'http://127.0.0.1:9000', forcePathStyle: true },
      'photos',
      'http://127.0.0.1:9000/photos',
    ],
  ];
  for (const [label, region, credentials, extra, bucket, base] of cases) {
    it(`matches @aws-sdk/s3-request-presigner byte for byte: ${label}`, async function () {
      const client = sdkClient(region, credentials, extra);
      const key = 'pre fix+(1)/testing/1234/405x640.jpe';
      const expected = await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), {
        expiresIn: 900,
        signingDate: date,
      });
      client.destroy();
      // The SDK tags its URLs with ?x-id=GetObject; sign the same query to compare whole URLs.
      const path = key
        .split('/')
        .map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`));
      const ours = presignGetUrl(`${base}/${path.join('/')}?x-id=GetObject`, {
        region,
        credentials,
        expiresIn: 900,
        date,
      });
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
    const ours = presignGetUrl(
      'https://photos.s3.eu-west-1.amazonaws.com/testing/1234/405x640.jpe?_ts=20130920030839123000',
      {
        region: 'eu-west-1',
        credentials: keys,
        expiresIn: 60,
        date,
      },
    );
    assert.deepEqual(queryOf(ours), signed.query);
  });
});

describe('presigned URLs stay the same within a window', function () {
  const base = 'https://photos.s3.eu-west-1.amazonaws.com/testing/1234/405x640.jpe';
  const sign = (now: number, expiresIn = 3600) =>
    presignGetUrl(base, { region: 'eu-west-1', credentials: keys, expiresIn, now });
  /** Seconds a URL handed out at `now` has left. */
  const secondsLeft = (url: string, now: number) =>
    (amzDateOf(url).getTime() + Number(queryOf(url)['X-Amz-Expires']) * 1000 - now) / 1000;
  const windowStart = Date.parse('2024-01-02T03:00:00Z'); // a multiple of 1800 s since the epoch

  it('gives the same URL twice within a window of half of expiresIn, and a new one after it', function () {
    const first = sign(windowStart + 1_000);
    assert.equal(sign(windowStart + 1_799_999), first);
    assert.equal(queryOf(first)['X-Amz-Date'], '20240102T030000Z');
    const next = sign(windowStart + 1_800_000);
    assert.notEqual(next, first);
    assert.equal(queryOf(next)['X-Amz-Date'], '20240102T033000Z');
  });

  it('never hands out a URL with less than half of expiresIn left (rounded up), nor one already expired', function () {
    for (const expiresIn of [1, 2, 3, 61, 3600, 604_800]) {
      const windowMs = Math.max(1, Math.floor(expiresIn / 2)) * 1000;
      // Half of expiresIn, rounded up; for expiresIn 1, X-Amz-Date's whole seconds leave only "not expired".
      const least = expiresIn - windowMs / 1000;
      // Every instant of two windows, in steps that land on and next to each boundary.
      for (let now = windowStart; now < windowStart + 2 * windowMs; now += Math.max(1, Math.floor(windowMs / 97))) {
        for (const instant of [now, now + windowMs - 1]) {
          const left = secondsLeft(sign(instant, expiresIn), instant);
          assert.ok(left > least && left <= expiresIn, `expiresIn ${expiresIn}, at ${instant}: ${left} s left`);
        }
      }
    }
  });

  it('floors to whole seconds since the epoch, so every process signs the same instant', function () {
    assert.equal(stableSigningDate(windowStart + 299_999, 600).toISOString(), '2024-01-02T03:00:00.000Z');
    assert.equal(stableSigningDate(windowStart + 300_000, 600).toISOString(), '2024-01-02T03:05:00.000Z');
    assert.equal(stableSigningDate(windowStart + 1_500, 1).toISOString(), '2024-01-02T03:00:01.000Z');
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
    assert.ok(
      url.startsWith(`${server.current.endpoint}/${bucket}/testing/1234/405x640.jpe?X-Amz-Algorithm=AWS4-HMAC-SHA256&`),
    );
    assert.equal(queryOf(url)['X-Amz-Expires'], '600');
    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'private bytes');
  });

  it('getUrl and locate give the same URL within a window, a new one after it, and the server serves both', async function () {
    const bucket = await server.current.createBucket('signed');
    const store = server.current.store(bucket, { region: 'us-east-1', signedUrls: { expiresIn: 600 } });
    await store.store(image, Buffer.from('cached bytes'));
    // The clock is the hook: the instants are chosen, not waited for. Both lie in the current
    // window or the one before it, so the URLs are valid now on the server's real clock.
    const realNow = Date.now();
    const thisWindow = Math.floor(realNow / 300_000) * 300_000;
    const at = <T>(now: number, fn: () => T): T => {
      const dateNow = Date.now;
      Date.now = () => now;
      try {
        return fn();
      } finally {
        Date.now = dateNow;
      }
    };
    const early = at(thisWindow - 300_000, () => [store.getUrl(sampleKey), store.locate(image)]);
    const late = at(thisWindow - 1, () => [store.getUrl(sampleKey), store.locate(image)]);
    assert.deepEqual(late, early);
    const next = at(thisWindow, () => [store.getUrl(sampleKey), store.locate(image)]);
    assert.notEqual(next[0], early[0]);
    assert.notEqual(next[1], early[1]);
    for (const url of [...early, ...next]) {
      const response = await fetch(url);
      assert.equal(response.status, 200, url);
      assert.equal(await response.text(), 'cached bytes');
    }
  });

  it('getUrl signs the same request as the SDK would at the same instant', async function () {
    const bucket = await server.current.createBucket('signed');
    const store = server.current.store(bucket, { region: 'us-east-1', signedUrls: { expiresIn: 600 } });
    const url = store.getUrl(sampleKey);
    const client = sdkClient('us-east-1', TEST_CREDENTIALS, {
      endpoint: server.current.endpoint,
      forcePathStyle: true,
    });
    const expected = await getSignedUrl(
      client,
      new GetObjectCommand({ Bucket: bucket, Key: 'testing/1234/405x640.jpe' }),
      {
        expiresIn: 600,
        signingDate: amzDateOf(url),
      },
    );
    client.destroy();
    // Same host, path and X-Amz-* parameters; the signatures differ only because the SDK also signs ?x-id=GetObject.
    const unsigned = (u: string) => {
      const { 'X-Amz-Signature': _, 'x-id': __, ...rest } = queryOf(u);
      return [u.split('?')[0], rest];
    };
    assert.deepEqual(unsigned(url), unsigned(expected));
    assert.equal(
      url,
      presignGetUrl(url.split('?')[0]!, {
        region: 'us-east-1',
        credentials: TEST_CREDENTIALS,
        expiresIn: 600,
        date: amzDateOf(url),
      }),
    );
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
      const store = new S3Store({
        bucket: 'photos',
        region: 'eu-west-1',
        credentials: async () => keys,
        signedUrls: {},
      });
      assert.throws(
        () => store.getUrl(sampleKey),
        (e: unknown) => e instanceof StoreError && e.code === 'ERR_NO_SIGNING_CREDENTIALS',
      );
      await store.refreshCredentials();
      assert.match(store.getUrl(sampleKey), /X-Amz-Credential=AKIDEXAMPLE%2F\d{8}%2Feu-west-1%2Fs3%2Faws4_request/);
      store.destroy();
    });

    it('getUrl refuses to sign with expired credentials', async function () {
      const expired = { ...keys, expiration: new Date(Date.now() - 1000) };
      const store = new S3Store({
        bucket: 'photos',
        region: 'eu-west-1',
        credentials: async () => expired,
        signedUrls: {},
      });
      await store.refreshCredentials();
      assert.throws(
        () => store.getUrl(sampleKey),
        (e: unknown) => e instanceof StoreError && /only expired credentials/.test(e.message),
      );
      store.destroy();
    });

    it('getUrl refreshes credentials in the background when they are about to expire', async function () {
      // Each call hands out a new key that lives one minute (the SDK's own cache refetches such keys too).
      let calls = 0;
      const provider = async () => ({
        ...keys,
        accessKeyId: `KEY${++calls}`,
        expiration: new Date(Date.now() + 60_000),
      });
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

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { S3Client } from '@aws-sdk/client-s3';
import { ImageNotFoundError, InvalidArgumentError, type StoredImage } from '../../src/index.js';
import { S3Store } from '../../src/s3.js';
import { TEST_CREDENTIALS, useS3Server } from '../support/s3.js';
import { sampleKey, storeContract } from '../../src/testing.js';

describe('S3Store over s3rver', function () {
  const server = useS3Server();

  storeContract('S3Store', async () => {
    const bucket = await server.current.createBucket('contract');
    return {
      store: server.current.store(bucket),
      snapshot: () => server.current.listAll(bucket),
      cleanup: async () => {},
    };
  });

  storeContract('S3Store with a prefix', async () => {
    const bucket = await server.current.createBucket('contract-prefix');
    return {
      store: server.current.store(bucket, { prefix: 'some/prefix' }),
      snapshot: () => server.current.listAll(bucket),
      cleanup: async () => {},
    };
  });

  describe("SQLAlchemy-ImageAttach's cases: prefix × publicBaseUrl", function () {
    const image: StoredImage = { ...sampleKey, original: true, created_at: new Date('2013-09-20T03:08:39.123Z') };
    for (const prefix of ['', 'prefixtest', 'prefixtest/']) {
      for (const publicBaseUrl of [undefined, 'http://example.com', 'https://example.com/']) {
        it(`prefix ${JSON.stringify(prefix)}, publicBaseUrl ${publicBaseUrl ?? 'none'}: round trip, exact URL, prefix isolation, delete`, async function () {
          const { current } = server;
          const bucket = await current.createBucket('seed');
          const store = current.store(bucket, { prefix, publicBaseUrl });
          const data = randomBytes(4096);
          await store.store(image, data);
          assert.ok((await buffer(await store.open(image))).equals(data));

          const objectKey = `${prefix === '' ? '' : 'prefixtest/'}testing/1234/405x640.jpe`;
          assert.deepEqual(await current.listAll(bucket), [objectKey]);
          const base = publicBaseUrl === undefined ? `${current.endpoint}/${bucket}` : publicBaseUrl.replace(/\/$/, '');
          assert.equal(store.locate(image), `${base}/${objectKey}?_ts=20130920030839123000`);

          // A store with another prefix (or none) on the same bucket does not see the object.
          const other = current.store(bucket, { prefix: prefix === '' ? 'prefixtest' : '' });
          await assert.rejects(other.open(image), ImageNotFoundError);
          const otherKeys = [];
          for await (const key of other.listFiles()) otherKeys.push(key);
          assert.deepEqual(otherKeys, []);

          await store.delete(image);
          await assert.rejects(store.open(image), ImageNotFoundError);
          assert.deepEqual(await current.listAll(bucket), []);
        });
      }
    }
  });

  describe('object headers (HeadObject)', function () {
    const thumb = { ...sampleKey, width: 100, height: 158 };

    it('sets Content-Type from the mimetype', async function () {
      const bucket = await server.current.createBucket('headers');
      const store = server.current.store(bucket);
      await store.putFile({ ...sampleKey, mimetype: 'image/png' }, Readable.from([Buffer.from('png')]), {
        reproducible: false,
      });
      assert.equal((await server.current.head(bucket, 'testing/1234/405x640.png')).ContentType, 'image/png');
    });

    it('sets Cache-Control to a year by default, and to max-age=<maxAge> when given', async function () {
      const bucket = await server.current.createBucket('headers');
      await server.current.store(bucket).putFile(sampleKey, Readable.from([Buffer.from('a')]), { reproducible: false });
      assert.equal((await server.current.head(bucket, 'testing/1234/405x640.jpe')).CacheControl, 'max-age=31536000');
      await server.current
        .store(bucket, { maxAge: 60 })
        .putFile(thumb, Readable.from([Buffer.from('b')]), { reproducible: true });
      assert.equal((await server.current.head(bucket, 'testing/1234/100x158.jpe')).CacheControl, 'max-age=60');
    });

    it('stores originals in storageClass and thumbnails in reproducibleStorageClass', async function () {
      const bucket = await server.current.createBucket('headers');
      const store = server.current.store(bucket, {
        storageClass: 'STANDARD_IA',
        reproducibleStorageClass: 'ONEZONE_IA',
      });
      await store.putFile(sampleKey, Readable.from([Buffer.from('original')]), { reproducible: false });
      await store.putFile(thumb, Readable.from([Buffer.from('thumb')]), { reproducible: true });
      assert.equal((await server.current.head(bucket, 'testing/1234/405x640.jpe')).StorageClass, 'STANDARD_IA');
      assert.equal((await server.current.head(bucket, 'testing/1234/100x158.jpe')).StorageClass, 'ONEZONE_IA');
      assert.equal((await store.statFile(thumb))?.storageClass, 'ONEZONE_IA');
    });

    it('a staged thumbnail and original copied into place get their storage classes, types and caching; the staged objects a plain class', async function () {
      const bucket = await server.current.createBucket('headers');
      const store = server.current.store(bucket, {
        storageClass: 'STANDARD_IA',
        reproducibleStorageClass: 'ONEZONE_IA',
        maxAge: 60,
        prefix: 'p',
      });
      const noteOf = (key: typeof sampleKey, reproducible: boolean) => ({
        key: { ...key, objectId: String(key.objectId) },
        row: { table: 't', id: { id: 1 }, createdAt: 0 },
        reproducible,
      });
      const bytes = randomBytes(3000);
      const original = await store.staging!.stage(sampleKey, Readable.from([bytes]), noteOf(sampleKey, false));
      const thumbnail = await store.staging!.stage(thumb, Readable.from([Buffer.from('thumb')]), noteOf(thumb, true));
      const staged = (await server.current.listAll(bucket)).filter((k) => k.endsWith('.stage'));
      assert.equal(staged.length, 2);
      for (const key of staged) {
        assert.match(key, /^p\/\.staging\/[0-9a-f]{8}-\d+-[0-9a-f]+-[0-9a-f]+\.stage$/);
        assert.equal((await server.current.head(bucket, key)).StorageClass ?? 'STANDARD', 'STANDARD');
      }
      await store.staging!.promote(sampleKey, original);
      await store.staging!.promote(thumb, thumbnail);
      assert.deepEqual(await server.current.listAll(bucket), [
        'p/testing/1234/100x158.jpe',
        'p/testing/1234/405x640.jpe',
      ]);
      const headOriginal = await server.current.head(bucket, 'p/testing/1234/405x640.jpe');
      assert.deepEqual(
        [headOriginal.StorageClass, headOriginal.ContentType, headOriginal.CacheControl],
        ['STANDARD_IA', 'image/jpeg', 'max-age=60'],
      );
      assert.equal((await server.current.head(bucket, 'p/testing/1234/100x158.jpe')).StorageClass, 'ONEZONE_IA');
      assert.ok((await buffer(await store.getFile(sampleKey))).equals(bytes));
      assert.deepEqual(await store.staging!.list(), []);
      await store.staging!.promote(sampleKey, original); // settled already (by another process, say): nothing to do
    });

    it('stores thumbnails in storageClass when no reproducibleStorageClass is given', async function () {
      const bucket = await server.current.createBucket('headers');
      const store = server.current.store(bucket, { storageClass: 'REDUCED_REDUNDANCY' });
      await store.putFile(thumb, Readable.from([Buffer.from('thumb')]), { reproducible: true });
      assert.equal((await server.current.head(bucket, 'testing/1234/100x158.jpe')).StorageClass, 'REDUCED_REDUNDANCY');
    });

    it('sends no storage class by default (the bucket default, reported as STANDARD)', async function () {
      const bucket = await server.current.createBucket('headers');
      const store = server.current.store(bucket);
      const sent = recordHeaders(store);
      await store.putFile(sampleKey, Readable.from([Buffer.from('a')]), { reproducible: false });
      assert.equal(sent[0]!['x-amz-storage-class'], undefined);
      assert.equal((await store.statFile(sampleKey))?.storageClass, 'STANDARD');
    });

    it('sends no x-amz-acl header unless acl is set', async function () {
      const bucket = await server.current.createBucket('headers');
      const plain = server.current.store(bucket);
      const plainSent = recordHeaders(plain);
      await plain.putFile(sampleKey, Readable.from([Buffer.from('a')]), { reproducible: false });
      assert.equal(plainSent[0]!['x-amz-acl'], undefined);
      const publicRead = server.current.store(bucket, { acl: 'public-read' });
      const publicSent = recordHeaders(publicRead);
      await publicRead.putFile(sampleKey, Readable.from([Buffer.from('a')]), { reproducible: false });
      assert.equal(publicSent[0]!['x-amz-acl'], 'public-read');
    });

    it('reports the size, type and date through statFile', async function () {
      const bucket = await server.current.createBucket('headers');
      const store = server.current.store(bucket);
      await store.putFile(sampleKey, Readable.from([Buffer.alloc(777)]), { reproducible: false });
      const stat = await store.statFile(sampleKey);
      assert.equal(stat?.size, 777);
      assert.equal(stat?.contentType, 'image/jpeg');
      assert.ok(stat?.modifiedAt instanceof Date);
    });
  });

  describe('large files', function () {
    it('round-trips a 12 MB stream through a multipart upload', async function () {
      this.timeout(60_000);
      const bucket = await server.current.createBucket('large');
      const store = server.current.store(bucket);
      const data = randomBytes(12 * 1024 * 1024);
      const chunks = Array.from({ length: 192 }, (_, i) => data.subarray(i * 65536, (i + 1) * 65536));
      const sent = recordHeaders(store);
      await store.putFile(sampleKey, Readable.from(chunks), { reproducible: false });
      assert.ok(sent.length >= 4, 'create, three parts and complete');
      assert.equal((await store.statFile(sampleKey))?.size, data.length);
      assert.ok((await buffer(await store.getFile(sampleKey))).equals(data));
      assert.equal((await server.current.head(bucket, 'testing/1234/405x640.jpe')).CacheControl, 'max-age=31536000');
    });

    it('reads nothing from a range that starts past the end, as a file read does', async function () {
      const bucket = await server.current.createBucket('range');
      const store = server.current.store(bucket);
      await store.putFile(sampleKey, Readable.from([Buffer.alloc(1000)]), { reproducible: false });
      assert.equal((await buffer(await store.getFile(sampleKey, { start: 5000, end: 6000 }))).length, 0);
    });
  });

  describe('URLs', function () {
    it('serves the object at getUrl() (path style on a custom endpoint)', async function () {
      const bucket = await server.current.createBucket('urls');
      const store = server.current.store(bucket, { prefix: 'with space' });
      await store.putFile(sampleKey, Readable.from([Buffer.from('public bytes')]), { reproducible: false });
      const url = store.getUrl(sampleKey);
      assert.equal(url, `${server.current.endpoint}/${bucket}/with%20space/testing/1234/405x640.jpe`);
      assert.equal(await (await fetch(url)).text(), 'public bytes');
    });
  });
});

describe("S3Store with SQLAlchemy-ImageAttach's prefix '/images/'", function () {
  // s3rver routes no key that starts with a slash (its paths are /:bucket/:key+), so this test
  // runs against a recording HTTP server: what S3 receives is the request line the SDK sends.
  let server: Server;
  let endpoint: string;
  const requests: string[] = [];
  before(async function () {
    server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url!.split('?')[0]}`);
      req.resume();
      req.on('end', () => {
        if (req.method === 'GET')
          res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Content-Length': '12' }).end('python bytes');
        else res.writeHead(200, { ETag: '"0"' }).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async function () {
    await new Promise((resolve) => server.close(resolve));
  });

  it('keeps its leading slash: key /images/testing/1234/405x640.jpe, as Python names it (another object than images/…)', async function () {
    const store = new S3Store({
      bucket: 'bkt',
      prefix: '/images/',
      endpoint,
      forcePathStyle: true,
      credentials: TEST_CREDENTIALS,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      maxAttempts: 1,
    });
    assert.equal(store.prefix, '/images');
    assert.equal(store.objectKey(sampleKey), '/images/testing/1234/405x640.jpe');
    await store.putFile(sampleKey, Readable.from([Buffer.from('python bytes')]), { reproducible: false });
    assert.equal((await buffer(await store.getFile(sampleKey))).toString(), 'python bytes');
    await store.deleteFile(sampleKey);
    assert.deepEqual(requests, [
      'PUT /bkt//images/testing/1234/405x640.jpe',
      'GET /bkt//images/testing/1234/405x640.jpe',
      'DELETE /bkt//images/testing/1234/405x640.jpe',
    ]);
    // The URL joins base and key with a slash, as SQLAlchemy-ImageAttach's get_url does.
    assert.equal(store.getUrl(sampleKey), `${endpoint}/bkt//images/testing/1234/405x640.jpe`);
    store.destroy();
  });
});

describe('S3Store URLs (computation only)', function () {
  const url = (options: Partial<ConstructorParameters<typeof S3Store>[0]>) =>
    new S3Store({ bucket: 'photos', credentials: TEST_CREDENTIALS, ...options }).getUrl(sampleKey);

  it("uses SQLAlchemy-ImageAttach's https://<bucket>.s3.amazonaws.com with no region, and its regional host for any region (us-east-1 too)", function () {
    assert.equal(url({}), 'https://photos.s3.amazonaws.com/testing/1234/405x640.jpe');
    assert.equal(url({ region: 'us-east-1' }), 'https://photos.s3.us-east-1.amazonaws.com/testing/1234/405x640.jpe');
  });

  it("joins base URL and key as SQLAlchemy-ImageAttach does: prefix '/images/' gives …amazonaws.com//images/…", function () {
    assert.equal(
      url({ prefix: '/images/', region: 'us-east-1' }),
      'https://photos.s3.us-east-1.amazonaws.com//images/testing/1234/405x640.jpe',
    );
    assert.equal(url({ prefix: ' images/ ' }), 'https://photos.s3.amazonaws.com/images/testing/1234/405x640.jpe');
  });

  it('uses the regional host for another region', function () {
    assert.equal(url({ region: 'eu-west-1' }), 'https://photos.s3.eu-west-1.amazonaws.com/testing/1234/405x640.jpe');
  });

  it('uses path style for forcePathStyle and for bucket names that are not host names', function () {
    assert.equal(
      url({ region: 'eu-west-1', forcePathStyle: true }),
      'https://s3.eu-west-1.amazonaws.com/photos/testing/1234/405x640.jpe',
    );
    assert.equal(url({ bucket: 'my.photos' }), 'https://s3.amazonaws.com/my.photos/testing/1234/405x640.jpe');
  });

  it('uses <endpoint>/<bucket> for a custom endpoint', function () {
    assert.equal(
      url({ endpoint: 'https://minio.example.com:9000/' }),
      'https://minio.example.com:9000/photos/testing/1234/405x640.jpe',
    );
  });

  it('uses publicBaseUrl without its trailing slash, prefix included (its leading slash too, as in SQLAlchemy-ImageAttach)', function () {
    assert.equal(
      url({ publicBaseUrl: 'https://cdn.example.com/img/', prefix: 'app/' }),
      'https://cdn.example.com/img/app/testing/1234/405x640.jpe',
    );
    assert.equal(
      url({ publicBaseUrl: 'https://cdn.example.com/img/', prefix: '/app/' }),
      'https://cdn.example.com/img//app/testing/1234/405x640.jpe',
    );
  });
});

describe('S3Store options', function () {
  const rejects = (options: unknown, message: string) =>
    assert.throws(
      () => new S3Store(options as ConstructorParameters<typeof S3Store>[0]),
      (e: unknown) => e instanceof InvalidArgumentError && e.message === message,
    );

  it('rejects a missing bucket', function () {
    rejects(
      {},
      'Expected a bucket name (3 to 255 letters, digits, ".", "_" or "-") for options.bucket but received undefined',
    );
  });
  it('rejects a prefix with a ".." segment', function () {
    rejects(
      { bucket: 'photos', prefix: 'a/../b' },
      'Expected a key prefix like "images" or "app/images" (no empty, "." or ".." segments) for options.prefix but received "a/../b" of type string',
    );
  });
  it('rejects a publicBaseUrl that is not an http(s) URL', function () {
    rejects(
      { bucket: 'photos', publicBaseUrl: 'cdn.example.com' },
      'Expected an absolute http(s) URL for options.publicBaseUrl but received "cdn.example.com" of type string',
    );
  });
  it('rejects a negative maxAge', function () {
    rejects(
      { bucket: 'photos', maxAge: -1 },
      'Expected an integer >= 0 for options.maxAge but received -1 of type number',
    );
  });
  it('rejects an unknown requestChecksumCalculation', function () {
    rejects(
      { bucket: 'photos', requestChecksumCalculation: 'NEVER' },
      'Expected "WHEN_SUPPORTED" or "WHEN_REQUIRED" for options.requestChecksumCalculation but received "NEVER" of type string',
    );
  });
  it('rejects client-making options alongside a client', function () {
    const client = new S3Client({ region: 'us-east-1' });
    rejects(
      { bucket: 'photos', client, credentials: TEST_CREDENTIALS },
      'Expected nothing alongside options.client (configure the client you pass) for options.credentials but received an object',
    );
    client.destroy();
  });
  it('rejects signedUrls without a region', function () {
    rejects(
      { bucket: 'photos', signedUrls: {} },
      'Expected a region alongside options.signedUrls (signatures name their region) for options.region but received undefined',
    );
  });
  it('rejects a signedUrls expiry over 7 days', function () {
    rejects(
      { bucket: 'photos', region: 'us-east-1', signedUrls: { expiresIn: 604801 } },
      'Expected an integer from 1 to 604800 (seconds) for options.signedUrls.expiresIn but received 604801 of type number',
    );
  });
  it('rejects signedUrls with a publicBaseUrl', function () {
    rejects(
      { bucket: 'photos', region: 'us-east-1', signedUrls: {}, publicBaseUrl: 'https://cdn.example.com' },
      'Expected no publicBaseUrl alongside options.signedUrls (an S3 signature is only valid on S3 itself) for options.publicBaseUrl but received "https://cdn.example.com" of type string',
    );
  });
  it('rejects a zero socketTimeout', function () {
    rejects(
      { bucket: 'photos', socketTimeout: 0 },
      'Expected an integer >= 1 for options.socketTimeout but received 0 of type number',
    );
  });
  it('rejects an operationTimeout a timer cannot hold', function () {
    rejects(
      { bucket: 'photos', operationTimeout: 2 ** 31 },
      'Expected an integer from 1 to 2147483647 (milliseconds) for options.operationTimeout but received 2147483648 of type number',
    );
  });
});

/** The headers of every request the store's client sends from now on (observed, not altered). */
function recordHeaders(store: S3Store): Array<Record<string, string>> {
  const seen: Array<Record<string, string>> = [];
  store.client.middlewareStack.add(
    (next) => async (args) => {
      seen.push({ ...(args.request as { headers: Record<string, string> }).headers });
      return next(args);
    },
    { step: 'finalizeRequest' },
  );
  return seen;
}

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { ImageAttachError, ImageNotFoundError, StoreError } from '../../src/index.js';
import { S3Store } from '../../src/s3.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { type S3TestServer, spawnS3rver, startS3Server, TEST_CREDENTIALS } from '../support/s3.js';
import { failingStream, sampleKey } from '../../src/testing.js';

/** Runs `work`, expecting it to fail with StoreError `code`; returns how long that took (ms). */
async function failsWith(work: () => Promise<unknown>, code: string): Promise<number> {
  const started = performance.now();
  await assert.rejects(work(), (e: unknown) => e instanceof StoreError && e.code === code);
  return performance.now() - started;
}

async function drain(iterable: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of iterable);
}

describe('S3Store faults', function () {
  describe('a stopped server', function () {
    let server: S3TestServer;
    let store: S3Store;
    before(async function () {
      server = await startS3Server();
      const bucket = await server.createBucket('faults');
      // One second per connection attempt, two attempts: every call must give up well within 5 s.
      store = server.store(bucket, { connectionTimeout: 1000, maxAttempts: 2 });
      await store.putFile(sampleKey, Readable.from([Buffer.from('before the outage')]), { reproducible: false });
      await server.stop();
    });
    after(async function () {
      await server.dispose();
    });

    const calls: Array<[string, () => Promise<unknown>]> = [
      ['putFile', () => store.putFile(sampleKey, Readable.from([Buffer.from('x')]), { reproducible: false })],
      ['getFile', () => store.getFile(sampleKey)],
      ['statFile', () => store.statFile(sampleKey)],
      ['deleteFile', () => store.deleteFile(sampleKey)],
      ['listFiles', () => drain(store.listFiles())],
    ];
    for (const [name, call] of calls) {
      it(`${name} rejects with StoreError ERR_STORE_UNAVAILABLE within the client's bounds`, async function () {
        const elapsed = await failsWith(call, 'ERR_STORE_UNAVAILABLE');
        assert.ok(elapsed < 5000, `gave up after ${Math.round(elapsed)} ms`);
      });
    }

    it('names the operation, the object and the network error in the message', async function () {
      await assert.rejects(store.getFile(sampleKey), (e: unknown) => {
        const error = e as StoreError;
        assert.match(
          error.message,
          /^S3 GetObject on s3:\/\/faults-\d+-\d+\/testing\/1234\/405x640\.jpe failed: .*ECONNREFUSED/,
        );
        assert.equal(error.data.operation, 'GetObject');
        return true;
      });
    });
  });

  describe('a server that accepts connections and never answers', function () {
    let silent: Server;
    const sockets = new Set<Socket>();
    let store: S3Store;
    before(async function () {
      silent = createServer((socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
      });
      silent.listen(0, '127.0.0.1');
      await once(silent, 'listening');
      const { port } = silent.address() as { port: number };
      store = new S3Store({
        bucket: 'silent',
        endpoint: `http://127.0.0.1:${port}`,
        forcePathStyle: true,
        credentials: TEST_CREDENTIALS,
        socketTimeout: 300,
        maxAttempts: 2,
      });
    });
    after(async function () {
      store.destroy();
      for (const socket of sockets) socket.destroy();
      silent.close();
    });

    it('getFile times out into StoreError ERR_STORE_UNAVAILABLE instead of hanging', async function () {
      const elapsed = await failsWith(() => store.getFile(sampleKey), 'ERR_STORE_UNAVAILABLE');
      assert.ok(elapsed < 5000, `gave up after ${Math.round(elapsed)} ms`);
    });

    it('putFile times out into StoreError ERR_STORE_UNAVAILABLE instead of hanging', async function () {
      const elapsed = await failsWith(
        () => store.putFile(sampleKey, Readable.from([Buffer.from('x')]), { reproducible: false }),
        'ERR_STORE_UNAVAILABLE',
      );
      assert.ok(elapsed < 5000, `gave up after ${Math.round(elapsed)} ms`);
    });
  });

  describe('a peer that trickles its answers (a fault proxy in front of s3rver)', function () {
    let server: S3TestServer;
    let proxy: FaultProxy;
    let store: S3Store;
    /** The same bucket through the same proxy, with an idle timeout far past operationTimeout. */
    let patientStore: S3Store;
    const body = randomBytes(4096);
    const big = randomBytes(64 * 1024);
    const bigKey = { ...sampleKey, width: 2 };
    before(async function () {
      server = await startS3Server();
      const url = new URL(server.endpoint);
      proxy = new FaultProxy({ host: url.hostname, port: Number(url.port) });
      const endpoint = await proxy.start();
      const bucket = await server.createBucket('trickle');
      // Each attempt's idle timeout alone never fires on a trickle: bytes keep coming.
      store = server.store(bucket, { endpoint, socketTimeout: 2000, maxAttempts: 3, operationTimeout: 1500 });
      patientStore = server.store(bucket, { endpoint, socketTimeout: 60_000, maxAttempts: 3, operationTimeout: 1500 });
      await store.putFile(sampleKey, Readable.from([body]), { reproducible: false });
      await store.putFile(bigKey, Readable.from([big]), { reproducible: false });
    });
    beforeEach(function () {
      proxy.set('pass');
    });
    after(async function () {
      patientStore.destroy();
      await proxy.stop();
      await server.dispose();
    });

    /** Expects `work` to fail at the deadline, not after the trickle: well under its minutes. */
    async function failsAtDeadline(work: () => Promise<unknown>, operation: string): Promise<void> {
      const started = performance.now();
      await assert.rejects(work(), (e: unknown) => {
        assert.ok(e instanceof StoreError, String(e));
        assert.equal(e.code, 'ERR_STORE_UNAVAILABLE');
        assert.match(
          e.message,
          new RegExp(
            `^S3 ${operation} on s3://trickle-\\d+-\\d+/testing/1234/\\d+x640\\.jpe failed: it did not finish within 1500 ms \\(operationTimeout\\)$`,
          ),
        );
        assert.equal(e.data.timeout, 1500);
        return true;
      });
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 1400 && elapsed < 3000, `gave up after ${Math.round(elapsed)} ms`);
    }

    it('a 4 KB GetObject whose answer trickles fails at operationTimeout', async function () {
      proxy.trickle = { bytes: 16, everyMs: 100 };
      proxy.set('trickle');
      await failsAtDeadline(async () => buffer(await store.getFile(sampleKey)), 'GetObject');
    });

    it('a body that trickles after prompt headers fails at operationTimeout, under its reader', async function () {
      // Headers in the first step; then 64 KB at 512 bytes per 100 ms would take 13 s.
      proxy.trickle = { bytes: 512, everyMs: 100 };
      proxy.set('trickle');
      await failsAtDeadline(async () => buffer(await store.getFile(bigKey)), 'GetObject');
    });

    it('a prompt body read slowly by its reader outlives operationTimeout, bytes intact', async function () {
      // A store whose idle timeout (which cuts a socket left idle by any reader) is far off: the
      // wait below is bounded below only, so a slow machine cannot stretch it past that timeout.
      const body = await patientStore.getFile(bigKey);
      // The reader, not the peer, is slow: the bytes wait in the body past the deadline (1500 ms).
      await new Promise((resolve) => setTimeout(resolve, 1800));
      assert.ok((await buffer(body)).equals(big));
    });

    it('HeadObject, DeleteObject and a PUT whose answers trickle fail at operationTimeout', async function () {
      this.timeout(15_000);
      proxy.trickle = { bytes: 4, everyMs: 200 };
      proxy.set('trickle');
      await failsAtDeadline(() => store.statFile(sampleKey), 'HeadObject');
      await failsAtDeadline(
        () => store.putFile({ ...sampleKey, width: 3 }, Readable.from([body]), { reproducible: false }),
        'PutObject',
      );
      await failsAtDeadline(() => store.deleteFile({ ...sampleKey, width: 4 }), 'DeleteObject');
    });

    it('the same calls pass, bytes intact, once the peer answers promptly again', async function () {
      assert.ok((await buffer(await store.getFile(sampleKey))).equals(body));
      assert.ok((await buffer(await store.getFile(bigKey))).equals(big));
      assert.equal((await store.statFile(sampleKey))?.size, 4096);
    });
  });

  describe('server answers that are not "not found"', function () {
    let server: S3TestServer;
    before(async function () {
      server = await startS3Server();
    });
    after(async function () {
      await server.dispose();
    });

    it('reports a missing bucket as StoreError, not as a missing image', async function () {
      const store = server.store('no-such-bucket');
      await assert.rejects(
        store.getFile(sampleKey),
        (e: unknown) =>
          e instanceof StoreError && !(e instanceof ImageNotFoundError) && e.data.awsCode === 'NoSuchBucket',
      );
      // statFile cannot tell: S3 answers a HEAD with a bare 404 for a missing bucket and a missing key alike.
    });

    it('aborts a multipart upload whose input fails, leaving no object and the old one intact', async function () {
      this.timeout(60_000);
      const bucket = await server.createBucket('multipart-fail');
      const store = server.store(bucket);
      await store.putFile(sampleKey, Readable.from([Buffer.from('previous')]), { reproducible: false });
      const chunks = Array.from({ length: 11 }, () => randomBytes(1024 * 1024));
      await assert.rejects(
        store.putFile(sampleKey, failingStream(chunks), { reproducible: false }),
        (e: unknown) =>
          e instanceof ImageAttachError && e.code === 'ERR_STORE_WRITE' && /client went away/.test(e.message),
      );
      assert.deepEqual(await server.listAll(bucket), ['testing/1234/405x640.jpe']);
      assert.equal((await buffer(await store.getFile(sampleKey))).toString(), 'previous');
    });
  });

  describe('a 20 MB stream, with s3rver in a child process', function () {
    let child: Awaited<ReturnType<typeof spawnS3rver>>;
    let endpoint: string;
    before(async function () {
      this.timeout(30_000);
      child = await spawnS3rver();
      endpoint = child.endpoint;
      const client = new S3Client({
        endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: TEST_CREDENTIALS,
      });
      await client.send(new CreateBucketCommand({ Bucket: 'memory' }));
      client.destroy();
    });
    after(async function () {
      await child.stop();
    });

    it('round-trips byte for byte, with RSS growing less than 64 MB while it uploads', async function () {
      this.timeout(120_000);
      const store = new S3Store({
        bucket: 'memory',
        endpoint,
        forcePathStyle: true,
        credentials: TEST_CREDENTIALS,
        requestChecksumCalculation: 'WHEN_REQUIRED',
      });
      // Warm up: load the SDK and open a connection, so the baseline holds them already.
      await store.putFile({ ...sampleKey, width: 1 }, Readable.from([Buffer.from('warm')]), { reproducible: true });

      const size = 20 * 1024 * 1024;
      const sent = createHash('sha256');
      async function* source() {
        for (let offset = 0; offset < size; offset += 64 * 1024) {
          const chunk = randomBytes(64 * 1024);
          sent.update(chunk);
          yield chunk;
        }
      }
      const baseline = process.memoryUsage();
      let peakRss = baseline.rss;
      let peakBuffers = baseline.arrayBuffers;
      const sampler = setInterval(() => {
        const now = process.memoryUsage();
        peakRss = Math.max(peakRss, now.rss);
        peakBuffers = Math.max(peakBuffers, now.arrayBuffers);
      }, 5);
      try {
        await store.putFile(sampleKey, Readable.from(source()), { reproducible: false });
      } finally {
        clearInterval(sampler);
      }
      const mb = (n: number) => Math.round((n / 1024 / 1024) * 10) / 10;
      const growth = { rss: mb(peakRss - baseline.rss), arrayBuffers: mb(peakBuffers - baseline.arrayBuffers) };
      console.log(`      20 MB upload: peak growth ${JSON.stringify(growth)} (MB)`);
      assert.ok(growth.rss < 64, `RSS grew ${growth.rss} MB`);

      const received = createHash('sha256');
      let length = 0;
      for await (const chunk of await store.getFile(sampleKey)) {
        received.update(chunk as Buffer);
        length += (chunk as Buffer).length;
      }
      assert.equal(length, size);
      assert.equal(received.digest('hex'), sent.digest('hex'));
      store.destroy();
    });
  });
});

import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import {
  FileSystemStore,
  HttpExposedFileSystemStore,
  ImageNotFoundError,
  InvalidArgumentError,
} from '../../src/index.js';
import { newUploadId } from '../../src/stores/direct-uploads.js';
import type { DirectUploads } from '../../src/stores/direct-uploads.js';
import { useS3Server } from '../support/s3.js';
import { removeDir, tempDir } from '../support/tmp.js';

const secrets = ['s'.repeat(32)];

/** The staged-object contract every store's direct uploads keep: stat measures, open streams, delete is idempotent. */
function stagedObjectContract(
  make: () => Promise<{ uploads: DirectUploads; put(id: string, bytes: Buffer): Promise<void> }>,
) {
  it('stat gives null before the bytes arrive, then their measured size', async function () {
    const { uploads, put } = await make();
    const id = newUploadId();
    assert.equal(await uploads.stat(id), null);
    await put(id, Buffer.from('0123456789'));
    assert.equal((await uploads.stat(id))?.size, 10);
  });

  it('open streams the staged bytes, and refuses an upload that never arrived with ImageNotFoundError', async function () {
    const { uploads, put } = await make();
    const id = newUploadId();
    await assert.rejects(uploads.open(id), ImageNotFoundError);
    await put(id, Buffer.from('staged bytes'));
    assert.equal((await buffer(await uploads.open(id))).toString(), 'staged bytes');
  });

  it('delete removes the bytes and is idempotent', async function () {
    const { uploads, put } = await make();
    const id = newUploadId();
    await put(id, Buffer.from('x'));
    await uploads.delete(id);
    assert.equal(await uploads.stat(id), null);
    await uploads.delete(id);
  });

  it('refuses an id that is not 32 lowercase hex digits before it names anything', async function () {
    const { uploads } = await make();
    for (const id of ['../../etc/passwd', 'A'.repeat(32), '0'.repeat(31), `${'0'.repeat(31)}/`]) {
      assert.throws(() => uploads.stagingKey(id), InvalidArgumentError);
      await assert.rejects(uploads.stat(id), InvalidArgumentError);
      await assert.rejects(uploads.delete(id), InvalidArgumentError);
    }
  });
}

describe('direct uploads: filesystem stores', function () {
  let root: string;
  beforeEach(async function () {
    root = await tempDir('direct');
  });
  afterEach(async function () {
    await removeDir(root);
  });

  stagedObjectContract(async () => {
    const store = new HttpExposedFileSystemStore({ path: root, directUploads: { secrets } });
    const uploads = store.directUploads!;
    return {
      uploads,
      put: (id, bytes) => uploads.receive(id, Readable.from([bytes]), bytes.length),
    };
  });

  it('has no directUploads without the option, and checks the option', function () {
    assert.equal(new FileSystemStore({ path: root, baseUrl: 'https://x.example/' }).directUploads, undefined);
    assert.throws(
      () => new FileSystemStore({ path: root, baseUrl: 'https://x.example/', directUploads: { secrets: ['short'] } }),
      /Expected a non-empty list of secrets of 32 characters or more .* for options.directUploads.secrets/,
    );
    assert.throws(
      () => new HttpExposedFileSystemStore({ path: root, directUploads: { secrets, endpoint: 'no slash' } }),
      /for options.directUploads.endpoint/,
    );
    assert.throws(
      () => new HttpExposedFileSystemStore({ path: root, directUploads: { secrets, tag: 'x'.repeat(65) } }),
      /for options.directUploads.tag/,
    );
  });

  it('stages under <root>/.uploads, and tags the store by its folder unless told otherwise', function () {
    const a = new HttpExposedFileSystemStore({ path: root, directUploads: { secrets } }).directUploads!;
    const b = new HttpExposedFileSystemStore({ path: path.join(root, 'b'), directUploads: { secrets } }).directUploads!;
    const id = newUploadId();
    assert.equal(a.stagingKey(id), `.uploads/${id}`);
    assert.equal(a.pathOf(id), path.join(root, '.uploads', id));
    assert.match(a.tag, /^fs:[0-9a-f]{16}$/);
    assert.notEqual(a.tag, b.tag);
    assert.equal(
      new HttpExposedFileSystemStore({ path: root, directUploads: { secrets, tag: 'local' } }).directUploads!.tag,
      'local',
    );
  });

  it('presigns a PUT to the endpoint, signed over id, size, type and expiry', async function () {
    const uploads = new HttpExposedFileSystemStore({
      path: root,
      directUploads: { secrets, endpoint: '/uploads/direct/' },
    }).directUploads!;
    const id = newUploadId();
    const expiresAt = new Date(Date.now() + 60_000);
    const answer = await uploads.presign({ id, size: 1234, type: 'image/png', expiresAt });
    assert.equal(answer.method, 'PUT');
    assert.deepEqual(answer.method === 'PUT' && answer.headers, { 'Content-Type': 'image/png' });
    const url = new URL(answer.url, 'http://app.example');
    assert.equal(url.pathname, `/uploads/direct/${id}`);
    const query = {
      size: Number(url.searchParams.get('size')),
      type: url.searchParams.get('type')!,
      expires: Number(url.searchParams.get('expires')),
      signature: url.searchParams.get('signature')!,
    };
    assert.deepEqual(query.size, 1234);
    assert.equal(uploads.checkUploadUrl(id, query), 'valid');
    assert.equal(uploads.checkUploadUrl(id, { ...query, size: 1235 }), 'forged');
    assert.equal(uploads.checkUploadUrl(id, { ...query, type: 'image/jpeg' }), 'forged');
    assert.equal(uploads.checkUploadUrl(id, { ...query, expires: query.expires + 1 }), 'forged');
    assert.equal(uploads.checkUploadUrl(newUploadId(), query), 'forged');
    assert.equal(uploads.checkUploadUrl(id, { ...query, signature: 'x' }), 'forged');
    assert.equal(uploads.checkUploadUrl(id, query, expiresAt.getTime() + 1000), 'expired');
    // Secrets rotate: a store whose list has a new secret first still accepts the old one's URLs.
    const rotated = new HttpExposedFileSystemStore({
      path: root,
      directUploads: { secrets: ['n'.repeat(32), ...secrets], endpoint: '/uploads/direct' },
    }).directUploads!;
    assert.equal(rotated.checkUploadUrl(id, query), 'valid');
  });

  it('receives once: a second upload of one id gets 409, during the first or after it', async function () {
    const uploads = new HttpExposedFileSystemStore({ path: root, directUploads: { secrets } }).directUploads!;
    const id = newUploadId();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = Readable.from(
      (async function* () {
        yield Buffer.from('first ');
        await gate;
        yield Buffer.from('upload');
      })(),
    );
    const first = uploads.receive(id, slow, 12);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await assert.rejects(uploads.receive(id, Readable.from([Buffer.from('second')]), 6), {
      code: 'ERR_UPLOAD_ALREADY_RECEIVED',
      statusCode: 409,
    });
    release();
    await first;
    await assert.rejects(uploads.receive(id, Readable.from([Buffer.from('third!')]), 6), {
      code: 'ERR_UPLOAD_ALREADY_RECEIVED',
    });
    assert.equal((await buffer(await uploads.open(id))).toString(), 'first upload');
    assert.deepEqual(await readdir(path.join(root, '.uploads')), [id]);
  });

  it('refuses a body of another size than signed, leaving nothing behind', async function () {
    const uploads = new HttpExposedFileSystemStore({ path: root, directUploads: { secrets } }).directUploads!;
    const id = newUploadId();
    await assert.rejects(uploads.receive(id, Readable.from([Buffer.from('short')]), 10), {
      code: 'ERR_UPLOAD_MISMATCH',
      statusCode: 400,
    });
    assert.deepEqual(await readdir(path.join(root, '.uploads')), []);
    // The id is still free: the real upload may come.
    await uploads.receive(id, Readable.from([Buffer.from('0123456789')]), 10);
  });

  it('keeps staged uploads out of listFiles()', async function () {
    const store = new HttpExposedFileSystemStore({ path: root, directUploads: { secrets } });
    await store.directUploads!.receive(newUploadId(), Readable.from([Buffer.from('x')]), 1);
    const listed = [];
    for await (const key of store.listFiles()) listed.push(key);
    assert.deepEqual(listed, []);
  });
});

describe('direct uploads: S3 stores', function () {
  const server = useS3Server();

  stagedObjectContract(async () => {
    const bucket = await server.current.createBucket('direct');
    const store = server.current.store(bucket, { region: 'us-east-1', prefix: 'app', directUploads: { secrets } });
    const uploads = store.directUploads!;
    return {
      uploads,
      put: async (id, bytes) => {
        await server.current.client.send(
          new PutObjectCommand({ Bucket: bucket, Key: uploads.stagingKey(id), Body: bytes }),
        );
      },
    };
  });

  for (const method of ['POST', 'PUT'] as const) {
    it(`a browser's ${method} as presigned lands at the staging key (s3rver checks no policy: the claim measures)`, async function () {
      const bucket = await server.current.createBucket('direct');
      const store = server.current.store(bucket, {
        region: 'us-east-1',
        prefix: 'app',
        directUploads: { secrets, method },
      });
      const uploads = store.directUploads!;
      const id = newUploadId();
      const bytes = Buffer.from('uploaded straight to the bucket');
      const answer = await uploads.presign({
        id,
        size: bytes.length,
        type: 'image/png',
        expiresAt: new Date(Date.now() + 60_000),
      });
      let response: Response;
      if (answer.method === 'POST') {
        const form = new FormData();
        for (const [name, value] of Object.entries(answer.fields)) form.append(name, value);
        form.append('file', new Blob([bytes], { type: 'image/png' }), 'picture.png');
        response = await fetch(answer.url, { method: 'POST', body: form });
      } else {
        response = await fetch(answer.url, { method: 'PUT', headers: answer.headers, body: bytes });
      }
      assert.ok(response.status >= 200 && response.status < 300, `${response.status} ${await response.text()}`);
      assert.equal((await uploads.stat(id))?.size, bytes.length);
      assert.deepEqual(await server.current.listAll(bucket), [`app/.uploads/${id}`]);
    });
  }

  it('stages under <prefix>/.uploads/<id>, needs a region, and keeps staged objects out of listFiles()', async function () {
    const bucket = await server.current.createBucket('direct');
    assert.throws(() => server.current.store(bucket, { directUploads: { secrets } }), /for options.region/);
    const store = server.current.store(bucket, { region: 'us-east-1', prefix: 'app', directUploads: { secrets } });
    const plain = server.current.store(bucket, { region: 'us-east-1', directUploads: { secrets } });
    const id = newUploadId();
    assert.equal(store.directUploads!.stagingKey(id), `app/.uploads/${id}`);
    assert.equal(plain.directUploads!.stagingKey(id), `.uploads/${id}`);
    assert.match(store.directUploads!.tag, /^s3:[0-9a-f]{16}$/);
    assert.notEqual(store.directUploads!.tag, plain.directUploads!.tag);
    await server.current.client.send(new PutObjectCommand({ Bucket: bucket, Key: `app/.uploads/${id}`, Body: 'x' }));
    const listed = [];
    for await (const key of store.listFiles()) listed.push(key);
    assert.deepEqual(listed, []);
  });
});

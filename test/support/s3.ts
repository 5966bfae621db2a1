/**
 * A real S3 endpoint for tests: s3rver on 127.0.0.1 (random port, temp folder), and the real
 * `@aws-sdk/client-s3` to talk to it. s3rver accepts any credentials but wants the SDK's streaming
 * checksums off (`requestChecksumCalculation: 'WHEN_REQUIRED'`: with aws-chunked uploads it stores
 * the chunk framing as data) and, on OpenSSL 3, Node's legacy provider for its listing tokens
 * (`--openssl-legacy-provider` in .mocharc.json).
 */
import {
  CreateBucketCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  paginateListObjectsV2,
  S3Client,
} from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { S3Store, type S3StoreOptions } from '../../src/s3.js';
import { removeDir, tempDir } from './tmp.js';

export const TEST_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface S3TestServer {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  /** A raw client, to look at buckets behind a store's back. */
  client: S3Client;
  /** A fresh, empty bucket with a unique name. */
  createBucket(label?: string): Promise<string>;
  /** A store on this server (path style, checksums off); `options` adds to or overrides that. */
  store(bucket: string, options?: Partial<S3StoreOptions>): S3Store;
  /** Every object key in `bucket`, sorted (all pages). */
  listAll(bucket: string): Promise<string[]>;
  head(bucket: string, key: string): Promise<HeadObjectCommandOutput>;
  /** Stops the server (idempotent); stores then see a refused connection. */
  stop(): Promise<void>;
  /** Stops the server, closes every client made here and removes the server's folder. */
  dispose(): Promise<void>;
}

let bucketCounter = 0;

/** Starts s3rver; call `dispose()` when done. */
export async function startS3Server(): Promise<S3TestServer> {
  const directory = await tempDir('s3rver');
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: TEST_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  const stores: S3Store[] = [];
  let running = true;
  const stop = async () => {
    if (!running) return;
    running = false;
    await server.close();
  };
  return {
    endpoint,
    client,
    async createBucket(label = 'bucket') {
      const name = `${label}-${process.pid}-${++bucketCounter}`;
      await client.send(new CreateBucketCommand({ Bucket: name }));
      return name;
    },
    store(bucket, options = {}) {
      const store = new S3Store({
        bucket,
        endpoint,
        forcePathStyle: true,
        credentials: TEST_CREDENTIALS,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        ...options,
      });
      stores.push(store);
      return store;
    },
    async listAll(bucket) {
      const keys: string[] = [];
      for await (const page of paginateListObjectsV2({ client, pageSize: 100 }, { Bucket: bucket })) {
        for (const object of page.Contents ?? []) keys.push(object.Key!);
      }
      return keys.sort();
    },
    head(bucket, key) {
      return client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    },
    stop,
    async dispose() {
      await stop();
      client.destroy();
      for (const store of stores) store.destroy();
      await removeDir(directory);
    },
  };
}

/** Registers mocha hooks that start one server for the enclosing `describe` and stop it after. */
export function useS3Server(): { readonly current: S3TestServer } {
  const holder = {} as { current: S3TestServer };
  before(async function () {
    holder.current = await startS3Server();
  });
  after(async function () {
    await holder.current?.dispose();
  });
  return holder;
}

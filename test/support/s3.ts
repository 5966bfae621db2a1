/**
 * A real S3 endpoint for tests: s3rver on 127.0.0.1 (random port, temp folder), and the real
 * `@aws-sdk/client-s3` to talk to it. s3rver accepts any credentials but wants the SDK's streaming
 * checksums off (`requestChecksumCalculation: 'WHEN_REQUIRED'`: with aws-chunked uploads it stores
 * the chunk framing as data) and, on OpenSSL 3, Node's legacy provider for its listing tokens. It
 * runs in a child process, the only one started with `--openssl-legacy-provider`.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CreateBucketCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  paginateListObjectsV2,
  S3Client,
} from '@aws-sdk/client-s3';
import { S3Store, type S3StoreOptions } from '../../src/s3.js';

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

const S3RVER_PROCESS = path.join(path.dirname(fileURLToPath(import.meta.url)), 's3rver-process.ts');

/** s3rver in a child process of its own; `stop()` ends it (and it removes its folder). */
export async function spawnS3rver(): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '--import', 'tsx', S3RVER_PROCESS], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const { port } = JSON.parse(line.toString()) as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.stdin!.end();
      await exited;
    },
  };
}

/** Starts s3rver; call `dispose()` when done. */
export async function startS3Server(): Promise<S3TestServer> {
  const server = await spawnS3rver();
  const { endpoint } = server;
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
    await server.stop();
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

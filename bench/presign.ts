/**
 * Presigning a direct upload (`presignUpload`): the limits check, the signature and the pending
 * row's insert, on a SQLite file database as an app runs it, for a filesystem store (a signed
 * endpoint URL) and an S3 store (a POST policy; no network: the credentials are static). The
 * anchor is a bare knex insert of the same row, measured in the same run.
 * Target: p99 <= 5 ms including the insert.
 */
import path from 'node:path';
import {
  HttpExposedFileSystemStore,
  imageSet,
  PENDING_UPLOADS_TABLE,
  pendingUploadsTable,
  presignUpload,
} from '../src/index.js';
import { S3Store } from '../src/s3.js';
import { newUploadId } from '../src/stores/direct-uploads.js';
import { User } from '../test/entity/models.js';
import { benchWorld, report } from './support.js';

const RUNS = 3000;
const secrets = ['p'.repeat(32)];

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const world = await benchWorld('presign');
try {
  await pendingUploadsTable(world.knex);
  const user = await User.query().insert({ name: 'bench' });
  const set = imageSet(user, 'picture');
  const fsStore = new HttpExposedFileSystemStore({ path: path.join(world.dir, 'fs'), directUploads: { secrets } });
  const s3Store = new S3Store({
    bucket: 'bench',
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    directUploads: { secrets },
  });

  const time = async (label: string, fn: (i: number) => Promise<unknown>): Promise<number[]> => {
    for (let i = 0; i < 200; i++) await fn(i); // warm-up
    const samples: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const started = performance.now();
      await fn(i);
      samples.push(performance.now() - started);
    }
    console.log(
      `${label}: p50 ${percentile(samples, 50).toFixed(3)} ms, p99 ${percentile(samples, 99).toFixed(3)} ms, max ${Math.max(...samples).toFixed(3)} ms`,
    );
    return samples;
  };

  const anchor = await time('bare insert of the row (anchor)', () =>
    world.knex(PENDING_UPLOADS_TABLE).insert({
      id: newUploadId(),
      purpose: 'users.picture',
      owner: '{"id":["1"],"subset":[]}',
      principal: 'user:1',
      store: 'fs:bench',
      object_key: '.uploads/x',
      declared_size: 1_234_567,
      declared_type: 'image/jpeg',
      status: 'pending',
      created_at: new Date().toISOString(),
      expires_at: new Date().toISOString(),
    }),
  );
  const fs = await time('presignUpload, filesystem store', () =>
    presignUpload(set, { size: 1_234_567, type: 'image/jpeg', principal: 'user:1', store: fsStore }),
  );
  const s3 = await time('presignUpload, S3 store (POST policy)', () =>
    presignUpload(set, { size: 1_234_567, type: 'image/jpeg', principal: 'user:1', store: s3Store }),
  );
  s3Store.destroy();
  const worst = Math.max(percentile(fs, 99), percentile(s3, 99));
  report('presign', 'presignUpload p99 ms, including its insert (worst of filesystem and S3)', worst, '<= 5', {
    fsP99: Number(percentile(fs, 99).toFixed(3)),
    s3P99: Number(percentile(s3, 99).toFixed(3)),
    bareInsertP99: Number(percentile(anchor, 99).toFixed(3)),
    fsP50: Number(percentile(fs, 50).toFixed(3)),
    s3P50: Number(percentile(s3, 50).toFixed(3)),
    bareInsertP50: Number(percentile(anchor, 50).toFixed(3)),
  });
} finally {
  await world.close();
}

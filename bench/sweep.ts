/**
 * Sweeping 10,000 expired direct uploads (`sweepUploads`): each a pending row on a SQLite file
 * database and a staged file in a filesystem store, removed file then row, in batches. The anchor,
 * measured in the same run on another 10,000, is the least that work can cost: unlinking the
 * files 16 at once, then one DELETE of the rows.
 * Target: <= 10 s for 10,000.
 */
import { unlink, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import pLimit from 'p-limit';
import { HttpExposedFileSystemStore, PENDING_UPLOADS_TABLE, pendingUploadsTable, sweepUploads } from '../src/index.js';
import { newUploadId } from '../src/stores/direct-uploads.js';
import { benchWorld, report } from './support.js';

const COUNT = 10_000;

const world = await benchWorld('sweep');
try {
  await pendingUploadsTable(world.knex);
  const store = new HttpExposedFileSystemStore({
    path: path.join(world.dir, 'fs'),
    directUploads: { secrets: ['q'.repeat(32)], tag: 'local' },
  });
  const uploads = store.directUploads!;
  const expired = new Date(Date.now() - 2 * 3_600_000).toISOString().replace('T', ' ').replace('Z', '');

  /** COUNT expired rows, each with its staged file; returns their ids. */
  const seed = async (): Promise<string[]> => {
    const ids = Array.from({ length: COUNT }, () => newUploadId());
    await mkdir(uploads.dir, { recursive: true });
    const limit = pLimit(64);
    await Promise.all(ids.map((id) => limit(() => writeFile(uploads.pathOf(id), 'x'))));
    for (let i = 0; i < ids.length; i += 500) {
      await world.knex.batchInsert(
        PENDING_UPLOADS_TABLE,
        ids.slice(i, i + 500).map((id) => ({
          id,
          purpose: 'users.picture',
          owner: '{"id":["1"],"subset":[]}',
          principal: null,
          store: 'local',
          object_key: `.uploads/${id}`,
          declared_size: 1,
          declared_type: 'image/jpeg',
          status: 'pending',
          created_at: expired,
          expires_at: expired,
        })),
        100,
      );
    }
    return ids;
  };

  const anchorIds = await seed();
  let started = performance.now();
  const limit = pLimit(16);
  await Promise.all(anchorIds.map((id) => limit(() => unlink(uploads.pathOf(id)))));
  await world.knex(PENDING_UPLOADS_TABLE).delete();
  const anchorSeconds = (performance.now() - started) / 1000;
  console.log(`anchor (unlink 16 at once, one DELETE): ${anchorSeconds.toFixed(2)} s`);

  await seed();
  started = performance.now();
  const swept = await sweepUploads({ knex: world.knex, stores: [store] });
  const seconds = (performance.now() - started) / 1000;
  console.log(`sweepUploads: ${swept.removed} removed, ${swept.failed.length} failed in ${seconds.toFixed(2)} s`);
  if (swept.removed !== COUNT) throw new Error(`expected ${COUNT} removed, got ${swept.removed}`);
  report('sweep', 'seconds to sweep 10,000 expired uploads (SQLite, filesystem store)', seconds, '<= 10', {
    anchorSeconds: Number(anchorSeconds.toFixed(3)),
    ratio: Number((seconds / anchorSeconds).toFixed(2)),
  });
} finally {
  await world.close();
}

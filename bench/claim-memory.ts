/**
 * Claiming a >= 60 MB direct upload (`fromUpload`): memory must stay flat, as for an attach from a
 * stream (bench/attach-memory.ts, whose method this follows). The upload is presigned and its
 * bytes staged (as the filesystem upload endpoint leaves them) in a child process, which then
 * samples its own RSS during the claim: token and row checks, the staged file measured and
 * spooled through the capped spool, the header probed, the decode check, the store write.
 * Target: peak RSS grows by < 64 MB during the claim.
 */
import { fork } from 'node:child_process';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { copyFile, mkdir } from 'node:fs/promises';
import {
  FileSystemStore,
  imageAttachment,
  imageSet,
  pendingUploadsTable,
  presignUpload,
  withStore,
} from '../src/index.js';
import { User, UserPicture } from '../test/entity/models.js';

import { benchWorld, report } from './support.js';

const MB = 1024 * 1024;

/** The test models' user, whose picture takes uploads of up to 128 MB (presign checks the declared size). */
class BigUser extends User {
  static override relationMappings = () => ({
    ...User.relationMappings(),
    picture: imageAttachment(() => UserPicture, {
      join: { from: 'users.id', to: 'user_picture.user_id' },
      limits: { maxBytes: 128 * 1024 * 1024 },
    }),
  });
}

if (process.argv[2] === 'child') {
  const file = process.argv[3]!;
  const world = await benchWorld('claim-memory-child');
  await pendingUploadsTable(world.knex);
  const store = new FileSystemStore({
    path: path.join(world.dir, 'uploads-store'),
    baseUrl: 'http://static.example.com/',
    directUploads: { secrets: ['bench-claim-memory-secret-0123456789abcdef'] },
  });
  await withStore(store, async () => {
    // Warm up every code path (sharp, knex, the store) on a small image first.
    const warm = await User.query().insert({ name: 'warm' });
    await imageSet(warm, 'picture').fromBlob(
      await sharp({ create: { width: 64, height: 64, channels: 3, background: '#888' } })
        .png()
        .toBuffer(),
    );
    // Presigned, and its bytes staged as the upload endpoint leaves them (a kernel copy).
    const user = await BigUser.query().insert({ name: 'big' });
    const set = imageSet(user, 'picture');
    const presigned = await presignUpload(set, { size: (await stat(file)).size, type: 'image/png' });
    const staged = store.directUploads!.pathOf(presigned.id);
    await mkdir(path.dirname(staged), { recursive: true });
    await copyFile(file, staged);
    global.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    const image = await set.fromUpload(presigned.token, { principal: null });
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    process.send!({ baseline, peak, width: image.width, height: image.height });
  });
  await world.close();
  process.exit(0);
}

const world = await benchWorld('claim-memory');
try {
  // 4800×4400 RGB noise as PNG: about 60 MB that no compression can shrink, 21 MP (under the
  // default pixel limit), so the whole attach path (spool, probe, decode check, store) runs.
  const file = path.join(world.dir, 'big.png');
  await sharp({
    create: {
      width: 4800,
      height: 4400,
      channels: 3,
      background: '#000',
      noise: { type: 'gaussian', mean: 128, sigma: 60 },
    },
  })
    .png({ compressionLevel: 1 })
    .toFile(file);
  const size = (await stat(file)).size;
  console.log(`input: ${(size / MB).toFixed(1)} MB PNG, 4800×4400`);
  if (size < 60 * MB) throw new Error(`the test image is only ${(size / MB).toFixed(1)} MB; it must be at least 60 MB`);

  const child = fork(fileURLToPath(import.meta.url), ['child', file], { execArgv: ['--import', 'tsx', '--expose-gc'] });
  const result = await new Promise<{ baseline: number; peak: number; width: number; height: number }>(
    (resolve, reject) => {
      child.once('message', (m) => resolve(m as never));
      child.once('exit', (code) => code !== 0 && reject(new Error(`the child exited with ${code}`)));
    },
  );
  const growth = (result.peak - result.baseline) / MB;
  console.log(
    `claimed ${result.width}×${result.height}; RSS ${(result.baseline / MB).toFixed(0)} MB → peak ${(result.peak / MB).toFixed(0)} MB`,
  );
  report('claim-memory', 'peak_rss_growth_mb', growth, '< 64', { inputMb: Number((size / MB).toFixed(1)) });
} finally {
  await world.close();
}

/**
 * Claiming a >= 60 MB direct upload (`fromUpload`): memory must stay flat, as for an attach from a
 * stream (bench/attach-memory.ts, whose method this follows). The upload is presigned and its
 * bytes staged (as the filesystem upload endpoint leaves them) in a child process, which then
 * samples its own RSS during the claim: token and row checks, the staged file measured and
 * spooled through the capped spool, the header probed, the decode check, the store write.
 * Target: peak RSS grows by < 64 MB during the claim.
 */
import { copyFile, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import {
  FileSystemStore,
  imageAttachment,
  imageSet,
  pendingUploadsTable,
  presignUpload,
  withStore,
} from '../src/index.js';
import { User, UserPicture } from '../test/entity/models.js';
import { bigNoisePng, reportChildPeak, sendPeakRssOf } from './memory.js';
import { benchWorld } from './support.js';

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
    await sendPeakRssOf(() => set.fromUpload(presigned.token, { principal: null }));
  });
  await world.close();
  process.exit(0);
}

const world = await benchWorld('claim-memory');
try {
  await reportChildPeak('claim-memory', 'claimed', import.meta.url, await bigNoisePng(world.dir));
} finally {
  await world.close();
}

/**
 * Attaching a >= 60 MB image from a stream: memory must stay flat (SQLAlchemy-ImageAttach read it all into
 * memory). The attach runs in a child process that samples its own RSS; the image is made
 * beforehand in this process, so making it costs the child nothing.
 * Target: peak RSS grows by < 64 MB during the attach.
 */
import { createReadStream } from 'node:fs';
import sharp from 'sharp';
import { imageSet, withStore } from '../src/index.js';
import { User } from '../test/entity/models.js';
import { bigNoisePng, MB, reportChildPeak, sendPeakRssOf } from './memory.js';
import { benchWorld } from './support.js';

if (process.argv[2] === 'child') {
  const file = process.argv[3]!;
  const world = await benchWorld('attach-memory-child');
  await withStore(world.store, async () => {
    // Warm up every code path (sharp, knex, the store) on a small image first.
    const warm = await User.query().insert({ name: 'warm' });
    await imageSet(warm, 'picture').fromBlob(
      await sharp({ create: { width: 64, height: 64, channels: 3, background: '#888' } })
        .png()
        .toBuffer(),
    );
    await sendPeakRssOf(async () => {
      const user = await User.query().insert({ name: 'big' });
      return imageSet(user, 'picture').fromStream(createReadStream(file), { maxBytes: 128 * MB });
    });
  });
  await world.close();
  process.exit(0);
}

const world = await benchWorld('attach-memory');
try {
  await reportChildPeak('attach-memory', 'attached', import.meta.url, await bigNoisePng(world.dir));
} finally {
  await world.close();
}

/**
 * Attaching a >= 60 MB image from a stream: memory must stay flat (SQLAlchemy-ImageAttach read it all into
 * memory). The attach runs in a child process that samples its own RSS; the image is made
 * beforehand in this process, so making it costs the child nothing.
 * Target: peak RSS grows by < 64 MB during the attach.
 */
import { fork } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { imageSet, withStore } from '../src/index.js';
import { User } from '../test/entity/models.js';
import { benchWorld, report } from './support.js';

const MB = 1024 * 1024;

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
    global.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    const user = await User.query().insert({ name: 'big' });
    const image = await imageSet(user, 'picture').fromStream(createReadStream(file), { maxBytes: 128 * MB });
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    process.send!({ baseline, peak, width: image.width, height: image.height });
  });
  await world.close();
  process.exit(0);
}

const world = await benchWorld('attach-memory');
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
    `attached ${result.width}×${result.height}; RSS ${(result.baseline / MB).toFixed(0)} MB → peak ${(result.peak / MB).toFixed(0)} MB`,
  );
  report('attach-memory', 'peak_rss_growth_mb', growth, '< 64', { inputMb: Number((size / MB).toFixed(1)) });
} finally {
  await world.close();
}

/**
 * A 12 MP iPhone-sized photo (4032×3024) attached as HEIC against the same photo as JPEG: time and
 * peak memory. Each attach runs in a child process of its own that samples its RSS (as
 * bench/attach-memory.ts does), after a warm-up attach of a small image of the same type, so the
 * HEIC decoder's WebAssembly module is loaded before the baseline. The HEIC is made with
 * heif-enc (Debian's libheif-examples), which this bench needs; the tests do not.
 * Target: the HEIC attach's peak RSS grows by < 64 MB (the attach-memory budget).
 */
import { execFileSync, fork } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { imageSet, withStore } from '../src/index.js';
import { User } from '../test/entity/models.js';
import { benchWorld, report } from './support.js';

const MB = 1024 * 1024;
const here = fileURLToPath(import.meta.url);

interface ChildResult {
  ms: number;
  baseline: number;
  peak: number;
  after: number;
  width: number;
  height: number;
  mimetype: string;
}

if (process.argv[2] === 'child') {
  const [file, warmFile] = process.argv.slice(3) as [string, string];
  const world = await benchWorld('heic-child');
  await withStore(world.store, async () => {
    const warm = await User.query().insert({ name: 'warm' });
    await imageSet(warm, 'picture').fromBlob(await readFile(warmFile));
    global.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    const user = await User.query().insert({ name: 'big' });
    const started = performance.now();
    const image = await imageSet(user, 'picture').fromFile(file);
    const ms = performance.now() - started;
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    global.gc?.();
    const after = process.memoryUsage().rss;
    const { width, height, mimetype } = image;
    process.send!({ ms, baseline, peak, after, width, height, mimetype } satisfies ChildResult);
  });
  await world.close();
  process.exit(0);
}

function attachInChild(file: string, warmFile: string): Promise<ChildResult> {
  const child = fork(here, ['child', file, warmFile], { execArgv: ['--import', 'tsx', '--expose-gc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m as ChildResult));
    child.once('exit', (code) => code !== 0 && reject(new Error(`the child exited with ${code}`)));
  });
}

const world = await benchWorld('heic');
try {
  // A photo's worth of detail: smooth light and colour, with grain (pure noise would be no photo).
  const [width, height] = [4032, 3024];
  const jpeg = path.join(world.dir, 'photo.jpg');
  await sharp({
    create: { width, height, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } },
  })
    .blur(0.8)
    .composite([
      {
        input: Buffer.from(
          `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><defs><linearGradient id="g" x2="1" y2="1"><stop offset="0" stop-color="#d83" stop-opacity=".7"/><stop offset="1" stop-color="#38d" stop-opacity=".7"/></linearGradient></defs><rect width="100%" height="100%" fill="url(#g)"/><circle cx="2000" cy="1500" r="900" fill="#fe8" fill-opacity=".5"/></svg>`,
        ),
      },
    ])
    .jpeg({ quality: 90 })
    .toFile(jpeg);
  const heic = path.join(world.dir, 'photo.heic');
  execFileSync('heif-enc', ['-q', '50', '-o', heic, jpeg]);
  const small = path.join(world.dir, 'small.jpg');
  await sharp(jpeg).resize(320).jpeg().toFile(small);
  const smallHeic = path.join(world.dir, 'small.heic');
  execFileSync('heif-enc', ['-q', '50', '-o', smallHeic, small]);
  console.log(
    `input: ${width}×${height}, HEIC ${((await stat(heic)).size / MB).toFixed(2)} MB, JPEG ${((await stat(jpeg)).size / MB).toFixed(2)} MB`,
  );

  const runs = 3;
  const results: Record<'heic' | 'jpeg', ChildResult[]> = { heic: [], jpeg: [] };
  for (let i = 0; i < runs; i++) {
    results.heic.push(await attachInChild(heic, smallHeic));
    results.jpeg.push(await attachInChild(jpeg, small));
  }
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const summary = Object.fromEntries(
    Object.entries(results).map(([kind, list]) => [
      kind,
      {
        ms: Math.round(median(list.map((r) => r.ms))),
        peakGrowthMb: Number(median(list.map((r) => (r.peak - r.baseline) / MB)).toFixed(1)),
        retainedMb: Number(median(list.map((r) => (r.after - r.baseline) / MB)).toFixed(1)),
        stored: `${list[0]!.mimetype} ${list[0]!.width}×${list[0]!.height}`,
      },
    ]),
  ) as Record<'heic' | 'jpeg', { ms: number; peakGrowthMb: number; retainedMb: number; stored: string }>;
  for (const [kind, s] of Object.entries(summary))
    console.log(
      `${kind}: ${s.ms} ms, peak RSS +${s.peakGrowthMb} MB, +${s.retainedMb} MB after (median of ${runs}), stored as ${s.stored}`,
    );
  report('heic', 'peak_rss_growth_mb', summary.heic.peakGrowthMb, '< 64', {
    heicMs: summary.heic.ms,
    jpegMs: summary.jpeg.ms,
    jpegPeakGrowthMb: summary.jpeg.peakGrowthMb,
    heicRetainedMb: summary.heic.retainedMb,
  });
} finally {
  await world.close();
}

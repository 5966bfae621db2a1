/**
 * What the memory benches share (attach-memory.ts, claim-memory.ts): a ≥ 60 MB image made in the
 * parent, a child process that measures its own RSS around one piece of work, and the report.
 */
import { fork } from 'node:child_process';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { report } from './support.js';

export const MB = 1024 * 1024;

/** What a child sends back: its RSS before and at the peak of the work, and the image's size. */
export interface MemoryResult {
  baseline: number;
  peak: number;
  width: number;
  height: number;
}

/**
 * 4800×4400 RGB noise as PNG in `dir`: about 60 MB that no compression can shrink, 21 MP (under
 * the default pixel limit), so the whole attach path (spool, probe, decode check, store) runs.
 * @throws when it comes out under 60 MB
 */
export async function bigNoisePng(dir: string): Promise<{ file: string; size: number }> {
  const file = path.join(dir, 'big.png');
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
  return { file, size };
}

/** In the child: runs `work` while sampling this process's RSS every 5 ms from a baseline taken after a GC, and sends the figures. */
export async function sendPeakRssOf(work: () => Promise<{ width: number; height: number }>): Promise<void> {
  global.gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  const { width, height } = await work();
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  process.send!({ baseline, peak, width, height } satisfies MemoryResult);
}

/** In the parent: runs `script` as `child <file>` (with --expose-gc), and reports its peak growth as `bench`. */
export async function reportChildPeak(
  bench: string,
  verb: string,
  script: string,
  input: { file: string; size: number },
): Promise<void> {
  const child = fork(fileURLToPath(script), ['child', input.file], { execArgv: ['--import', 'tsx', '--expose-gc'] });
  const result = await new Promise<MemoryResult>((resolve, reject) => {
    child.once('message', (m) => resolve(m as MemoryResult));
    child.once('exit', (code) => code !== 0 && reject(new Error(`the child exited with ${code}`)));
  });
  const growth = (result.peak - result.baseline) / MB;
  console.log(
    `${verb} ${result.width}×${result.height}; RSS ${(result.baseline / MB).toFixed(0)} MB → peak ${(result.peak / MB).toFixed(0)} MB`,
  );
  report(bench, 'peak_rss_growth_mb', growth, '< 64', { inputMb: Number((input.size / MB).toFixed(1)) });
}

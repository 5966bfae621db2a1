/**
 * Removing metadata from an original on disk (planning from its structure, then streaming the
 * kept ranges) against streaming the same file through unchanged, for a 12 MP photo with EXIF;
 * and the time per segment of a JPEG of 99,000 empty marker segments (the shape that cost
 * seconds per MB: 22 to 57 µs a segment, a read and a Buffer each).
 * Targets: <= 4.0x the plain stream for the photo (the plan reads the file once and searches its
 * scan for its end, then the copy reads it again); <= 1 µs a segment.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import sharp from 'sharp';
import { withoutMetadata } from '../src/imaging/metadata-strip.js';
import { report } from './support.js';

const ROUNDS = 15;

async function drain(stream: Readable): Promise<void> {
  await pipeline(stream, new Writable({ write: (_chunk, _encoding, callback) => callback() }));
}

async function timed(run: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

/** The median of `ROUNDS` alternating runs of each, in milliseconds: a busy moment hits both. */
async function alternating(a: () => Promise<void>, b: () => Promise<void>): Promise<[number, number]> {
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    as.push(await timed(a));
    bs.push(await timed(b));
  }
  const median = (xs: number[]) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  return [median(as), median(bs)];
}

const dir = await mkdtemp(path.join(tmpdir(), 'bench-strip-'));
try {
  const photo = await sharp({
    create: {
      width: 4000,
      height: 3000,
      channels: 3,
      background: '#777',
      noise: { type: 'gaussian', mean: 120, sigma: 30 },
    },
  })
    .jpeg({ quality: 85 })
    .withExif({
      IFD0: { Make: 'Phone', Model: 'Bench' },
      IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 2400/100' },
    })
    .toBuffer();
  const plain = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#369' } })
    .jpeg()
    .toBuffer();
  const empties = Buffer.alloc(4 * 99_000);
  for (let i = 0; i < 99_000; i++) empties.writeUInt32BE(0xfffe0002, 4 * i);
  const inputs = { photo, segments: Buffer.concat([plain.subarray(0, 2), empties, plain.subarray(2)]) };

  const times: Record<string, { strip: number; stream: number }> = {};
  for (const [name, bytes] of Object.entries(inputs)) {
    const file = path.join(dir, `${name}.jpg`);
    await writeFile(file, bytes);
    const [strip, stream] = await alternating(
      async () => {
        const stripped = await withoutMetadata(file, 'image/jpeg', 1);
        if (stripped === undefined || Buffer.isBuffer(stripped.data))
          throw new Error(`nothing was removed from ${name}`);
        await drain(stripped.data);
      },
      () => drain(createReadStream(file, { highWaterMark: 64 * 1024 })),
    );
    times[name] = { strip, stream };
    console.log(
      `${name} (${(bytes.length / 1e6).toFixed(2)} MB): stripped in ${strip.toFixed(1)} ms, streamed unchanged in ${stream.toFixed(1)} ms: ${(strip / stream).toFixed(2)}x`,
    );
  }
  const perSegment = (times.segments!.strip * 1000) / 99_000;
  console.log(`${perSegment.toFixed(2)} µs a segment`);
  report('strip', 'photo_strip_over_stream', times.photo!.strip / times.photo!.stream, '<= 4.0', {
    microsecondsPerSegment: Number(perSegment.toFixed(3)),
    microsecondsPerSegmentTarget: '<= 1',
  });
} finally {
  await rm(dir, { recursive: true, force: true });
}

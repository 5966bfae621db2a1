/**
 * Uploads through the example's route (imageUpload: streamed to a capped temp file, its header
 * probed; then one attach that renders thumbnails 100/400/800 from one decode of the file, outside
 * the database lock, and stores the original and the three in one transaction)
 * against multer's memoryStorage plus the same three sharp resizes written to disk (see
 * bench/servers/upload.ts), in one run: each server in its own child process, autocannon posting a
 * ~780 KB photo, each request for another user, alternating rounds, the best round of each kept;
 * RSS sampled every 50 ms, and server CPU per upload (steadier than throughput on a shared machine).
 *
 * Ours does more than the baseline, on purpose: the type read from the bytes, a proof that the
 * file is whole (the thumbnails' render itself, so no decode of its own), database rows in a
 * transaction, and atomic store writes. The CPU figures say what that costs per upload.
 *
 * About RSS: at this concurrency memoryStorage holds only CONNECTIONS uploads in memory at once
 * (about 3 MiB), while both servers' peaks (~250 MiB, about twice their idle RSS) are mostly
 * libvips' working memory and the allocator's arenas. So ours is lower for another reason than
 * buffering: its renders are bounded (renderSlots(): one more than the CPUs) and each encodes its
 * thumbnails one after another, while the baseline runs every request's three resizes as soon as
 * libuv's pool takes them. Streaming to disk shows its own worth on large files
 * (bench/attach-memory.ts). CONNECTIONS=n and RENDER_SLOTS=n (environment) try other loads.
 *
 * Targets: ours at >= 0.9 of the baseline's throughput, and a lower peak server RSS.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { cpuOf, report, rssOf, startServer } from './support.js';

/** The part of autocannon's API used here (it ships no types). */
interface AutocannonResult {
  requests: { total: number };
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  '3xx'?: number;
}
type Autocannon = (options: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

// CONNECTIONS=n in the environment tries another load.
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 4);
const USERS = 600;
const ROUNDS = 4;
const ROUND_S = 10;
const TARGET_BYTES = 780 * 1024;

/** A 1600×1200 JPEG of a gradient under noise, its quality tuned until it weighs about 780 KB. */
async function photo(): Promise<Buffer> {
  const base = sharp({
    create: {
      width: 1600,
      height: 1200,
      channels: 3,
      background: '#6a8caf',
      noise: { type: 'gaussian', mean: 110, sigma: 22 },
    },
  });
  const raw = await base.raw().toBuffer();
  let best: Buffer | undefined;
  let low = 40;
  let high = 98;
  while (low <= high) {
    const quality = Math.round((low + high) / 2);
    const jpeg = await sharp(raw, { raw: { width: 1600, height: 1200, channels: 3 } })
      .jpeg({ quality })
      .toBuffer();
    if (best === undefined || Math.abs(jpeg.length - TARGET_BYTES) < Math.abs(best.length - TARGET_BYTES)) best = jpeg;
    if (jpeg.length < TARGET_BYTES) low = quality + 1;
    else high = quality - 1;
  }
  return best!;
}

function multipart(bytes: Buffer): { body: Buffer; contentType: string } {
  const boundary = `----bench${randomBytes(8).toString('hex')}`;
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="picture"; filename="photo.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`;
  return {
    body: Buffer.concat([Buffer.from(head), bytes, Buffer.from(`\r\n--${boundary}--\r\n`)]),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

interface BenchServer {
  mode: 'ours' | 'baseline';
  origin: string;
  /** The users' upload paths: each request takes the next, so no two uploads in flight share a user. */
  paths: string[];
  pid: number;
  /** Best throughput of the rounds, and the highest RSS seen while loaded. */
  best: number;
  idleRss: number;
  peakRss: number;
  /** Server CPU per upload, in ms, in its least costly round: less swayed than throughput by other load. */
  cpuPerUpload: number;
  errors: number;
  stop(): Promise<void>;
}

/** Starts one server in its own process, on its own data folder (temp files there too). */
async function start(mode: 'ours' | 'baseline'): Promise<BenchServer> {
  const dataDir = await mkdtemp(path.join(tmpdir(), `bench-upload-${mode}-`));
  const server = await startServer(
    new URL('./servers/upload.ts', import.meta.url),
    [mode, dataDir, String(USERS)],
    dataDir,
  );
  const { port, pid } = server;
  const origin = `http://127.0.0.1:${port}`;
  // Distinct users (made by the server at start): concurrent uploads for one user would share
  // their thumbnails (single flight) and flatter ours. The baseline uses the id to name a folder.
  const paths = Array.from({ length: USERS }, (_, i) => `/users/${i + 1}/picture`);
  return {
    mode,
    origin,
    paths,
    pid,
    best: 0,
    idleRss: await rssOf(pid),
    peakRss: 0,
    cpuPerUpload: Infinity,
    errors: 0,
    async stop() {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

let turn = 0;

/** autocannon options posting `upload`, each request to the next user's path. */
function uploads(server: BenchServer, upload: { body: Buffer; contentType: string }) {
  return {
    url: server.origin,
    connections: CONNECTIONS,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': upload.contentType },
        body: upload.body,
        setupRequest: (request: object) => ({ ...request, path: server.paths[turn++ % server.paths.length] }),
      },
    ],
  };
}

/** One round of `seconds` of uploads against `server`, its RSS sampled all along. */
async function round(
  server: BenchServer,
  upload: { body: Buffer; contentType: string },
  seconds: number,
): Promise<void> {
  const options = uploads(server, upload);
  const sampler = setInterval(() => {
    rssOf(server.pid).then(
      (rss) => (server.peakRss = Math.max(server.peakRss, rss)),
      () => {},
    );
  }, 50);
  try {
    const cpuBefore = await cpuOf(server.pid);
    const result = await autocannon({ ...options, duration: seconds });
    const cpu = (await cpuOf(server.pid)) - cpuBefore;
    server.best = Math.max(server.best, result.requests.total / (result.duration || seconds));
    server.cpuPerUpload = Math.min(server.cpuPerUpload, cpu / Math.max(1, result.requests.total));
    server.errors += result.errors + result.timeouts + result.non2xx - (result['3xx'] ?? 0);
  } finally {
    clearInterval(sampler);
  }
}

const bytes = await photo();
console.log(
  `photo: 1600×1200 JPEG, ${(bytes.length / 1024).toFixed(0)} KiB; ${CONNECTIONS} connections, ${ROUNDS} alternating rounds of ${ROUND_S} s each`,
);
const upload = multipart(bytes);
const baseline = await start('baseline');
const ours = await start('ours');
try {
  // Warm up both (code compiled, sharp's pools and caches in place), then alternate rounds so
  // both see the same machine load; keep each one's best round.
  for (const server of [baseline, ours])
    await autocannon({ ...uploads(server, upload), amount: Math.max(12, 2 * CONNECTIONS) });
  for (let i = 0; i < ROUNDS; i++) {
    await round(baseline, upload, ROUND_S);
    await round(ours, upload, ROUND_S);
  }
} finally {
  await baseline.stop();
  await ours.stop();
}
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
console.log(
  `baseline (memoryStorage + 3 sharp resizes): ${baseline.best.toFixed(2)} uploads/s, ${baseline.cpuPerUpload.toFixed(0)} ms CPU/upload, peak RSS ${mb(baseline.peakRss)} (idle ${mb(baseline.idleRss)}), errors ${baseline.errors}`,
);
console.log(
  `ours (imageUpload + attach + 3 thumbnails): ${ours.best.toFixed(2)} uploads/s, ${ours.cpuPerUpload.toFixed(0)} ms CPU/upload, peak RSS ${mb(ours.peakRss)} (idle ${mb(ours.idleRss)}), errors ${ours.errors}`,
);
const ratio = ours.best / baseline.best;
console.log(
  `throughput ratio ${ratio.toFixed(3)} (target >= 0.9); peak RSS ours ${mb(ours.peakRss)} vs baseline ${mb(baseline.peakRss)} (target: ours lower)`,
);
console.log(
  `note: memoryStorage buffers at most ${CONNECTIONS} uploads here (${mb(CONNECTIONS * bytes.length)}), a small part of either peak, ` +
    `whose growth over idle is mostly libvips' working memory and the allocator in both; ours stays lower because its renders ` +
    `are bounded (renderSlots(): by default one more than the CPUs) and encode one thumbnail at a time. Streaming to disk shows its worth on large files: see bench/attach-memory.ts.`,
);
report('upload', 'throughput_ratio_vs_memory_storage', ratio, '>= 0.9', {
  ours_peak_rss_mib: Number((ours.peakRss / 1024 / 1024).toFixed(1)),
  baseline_peak_rss_mib: Number((baseline.peakRss / 1024 / 1024).toFixed(1)),
  rss_target: 'ours lower',
  ours_idle_rss_mib: Number((ours.idleRss / 1024 / 1024).toFixed(1)),
  baseline_idle_rss_mib: Number((baseline.idleRss / 1024 / 1024).toFixed(1)),
  ours_cpu_ms_per_upload: Number(ours.cpuPerUpload.toFixed(1)),
  baseline_cpu_ms_per_upload: Number(baseline.cpuPerUpload.toFixed(1)),
  errors: ours.errors + baseline.errors,
});

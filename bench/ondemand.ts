/**
 * bench/ondemand: thumbnails made on demand, ours (`thumbnailRoute()` on SQLite and an
 * HttpExposedFileSystemStore) against a hand-rolled Express + sharp disk cache answering with
 * `res.sendFile` (both in bench/servers/ondemand.ts, each in its own process), in one run,
 * alternating rounds, the best round of each kept. A 2400×1600 JPEG per user, 20 users.
 *
 * - warm: widths 100/200/400, already made, 20 connections, as a browser loads an image: the
 *   route's answer, and, for a redirect, the file it leads to (so one image is one request with
 *   file answers, two with `respondWith: 'redirect'`, which is measured alongside for the record).
 * - cold: 60 thumbnails never made before (new widths) per round, 4 connections, after each server
 *   has made 600 for 40 other users (the warm-up, reported apart: the first new thumbnails after a
 *   start run partly unoptimised JavaScript, and V8 compiles ours' cold path for hundreds of them).
 *
 * Alongside throughput: server CPU per image (all threads, and the main thread alone: libvips
 * works on pool threads, JavaScript on the main one), p99 latency, and each server's RSS, sampled
 * every 50 ms all through the run (peak) and before any load (idle).
 *
 * The load comes from a small client on `http` written here rather than autocannon: autocannon
 * appends every body to a string (`body += chunk`), and decoding JPEG bytes as UTF-8 would cap
 * both servers at the client's speed (see bench/static.ts, which serves printable bytes for that
 * reason; here the bytes must be a real JPEG for the servers to resize).
 *
 * Targets: warm ratio ours / hand-rolled >= 1.0 (the JSON line's `value`), cold >= 0.85.
 *
 *   npx tsx bench/ondemand.ts                       # about 2 minutes
 *   BENCH_SECONDS=2 BENCH_ROUNDS=1 npx tsx bench/ondemand.ts
 */
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Model } from 'objection';
import sharp from 'sharp';
import { withStore } from '../src/context.js';
import { imageSet } from '../src/entity/image-set.js';
import { FileSystemStore } from '../src/stores/fs.js';
import { createSchema, User } from '../test/entity/models.js';
import { cpuOf, report, rssOf, type ServerProcess, sqliteKnex, startServer } from './support.js';

const USERS = 20;
const WARM_WIDTHS = [100, 200, 400];
/** Thirty more widths, for thumbnails never made before: 105, 115, … 395. */
const COLD_WIDTHS = Array.from({ length: 30 }, (_, i) => 105 + 10 * i);
const WARM_CONNECTIONS = 20;
const COLD_CONNECTIONS = 4;
const COLD_PER_ROUND = 60;
/**
 * New thumbnails each server makes before the measured cold rounds, for owners of their own (so
 * the measured sets are no larger), counted apart. A server that has been up a while has its cold
 * path compiled; ours runs far more JavaScript per new thumbnail (its row, through Objection and
 * knex), and V8 was still compiling it (~1.3 ms of CPU per thumbnail) after the first 500.
 */
const WARMUP_USERS = 40;
const COLD_WARMUP = 600;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARM_SECONDS = Number(process.env.BENCH_SECONDS ?? 5);

type Mode = 'ours' | 'handrolled';

interface BenchServer extends ServerProcess {
  mode: Mode;
  idleRss: number;
  peakRss: number;
}

async function start(mode: Mode, dataDir: string): Promise<BenchServer> {
  const server = await startServer(
    new URL('./servers/ondemand.ts', import.meta.url),
    [mode, dataDir, [...WARM_WIDTHS, ...COLD_WIDTHS].join(',')],
    dataDir,
  );
  return { ...server, mode, idleRss: 0, peakRss: 0 };
}

/** One GET on a keep-alive agent; the body is read and counted, never decoded. */
function get(
  agent: http.Agent,
  port: number,
  urlPath: string,
): Promise<{ status: number; bytes: number; location?: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath, agent }, (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => (bytes += chunk.length));
        res.on('end', () => resolve({ status: res.statusCode!, bytes, location: res.headers.location }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

interface Load {
  images: number;
  seconds: number;
  latencies: number[];
  errors: number;
}

/**
 * `connections` clients, each loading images one after another as a browser would (following a
 * redirect to the file), until `seconds` have passed or `paths` is used up (when `seconds` is 0).
 */
async function drive(port: number, paths: string[], connections: number, seconds: number): Promise<Load> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const load: Load = { images: 0, seconds: 0, latencies: [], errors: 0 };
  const began = performance.now();
  const deadline = began + seconds * 1000;
  let turn = 0;
  const client = async () => {
    while (seconds > 0 ? performance.now() < deadline : turn < paths.length) {
      const urlPath = paths[turn++ % paths.length]!;
      const sent = performance.now();
      let res = await get(agent, port, urlPath);
      if (res.status >= 300 && res.status < 400 && res.location !== undefined) {
        // Root-relative (the store's default) or absolute: either way, the same server.
        const next = new URL(res.location, 'http://127.0.0.1');
        res = await get(agent, port, next.pathname + next.search);
      }
      if (res.status !== 200 || res.bytes === 0) load.errors++;
      load.latencies.push(performance.now() - sent);
      load.images++;
    }
  };
  await Promise.all(Array.from({ length: connections }, client));
  load.seconds = (performance.now() - began) / 1000;
  agent.destroy();
  return load;
}

function p99(latencies: number[]): number {
  const sorted = [...latencies].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0;
}

interface Contender {
  name: string;
  server: BenchServer;
  /** The path of user `id`'s image of `width`. */
  path(id: number, width: number): string;
  best: number;
  bestP99: number;
  /** Server CPU per image in its least costly round, ms: all threads, and the main thread. */
  cpu: number;
  mainCpu: number;
  errors: number;
}

function contender(name: string, server: BenchServer, pathOf: (id: number, width: number) => string): Contender {
  return { name, server, path: pathOf, best: 0, bestP99: 0, cpu: Infinity, mainCpu: Infinity, errors: 0 };
}

/** One round for `c`, its server's CPU measured around it. */
async function round(c: Contender, paths: string[], connections: number, seconds: number): Promise<void> {
  const [cpuBefore, mainBefore] = await Promise.all([cpuOf(c.server.pid), cpuOf(c.server.pid, true)]);
  const load = await drive(c.server.port, paths, connections, seconds);
  const [cpuAfter, mainAfter] = await Promise.all([cpuOf(c.server.pid), cpuOf(c.server.pid, true)]);
  const rate = load.images / load.seconds;
  if (rate > c.best) {
    c.best = rate;
    c.bestP99 = p99(load.latencies);
  }
  c.cpu = Math.min(c.cpu, (cpuAfter - cpuBefore) / load.images);
  c.mainCpu = Math.min(c.mainCpu, (mainAfter - mainBefore) / load.images);
  c.errors += load.errors;
  console.log(
    `  ${c.name.padEnd(34)} ${rate.toFixed(0).padStart(6)} images/s  p99 ${p99(load.latencies).toFixed(1).padStart(6)} ms  ` +
      `CPU ${((cpuAfter - cpuBefore) / load.images).toFixed(2)} ms/image (main thread ${((mainAfter - mainBefore) / load.images).toFixed(2)})` +
      (load.errors ? `  ERRORS ${load.errors}` : ''),
  );
}

/** The users, each with the photo as their picture: rows and files for ours, originals on disk for the hand-rolled one. */
async function prepare(dir: string, photo: string): Promise<void> {
  const knex = sqliteKnex(path.join(dir, 'ours', 'db.sqlite'));
  Model.knex(knex);
  await createSchema(knex);
  const store = new FileSystemStore({ path: path.join(dir, 'ours', 'store'), baseUrl: 'http://unused.example/' });
  await mkdir(path.join(dir, 'handrolled', 'originals'), { recursive: true });
  for (let i = 1; i <= USERS + WARMUP_USERS; i++) {
    const user = await User.query().insert({ name: `bench ${i}` });
    await withStore(store, () => imageSet(user, 'picture').fromFile(photo));
    await copyFile(photo, path.join(dir, 'handrolled', 'originals', `${user.id}.jpg`));
  }
  await knex.destroy();
}

const dir = await mkdtemp(path.join(tmpdir(), 'bench-ondemand-'));
const servers: BenchServer[] = [];
try {
  // A photo-sized original: 2400×1600, noisy enough to weigh what a camera JPEG weighs.
  const bytes = await sharp({
    create: {
      width: 2400,
      height: 1600,
      channels: 3,
      background: '#777',
      noise: { type: 'gaussian', mean: 120, sigma: 25 },
    },
  })
    .jpeg({ quality: 85 })
    .toBuffer();
  const photo = path.join(dir, 'photo.jpg');
  await writeFile(photo, bytes);
  await mkdir(path.join(dir, 'ours'));
  await prepare(dir, photo);
  console.log(
    `original: 2400×1600 JPEG, ${(bytes.length / 1024).toFixed(0)} KiB, ${USERS} users (and ${WARMUP_USERS} more for the cold warm-up); ${ROUNDS} alternating rounds`,
  );

  const handServer = await start('handrolled', path.join(dir, 'handrolled'));
  servers.push(handServer);
  const oursServer = await start('ours', path.join(dir, 'ours'));
  servers.push(oursServer);
  // The redirect variant in a process of its own (same database and store), so its memory does
  // not count as the file answers' (RSS hardly shrinks once grown).
  const redirectServer = await start('ours', path.join(dir, 'ours'));
  servers.push(redirectServer);
  for (const server of servers) server.idleRss = await rssOf(server.pid);
  const sampler = setInterval(() => {
    for (const server of servers)
      rssOf(server.pid).then(
        (rss) => (server.peakRss = Math.max(server.peakRss, rss)),
        () => {},
      );
  }, 50);

  const hand = contender('hand-rolled (sendFile)', handServer, (id, w) => `/users/${id}/picture?w=${w}`);
  const ours = contender('ours (file answer)', oursServer, (id, w) => `/users/${id}/picture?width=${w}`);
  const oursRedirect = contender(
    'ours (redirect, then the file)',
    redirectServer,
    (id, w) => `/r/users/${id}/picture?width=${w}`,
  );

  const users = Array.from({ length: USERS }, (_, i) => i + 1);
  const warmPaths = (c: Contender) => WARM_WIDTHS.flatMap((w) => users.map((id) => c.path(id, w)));
  // Make the warm thumbnails, let them age past the content cache's 2 s window (a real app's
  // thumbnails are older than that), then warm both servers up for a second.
  for (const c of [hand, ours]) await drive(c.server.port, warmPaths(c), COLD_CONNECTIONS, 0);
  const makingPeak = servers.map((server) => server.peakRss);
  await sleep(2500);
  for (const c of [hand, ours, oursRedirect]) await drive(c.server.port, warmPaths(c), WARM_CONNECTIONS, 1);

  console.log(
    `\nwarm: widths ${WARM_WIDTHS.join('/')} already made, ${WARM_CONNECTIONS} connections, ${WARM_SECONDS} s rounds`,
  );
  const warm = [hand, ours, oursRedirect];
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of r % 2 === 0 ? warm : [...warm].reverse())
      await round(c, warmPaths(c), WARM_CONNECTIONS, WARM_SECONDS);
  }

  const warmPeak = servers.map((server) => server.peakRss);
  // The same new (user, width) pairs for both, never asked for before: `count` from the `from`-th,
  // for `owners` users from `firstOwner` on.
  const coldPaths = (c: Contender, from: number, count: number, firstOwner = 1, owners = USERS) =>
    Array.from({ length: count }, (_, i) => from + i).map((k) =>
      c.path(firstOwner + (k % owners), COLD_WIDTHS[Math.floor(k / owners)]!),
    );
  if (ROUNDS * COLD_PER_ROUND > USERS * COLD_WIDTHS.length)
    throw new Error(`BENCH_ROUNDS=${ROUNDS} needs more new widths than the bench has`);
  console.log(
    `\ncold warm-up: the first ${COLD_WARMUP} new thumbnails after start, for ${WARMUP_USERS} other users, ${COLD_CONNECTIONS} connections (not in the ratio)`,
  );
  const firstHand = contender('hand-rolled (sendFile)', handServer, hand.path);
  const firstOurs = contender('ours (file answer)', oursServer, ours.path);
  for (const c of [firstHand, firstOurs])
    await round(c, coldPaths(c, 0, COLD_WARMUP, USERS + 1, WARMUP_USERS), COLD_CONNECTIONS, 0);
  console.log(`\ncold: ${COLD_PER_ROUND} new thumbnails per round, ${COLD_CONNECTIONS} connections`);
  const coldHand = contender('hand-rolled (sendFile)', handServer, hand.path);
  const coldOurs = contender('ours (file answer)', oursServer, ours.path);
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of r % 2 === 0 ? [coldHand, coldOurs] : [coldOurs, coldHand]) {
      await round(c, coldPaths(c, r * COLD_PER_ROUND, COLD_PER_ROUND), COLD_CONNECTIONS, 0);
    }
  }
  clearInterval(sampler);

  const mib = (n: number) => Number((n / 1024 / 1024).toFixed(1));
  const warmRatio = ours.best / hand.best;
  const coldRatio = coldOurs.best / coldHand.best;
  console.log('\nbest rounds:');
  for (const c of [hand, ours, oursRedirect, coldHand, coldOurs]) {
    console.log(
      `  ${(c === coldHand || c === coldOurs ? 'cold ' : 'warm ') + c.name.padEnd(34)} ${c.best.toFixed(0).padStart(6)} images/s  p99 ${c.bestP99.toFixed(1)} ms  CPU ${c.cpu.toFixed(2)} ms/image (main thread ${c.mainCpu.toFixed(2)})`,
    );
  }
  console.log(
    `warm ratio ours / hand-rolled ${warmRatio.toFixed(3)} (target >= 1.0); with redirects ${(oursRedirect.best / hand.best).toFixed(3)}`,
  );
  console.log(
    `cold ratio ours / hand-rolled ${coldRatio.toFixed(3)} (target >= 0.85); the first ${COLD_WARMUP} after start ${(firstOurs.best / firstHand.best).toFixed(3)}`,
  );
  const rss = (i: number, server: BenchServer) =>
    `idle ${mib(server.idleRss)} MiB, peak ${mib(server.peakRss)} MiB (making the warm thumbnails ${mib(makingPeak[i]!)}, until the cold rounds ${mib(warmPeak[i]!)})`;
  console.log(
    `RSS: ours ${rss(1, oursServer)}; hand-rolled ${rss(0, handServer)}; ours redirecting ${rss(2, redirectServer)}`,
  );
  report('ondemand', 'warm ratio ours/hand-rolled', warmRatio, '>= 1.0', {
    cold_ratio: Number(coldRatio.toFixed(3)),
    cold_target: '>= 0.85',
    cold_first_ratio: Number((firstOurs.best / firstHand.best).toFixed(3)),
    warm_redirect_ratio: Number((oursRedirect.best / hand.best).toFixed(3)),
    ours_peak_rss_mib: mib(oursServer.peakRss),
    handrolled_peak_rss_mib: mib(handServer.peakRss),
    ours_idle_rss_mib: mib(oursServer.idleRss),
    handrolled_idle_rss_mib: mib(handServer.idleRss),
    cold_main_thread_ms: { ours: coldOurs.mainCpu, handrolled: coldHand.mainCpu },
    errors: hand.errors + ours.errors + oursRedirect.errors + coldHand.errors + coldOurs.errors,
  });
} finally {
  for (const server of servers) await server.stop();
  await rm(dir, { recursive: true, force: true });
}

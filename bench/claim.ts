/**
 * Direct uploads against today's multipart path, in one run, on one Express app (filesystem store,
 * SQLite file): uploads/s of
 *
 * - `multipart`: `POST` of a multipart form, `imageUpload()` (streamed to a temp file, header
 *   probed), then `fromFile(path, { probed, thumbnails })`;
 * - `claim`: the whole direct flow as a browser drives it: `POST` presign (JSON), `PUT` of the
 *   bytes to `directUploadEndpoint()`, `POST` of the token, `fromUpload(token, { thumbnails })`
 *   (token and row checked, the staged file measured and spooled, the header probed, the same
 *   one-decode attach, the staged file removed).
 *
 * Both make thumbnails 100, 400 and 800 (WebP) wide of a ~780 KB 1600×1200 JPEG, CONCURRENCY
 * requests at a time, each upload for another user; rounds alternate and the best of each is kept.
 * Target: claim >= 0.85 × multipart.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import express from 'express';
import { Model } from 'objection';
import sharp from 'sharp';
import { FileSystemStore, imageSet, pendingUploadsTable, withStore } from '../src/index.js';
import { directUploadEndpoint, imageUpload, presignRoute, storeContext, type UploadedImage } from '../src/express.js';
import { createSchema, User } from '../test/entity/models.js';
import { report, sqliteKnex } from './support.js';

const CONCURRENCY = Number(process.env.CONCURRENCY ?? 4);
const PER_ROUND = 48;
const ROUNDS = 3;
const THUMBNAILS = [{ width: 100 }, { width: 400 }, { width: 800, format: 'webp' as const }];

const dir = await mkdtemp(path.join(tmpdir(), 'bench-claim-'));
const knex = sqliteKnex(path.join(dir, 'db.sqlite'));
Model.knex(knex);
await createSchema(knex);
await pendingUploadsTable(knex);
const store = new FileSystemStore({
  path: path.join(dir, 'store'),
  baseUrl: 'http://static.example.com/',
  directUploads: { secrets: ['bench-claim-secret-0123456789abcdefghijklmnop'], endpoint: '/uploads' },
});
const users = PER_ROUND * ROUNDS * 2;
await knex.batchInsert(
  'users',
  Array.from({ length: users }, (_, i) => ({ name: `bench ${i}` })),
  200,
);

const app = express();
app.use(storeContext(store));
app.use(directUploadEndpoint(store));
const owner = async (id: string) => (await User.query().findById(id))!;
app.post(
  '/users/:id/picture',
  imageUpload({ field: 'picture', tempDir: dir, verifyDecode: false }),
  async (req, res, next) => {
    try {
      const file = req.file as UploadedImage;
      await imageSet(await owner(String(req.params.id)), 'picture').fromFile(file.path, {
        probed: file.probed,
        thumbnails: THUMBNAILS,
      });
      res.status(204).end();
    } catch (error) {
      next(error);
    }
  },
);
app.post(
  '/users/:id/presign',
  express.json(),
  presignRoute({ imageSet: async (req) => imageSet(await owner(String(req.params.id)), 'picture') }),
);
app.post('/users/:id/claim', express.json(), async (req, res, next) => {
  try {
    await imageSet(await owner(String(req.params.id)), 'picture').fromUpload(String(req.body.token), {
      principal: null,
      thumbnails: THUMBNAILS,
      tempDir: dir,
    });
    res.status(204).end();
  } catch (error) {
    next(error);
  }
});
const server: Server = await new Promise((resolve) => {
  const s = app.listen(0, '127.0.0.1', () => resolve(s));
});
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const photo = await sharp({
  create: {
    width: 1600,
    height: 1200,
    channels: 3,
    background: '#6a8caf',
    noise: { type: 'gaussian', mean: 110, sigma: 22 },
  },
})
  .jpeg({ quality: 88 })
  .toBuffer();
console.log(`photo: ${(photo.length / 1024).toFixed(0)} KB JPEG, 1600×1200`);

async function ok(response: Response, what: string): Promise<Response> {
  if (!response.ok) throw new Error(`${what}: ${response.status} ${await response.text()}`);
  return response;
}

async function multipart(user: number): Promise<void> {
  const form = new FormData();
  form.append('picture', new Blob([photo], { type: 'image/jpeg' }), 'photo.jpg');
  await ok(await fetch(`${origin}/users/${user}/picture`, { method: 'POST', body: form }), 'multipart');
}

async function direct(user: number): Promise<void> {
  const presigned = (await (
    await ok(
      await fetch(`${origin}/users/${user}/presign`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ size: photo.length, type: 'image/jpeg' }),
      }),
      'presign',
    )
  ).json()) as { token: string; upload: { url: string; headers: Record<string, string> } };
  await ok(
    await fetch(new URL(presigned.upload.url, origin), {
      method: 'PUT',
      headers: presigned.upload.headers,
      body: photo,
    }),
    'upload',
  );
  await ok(
    await fetch(`${origin}/users/${user}/claim`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: presigned.token }),
    }),
    'claim',
  );
}

let nextUser = 1;
/** Uploads/s of PER_ROUND uploads, CONCURRENCY at a time. */
async function round(upload: (user: number) => Promise<void>): Promise<number> {
  const ids = Array.from({ length: PER_ROUND }, () => nextUser++);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let id = ids.shift(); id !== undefined; id = ids.shift()) await upload(id);
    }),
  );
  return PER_ROUND / ((performance.now() - started) / 1000);
}

try {
  await withStore(store, async () => {
    // Warm up both paths (sharp, knex, the routes).
    await multipart(users);
    await direct(users - 1);
    const best = { multipart: 0, claim: 0 };
    for (let r = 0; r < ROUNDS; r++) {
      const m = await round(multipart);
      const c = await round(direct);
      console.log(`round ${r + 1}: multipart ${m.toFixed(1)}/s, claim ${c.toFixed(1)}/s`);
      best.multipart = Math.max(best.multipart, m);
      best.claim = Math.max(best.claim, c);
    }
    report('claim', 'claim_vs_multipart_uploads_per_s', best.claim / best.multipart, '>= 0.85', {
      claimPerS: Number(best.claim.toFixed(1)),
      multipartPerS: Number(best.multipart.toFixed(1)),
      concurrency: CONCURRENCY,
    });
  });
} finally {
  await new Promise((resolve) => server.close(resolve));
  await knex.destroy();
  await rm(dir, { recursive: true, force: true });
}

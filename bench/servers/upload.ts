/**
 * The two servers bench/upload.ts compares, one per child process so each has its own RSS:
 *
 * - `ours`: the example app (createApp), whose upload route streams the part to a temp file
 *   (imageUpload), attaches it and makes thumbnails 100, 400 and 800 (WebP) wide, in a transaction.
 * - `baseline`: what an app without the library might do: multer's memoryStorage (the whole body
 *   in memory), then the same three sharp resizes from that buffer, side by side, written to
 *   disk, and the original written too, since ours keeps it. No database, no type sniffing.
 *
 * Run as `node --conditions=objection-imageattach-source --import tsx bench/servers/upload.ts <mode> <dataDir> <users>`;
 * it sends `{ port }` to its parent over IPC once it listens.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import express from 'express';
import multer from 'multer';
import sharp from 'sharp';
import { renderSlots } from 'objection-imageattach';
import { createApp } from '../../example/app.js';
import { UPLOAD_THUMBNAILS } from '../../example/routes/pictures.js';

const [mode, dataDir, users] = process.argv.slice(2);
if ((mode !== 'ours' && mode !== 'baseline') || !dataDir || !(Number(users) > 0)) {
  throw new Error('usage: bench/servers/upload.ts ours|baseline <dataDir> <users>');
}

/**
 * The example's avatar variant (example/models.ts), made at upload: 96×96 and 192×192 cover crops
 * in AVIF, WebP and JPEG at the library's default qualities and AVIF effort. The baseline makes
 * them too, so both servers do the same work.
 */
const AVATAR_OUTPUTS = [96, 192].flatMap((size) =>
  (['avif', 'webp', 'jpeg'] as const).map((format) => ({ size, format })),
);
const AVATAR_ENCODING = { avif: { quality: 50, effort: 2 }, webp: { quality: 75 }, jpeg: { quality: 80 } };

async function baselineApp(): Promise<express.Express> {
  const app = express();
  const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: 10 * 1024 * 1024, files: 1 } }).single(
    'picture',
  );
  app.post('/users/:id/picture', upload, async (req, res) => {
    const dir = path.join(dataDir!, 'images', String(req.params.id));
    await mkdir(dir, { recursive: true });
    const name = randomUUID();
    const bytes = req.file!.buffer;
    await writeFile(path.join(dir, `${name}.jpg`), bytes);
    // Side by side, as the example makes its thumbnails.
    await Promise.all([
      ...UPLOAD_THUMBNAILS.map(({ width, format }) =>
        sharp(bytes)
          .autoOrient()
          .resize({ width })
          .toFormat(format ?? 'jpeg')
          .toFile(path.join(dir, `${name}.${width}.${format ?? 'jpg'}`)),
      ),
      ...AVATAR_OUTPUTS.map(({ size, format }) =>
        sharp(bytes)
          .autoOrient()
          .resize(size, size, { fit: 'cover' })
          .toFormat(format, AVATAR_ENCODING[format])
          .toFile(path.join(dir, `${name}.avatar.${size}.${format}`)),
      ),
    ]);
    res.redirect(303, `/users/${req.params.id}`);
  });
  return app;
}

// RENDER_SLOTS=n tries another bound on the renders in flight (ours only; see renderSlots()).
if (process.env.RENDER_SLOTS !== undefined) renderSlots(Number(process.env.RENDER_SLOTS));
const example = mode === 'ours' ? await createApp({ dataDir }) : undefined;
// Users 1…N, straight into the table: setting up through HTTP would grow this server's heap
// before it is measured.
await example?.knex.batchInsert(
  'users',
  Array.from({ length: Number(users) }, (_, i) => ({ name: `bench ${i + 1}` })),
  200,
);
const app = example?.app ?? (await baselineApp());
const server: Server = app.listen(0, '127.0.0.1', () => {
  process.send!({ port: (server.address() as AddressInfo).port });
});
// The parent is done: finish the requests in flight (and their file cleanup), then exit.
process.on('disconnect', () => {
  server.close(() => void (example?.close() ?? Promise.resolve()).then(() => process.exit(0)));
  server.closeIdleConnections();
});

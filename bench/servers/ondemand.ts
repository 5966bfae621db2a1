/**
 * The two servers bench/ondemand.ts compares, one per child process so each has its own RSS:
 *
 * - `ours`: Express, SQLite, an HttpExposedFileSystemStore served by `serveStore(store)`, and
 *   `thumbnailRoute()` at `/users/:id/picture?width=N` (file answers, the default) and at
 *   `/r/users/:id/picture?width=N` (`respondWith: 'redirect'`), loading each set in one query.
 * - `handrolled`: what an app without the library might write: Express and sharp, `?w=N` resized
 *   into a disk cache (temp name, then rename) and answered with `res.sendFile`. No database, no
 *   single flight, no containment check beyond the numbers it builds its paths from.
 *
 * Run as `node --conditions=objection-imageattach-source --import tsx bench/servers/ondemand.ts <mode> <dataDir> <widths>`
 * (widths comma-separated); it sends `{ port }` to its parent over IPC once it listens.
 */
import { randomBytes } from 'node:crypto';
import { access, mkdir, rename } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import express from 'express';
import { Model } from 'objection';
import sharp from 'sharp';
import { storeContext } from '../../src/context.js';
import { serveStore } from '../../src/http/serve-store.js';
import { imageSet } from '../../src/entity/image-set.js';
import { thumbnailRoute } from '../../src/http/thumbnail-route.js';
import { renderSlots } from '../../src/imaging/render-slots.js';
import { HttpExposedFileSystemStore } from '../../src/stores/http-exposed-fs.js';
import { User } from '../../test/entity/models.js';
import { sqliteKnex } from '../support.js';

const [mode, dataDir, widthList] = process.argv.slice(2);
if ((mode !== 'ours' && mode !== 'handrolled') || !dataDir || !widthList) {
  throw new Error('usage: bench/servers/ondemand.ts ours|handrolled <dataDir> <widths>');
}
const widths = widthList.split(',').map(Number);

function oursApp(): express.Express {
  Model.knex(sqliteKnex(path.join(dataDir!, 'db.sqlite')));
  const store = new HttpExposedFileSystemStore({ path: path.join(dataDir!, 'store') });
  // The owner's id is all the route needs: the set's rows come in one indexed query.
  const load = (req: express.Request) => imageSet(User.fromJson({ id: Number(req.params.id) }), 'picture');
  const app = express();
  app.use(serveStore(store));
  app.use(storeContext(store));
  app.get('/users/:id/picture', thumbnailRoute({ widths, load }));
  app.get('/r/users/:id/picture', thumbnailRoute({ widths, load, respondWith: 'redirect' }));
  return app;
}

function handRolledApp(): express.Express {
  const allowed = new Set(widths);
  const app = express();
  app.get('/users/:id/picture', async (req, res, next) => {
    const width = Number(req.query.w);
    const id = Number(req.params.id);
    if (!allowed.has(width) || !Number.isSafeInteger(id)) {
      res.status(400).end();
      return;
    }
    const cached = path.join(dataDir!, 'cache', String(id), `${width}.jpg`);
    try {
      await access(cached);
    } catch {
      try {
        await mkdir(path.dirname(cached), { recursive: true });
        const temp = `${cached}.${randomBytes(6).toString('hex')}.tmp`;
        await sharp(path.join(dataDir!, 'originals', `${id}.jpg`))
          .autoOrient()
          .resize({ width })
          .jpeg()
          .toFile(temp);
        await rename(temp, cached);
      } catch (error) {
        next(error);
        return;
      }
    }
    res.sendFile(cached, (error) => error && next(error));
  });
  return app;
}

// RENDER_SLOTS=n tries another bound on ours' renders in flight (the hand-rolled one has none).
if (process.env.RENDER_SLOTS !== undefined) renderSlots(Number(process.env.RENDER_SLOTS));
const app = mode === 'ours' ? oursApp() : handRolledApp();
const server: Server = app.listen(0, '127.0.0.1', () => {
  process.send!({ port: (server.address() as AddressInfo).port });
});
process.on('disconnect', () => server.close(() => process.exit(0)));

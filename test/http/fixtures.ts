/**
 * Shared pieces of the static-server tests: a folder of known files, an app around a middleware,
 * and supertest reading bodies as bytes.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import express from 'express';
import type { Response } from 'supertest';
import type { StaticServerMiddleware } from '../../src/express.js';

/** Last-Modified of every fixture file: a whole second, so HTTP-dates round-trip exactly. */
export const MTIME = new Date('2024-03-05T06:07:08.000Z');

export interface Fixtures {
  photo: Buffer;
  big: Buffer;
  small: Buffer;
  svg: Buffer;
}

/** Writes the fixture files under `root` and returns their contents. */
export async function writeFixtures(root: string): Promise<Fixtures> {
  const files = {
    // Larger than 64 KiB (several blocks), an odd size so the last block is partial.
    'photo.jpe': randomBytes(300_007),
    // Several MiB, for 1 MiB blocks and for clients that leave mid-body.
    'big.bin': randomBytes(5 * 1024 * 1024 + 13),
    'small.png': randomBytes(100),
    'empty.gif': Buffer.alloc(0),
    'drawing.svg': Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
    README: Buffer.from('no extension'),
    'nested/deeper/thumb.webp': randomBytes(2048),
  };
  for (const [name, bytes] of Object.entries(files)) {
    const file = path.join(root, name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, bytes);
    await utimes(file, MTIME, MTIME);
  }
  return { photo: files['photo.jpe'], big: files['big.bin'], small: files['small.png'], svg: files['drawing.svg'] };
}

/**
 * An Express app that runs `middleware`, then answers `fell through` (418) for what it passed on,
 * and `<status> <code>` for an error it passed to `next(error)`.
 */
export function appWith(middleware: StaticServerMiddleware): express.Express {
  const app = express();
  app.use(middleware);
  app.use((_req, res) => {
    res.status(418).send('fell through');
  });
  app.use(
    (
      error: { statusCode?: number; code?: string },
      _req: express.Request,
      res: express.Response,
      _next: express.NextFunction,
    ) => {
      res.status(error.statusCode ?? 500).send(`${error.statusCode} ${error.code}`);
    },
  );
  return app;
}

/** supertest parser keeping the body as bytes, whatever the type. */
export function bytes(res: Response, callback: (error: Error | null, body: Buffer) => void): void {
  // supertest hands parsers the underlying Node response, typed as its own Response.
  const stream = res as unknown as http.IncomingMessage;
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('end', () => callback(null, Buffer.concat(chunks)));
}

export function bodyOf(res: Response): Buffer {
  return res.body as Buffer;
}

/** Listens on an ephemeral port; returns the port and a close function. */
export async function listen(server: http.Server): Promise<{ port: number; close: () => Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

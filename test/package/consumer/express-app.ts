// The README's quick start, as a user's Express app: the store served by the app, an upload route,
// a page with an <img>. Run against itself over HTTP.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import express from 'express';
import { HttpExposedFileSystemStore, imageSet } from 'objection-imageattach';
import { imageUpload, imgTag, storeContext, type UploadedImage } from 'objection-imageattach/express';
import { JPEG_64x48, openWorkspace } from './database.js';
import { Product } from './models.js';

const { dir, close } = await openWorkspace('express');
const store = new HttpExposedFileSystemStore({ path: path.join(dir, 'images'), prefix: 'images' });
const app = express();
app.use(store.middleware({ maxAge: 31536000, immutable: true }));
app.use(storeContext(store));
app.post('/products/:id/photo', imageUpload({ field: 'photo', maxBytes: 1_000_000 }), async (req, res) => {
  const file = req.file as UploadedImage;
  const product = await Product.query().findById(String(req.params.id)).throwIfNotFound();
  await imageSet(product, 'photo').fromFile(file.path, { thumbnails: [{ width: 32 }] });
  res.redirect(303, `/products/${product.id}`);
});
app.get('/products/:id', async (req, res) => {
  const product = await Product.query().findById(String(req.params.id)).withGraphFetched('photo').throwIfNotFound();
  const photo = imageSet(product, 'photo');
  res.send(photo.original ? imgTag(photo, { width: 32, alt: `A photo of ${product.title}` }) : 'No photo yet');
});

const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
try {
  const product = await Product.query().insertAndFetch({ title: 'Lamp' });
  const form = new FormData();
  form.append('photo', new Blob([JPEG_64x48], { type: 'image/jpeg' }), 'lamp.jpg');
  const posted = await fetch(`${origin}/products/${product.id}/photo`, { method: 'POST', body: form, redirect: 'manual' });
  assert.equal(posted.status, 303);
  const page = await (await fetch(`${origin}/products/${product.id}`)).text();
  const src = /src="([^"]+)"/.exec(page)?.[1];
  assert.ok(src?.includes('32x24'), page);
  assert.match(page, /alt="A photo of Lamp"/);
  const image = await fetch(src!.startsWith('/') ? origin + src : src!);
  assert.equal(image.status, 200);
  assert.equal(image.headers.get('content-type'), 'image/jpeg');
  const refused = new FormData();
  refused.append('photo', new Blob([Buffer.from('not an image')], { type: 'image/jpeg' }), 'x.jpg');
  assert.equal((await fetch(`${origin}/products/${product.id}/photo`, { method: 'POST', body: refused })).status, 415);
  console.log('consumer: the README quick start runs on Express from the installed package');
} finally {
  server.close();
  await close();
}

// The consumer's program: attach, thumbnail, eager load, HTML, delete, on SQLite and a folder.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import {
  FileSystemStore,
  filesSettled,
  ImageAttachError,
  imageSet,
  InvalidImageError,
  withStore,
} from 'objection-imageattach';
import { JPEG_64x48, openWorkspace } from './database.js';
import { Photo, Product } from './models.js';

const { dir, close } = await openWorkspace('core');
try {
  const store = new FileSystemStore({ path: path.join(dir, 'images'), baseUrl: 'https://static.example.com/images/' });

  await withStore(store, async () => {
    const product = await Product.query().insertAndFetch({ title: 'Lamp' });
    const original: Photo = await imageSet(product, 'photo').fromBlob(JPEG_64x48);
    assert.equal(original.describe(), '64×48 image/jpeg (original)');
    const thumbnail = await product.photoSet.generateThumbnail({ width: 32 });
    assert.deepEqual([thumbnail.width, thumbnail.height], [32, 24]);
    await assert.rejects(
      imageSet(product, 'photo').fromBlob(Buffer.from('not an image')),
      (e: unknown) => e instanceof InvalidImageError && e.code === 'ERR_IMAGE_UNSUPPORTED_TYPE' && e.statusCode === 415,
    );

    const [loaded] = await Product.query().withGraphFetched('photo');
    const set = imageSet(loaded!, 'photo');
    assert.equal(set.original?.describe(), '64×48 image/jpeg (original)');
    const html = set.findThumbnail({ width: 32 }).toHTML({ attributes: { alt: 'A lamp' } });
    assert.match(html, /^<img [^>]*src="https:\/\/static\.example\.com\/images\/photo\/[^"]+32x24\.jpe\?_ts=\d+"/);
    assert.match(html, / width="32" height="24"/);
    assert.match(html, / alt="A lamp"/);

    await Product.query().deleteById(product.id);
    await filesSettled();
    assert.equal(await Photo.query().resultSize(), 0);
    const left = await readdir(path.join(dir, 'images'), { recursive: true }).catch(() => []);
    assert.deepEqual(
      left.filter((f) => /\.\w+$/.test(String(f))),
      [],
    );
  });
  try {
    imageSet(new Product(), 'photo').findThumbnail({ width: 1 });
  } catch (error) {
    assert.ok(error instanceof ImageAttachError && error.code === 'ERR_IMAGE_SET_NOT_LOADED');
  }
  console.log('consumer: attach, thumbnail, eager load, HTML and delete work from the installed package');
} finally {
  await close();
}

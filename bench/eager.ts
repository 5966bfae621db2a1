/**
 * Rendering a page of 100 owners' <img> tags (original, a thumbnail by width, toHTML) after
 * `withGraphFetched`: counts the SQL queries and the store reads it costs.
 * Targets: <= 2 queries (the owners, their images), 0 store reads.
 */
import type { Readable } from 'node:stream';
import sharp from 'sharp';
import { FileSystemStore, type ImageKey, imageSet, withStore } from '../src/index.js';
import type { ByteRange, FileStat } from '../src/index.js';
import { User } from '../test/entity/models.js';
import { benchWorld, report } from './support.js';

const OWNERS = 100;

/** A filesystem store that counts every call that touches the disk. */
class CountingStore extends FileSystemStore {
  reads = 0;
  override getFile(key: ImageKey, range?: ByteRange): Promise<Readable> {
    this.reads++;
    return super.getFile(key, range);
  }
  override statFile(key: ImageKey): Promise<FileStat | null> {
    this.reads++;
    return super.statFile(key);
  }
}

const world = await benchWorld('eager');
try {
  const store = new CountingStore({ path: world.store.root, baseUrl: 'http://static.example.com/' });
  const photo = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#468' } })
    .jpeg()
    .toBuffer();
  await withStore(store, async () => {
    for (let i = 0; i < OWNERS; i++) {
      const user = await User.query().insert({ name: `user ${i}` });
      await imageSet(user, 'picture').fromBlob(photo);
      await imageSet(user, 'picture').generateThumbnail({ width: 100 });
    }
  });

  let queries = 0;
  world.knex.on('query', () => queries++);
  store.reads = 0;
  const started = performance.now();
  const html = await withStore(store, async () => {
    const users = await User.query().withGraphFetched('picture').orderBy('id');
    return users
      .map((user) => {
        const set = imageSet(user, 'picture');
        return `<li>${set.toHTML({ attributes: { alt: user.name } })}${set.findThumbnail({ width: 100 }).toHTML()}</li>`;
      })
      .join('\n');
  });
  const ms = performance.now() - started;
  const tags = html.match(/<img /g)?.length ?? 0;
  console.log(
    `${tags} <img> tags for ${OWNERS} owners in ${ms.toFixed(1)} ms: ${queries} SQL queries, ${store.reads} store reads`,
  );
  if (tags !== OWNERS * 2) throw new Error(`expected ${OWNERS * 2} tags, rendered ${tags}`);
  report('eager', 'sql_queries', queries, '<= 2', { storeReads: store.reads, storeReadsTarget: '0' });
} finally {
  await world.close();
}

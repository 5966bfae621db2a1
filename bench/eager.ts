/**
 * Rendering a page of 100 owners' <img> tags (original, a thumbnail by width, toHTML) after
 * `withGraphFetched`: counts the SQL queries and the store reads it costs.
 * Targets: <= 2 queries (the owners, their images), 0 store reads.
 *
 * Then the same with named variants: 100 owners × 12 variant outputs (the relation declares them,
 * so withGraphFetched brings them along), against the same page with 12 thumbnails per owner
 * instead: <= 2 queries, 0 store reads, and the page (query + URLs) <= 1.5× the thumbnails one.
 */
import type { Readable } from 'node:stream';
import sharp from 'sharp';
import { Model } from 'objection';
import {
  FileSystemStore,
  Image,
  imageAttachment,
  imageColumns,
  type ImageKey,
  imageSet,
  variantTables,
  withStore,
} from '../src/index.js';
import type { ByteRange, FileStat } from '../src/index.js';
import { User } from '../test/entity/models.js';
import { benchWorld, report } from './support.js';

const OWNERS = 100;
const ROUNDS = 25;

/** An owner whose relation declares 12 variant outputs (6 + 4 + 2). */
class MemberPicture extends Image(Model) {
  static override tableName = 'member_picture';
  static override idColumn = ['member_id', 'width', 'height'];
  declare member_id: number;
}

class Member extends Model {
  static override tableName = 'members';
  declare id: number;
  declare name: string;
  declare picture?: MemberPicture[];
  static override relationMappings = () => ({
    picture: imageAttachment(() => MemberPicture, {
      join: { from: 'members.id', to: 'member_picture.member_id' },
      variants: {
        avatar: { width: 48, height: 48, densities: [1, 2], formats: ['webp', 'png', 'jpeg'] },
        card: { width: 120, height: 90, densities: [1, 2], formats: ['webp', 'jpeg'] },
        strip: { width: 160, height: 40, formats: ['webp', 'jpeg'] },
      },
    }),
  });
}

const VARIANTS = ['avatar', 'card', 'strip'];
/** The thumbnails page's 12 per owner. */
const THUMBNAIL_WIDTHS = [20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

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
  const pageQueries = queries;
  const pageReads = store.reads;
  const tags = html.match(/<img /g)?.length ?? 0;
  console.log(
    `${tags} <img> tags for ${OWNERS} owners in ${ms.toFixed(1)} ms: ${queries} SQL queries, ${store.reads} store reads`,
  );
  if (tags !== OWNERS * 2) throw new Error(`expected ${OWNERS * 2} tags, rendered ${tags}`);

  // Variants: 100 owners with 12 outputs each, against 100 owners with 12 thumbnails each.
  await world.knex.schema.createTable('members', (t) => {
    t.increments('id');
    t.string('name').notNullable();
  });
  await world.knex.schema.createTable('member_picture', (t) => {
    t.integer('member_id').notNullable();
    imageColumns(t);
    t.primary(['member_id', 'width', 'height']);
  });
  await variantTables(world.knex, 'member_picture', (t) => t.integer('member_id').notNullable());
  const thumbOwners: User[] = [];
  await withStore(store, async () => {
    for (let i = 0; i < OWNERS; i++) {
      const member = await Member.query().insert({ name: `member ${i}` });
      await imageSet(member, 'picture').fromBlob(photo);
      const user = await User.query().insert({ name: `thumbs ${i}` });
      await imageSet(user, 'picture').fromBlob(photo, { thumbnails: THUMBNAIL_WIDTHS.map((width) => ({ width })) });
      thumbOwners.push(user);
    }
  });
  const firstThumbOwner = thumbOwners[0]!.id;
  const thumbnailsPage = () =>
    withStore(store, async () => {
      const users = await User.query().withGraphFetched('picture').where('id', '>=', firstThumbOwner).orderBy('id');
      return users.flatMap((user) => imageSet(user, 'picture').thumbnails.map((t) => t.locate()));
    });
  const variantsPage = () =>
    withStore(store, async () => {
      const members = await Member.query().withGraphFetched('picture').orderBy('id');
      return members.flatMap((member) => {
        const set = imageSet(member, 'picture');
        return VARIANTS.flatMap((name) => set.variant(name).outputs.map((o) => o.locate()));
      });
    });
  queries = 0;
  store.reads = 0;
  const variantUrls = await variantsPage();
  const variantQueries = queries;
  const thumbnailUrls = await thumbnailsPage();
  if (variantUrls.length !== OWNERS * 12 || thumbnailUrls.length !== OWNERS * 12) {
    throw new Error(`expected ${OWNERS * 12} URLs per page, got ${variantUrls.length} and ${thumbnailUrls.length}`);
  }
  const times = { variants: [] as number[], thumbnails: [] as number[] };
  const ratios: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Alternating, so both pages see the same machine.
    for (const [name, page] of [
      ['variants', variantsPage],
      ['thumbnails', thumbnailsPage],
    ] as const) {
      const t0 = performance.now();
      await page();
      times[name].push(performance.now() - t0);
    }
    ratios.push(times.variants.at(-1)! / times.thumbnails.at(-1)!);
  }
  // The median of each round's ratio: a page pair shares the machine's load of the moment.
  const ratio = median(ratios);
  console.log(
    `variants page: ${variantUrls.length} URLs in ${median(times.variants).toFixed(1)} ms, ${variantQueries} SQL queries, ${store.reads} store reads; ` +
      `thumbnails page: ${thumbnailUrls.length} URLs in ${median(times.thumbnails).toFixed(1)} ms; ratio ${ratio.toFixed(3)}`,
  );
  report('eager', 'sql_queries', Math.max(pageQueries, variantQueries), '<= 2', {
    storeReads: pageReads + store.reads,
    storeReadsTarget: '0',
    variantPageRatio: Number(ratio.toFixed(3)),
    variantPageRatioTarget: '<= 1.5',
  });
} finally {
  await world.close();
}

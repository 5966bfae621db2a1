/**
 * The HTML helpers with `{ variant }`: one `<source type>` per format with `1x, 2x` (or `w` and
 * `sizes`), an `<img width height>` in the last format, the box kept while outputs are missing,
 * recipe-stale outputs shown and source-stale ones not, and a bound queue asked for the rest.
 */
import assert from 'node:assert/strict';
import { Model } from 'objection';
import { imageSet, InvalidArgumentError, withStore } from '../src/index.js';
import { htmlHelpers, imgTag, pictureTag, srcset } from '../src/express.js';
import { type ThumbnailQueue, thumbnailQueue } from '../src/queue.js';
import { FileSystemStore } from '../src/stores/fs.js';
import { createVariantSchema, Member } from './entity/variant-models.js';
import { disposeQueue, recordingWorker, REDIS_URL, uniqueQueueName, useRedis } from './queue/support.js';
import { forEachDialect } from './support/db.js';
import { jpeg } from './support/images.js';
import { removeDir, tempDir } from './support/tmp.js';

const BASE = 'http://img.test/';

forEachDialect('HTML helpers with a variant', (db) => {
  let root: string;
  let store: FileSystemStore;

  before(async function () {
    Model.knex(db());
    await createVariantSchema(db());
  });
  beforeEach(async function () {
    root = await tempDir('html-variants');
    store = new FileSystemStore({ path: root, baseUrl: BASE });
  });
  afterEach(async function () {
    await removeDir(root);
  });

  /** A member with an 800×600 JPEG picture (its upload variants made), loaded as a page would. */
  async function member(): Promise<Member> {
    const created = await Member.query().insert({ name: 'Ann' });
    const bytes = await jpeg(800, 600);
    await withStore(store, () => imageSet(created, 'picture').fromBlob(bytes));
    return reload(created);
  }
  const reload = async (m: Member) => (await Member.query().findById(m.id).withGraphFetched('picture'))!;
  const variantRows = (m: Member) => db()('member_picture_variants').where({ member_id: m.id });

  it('emits a <source> per format with 1x and 2x, and an <img> of the last format in the box', async function () {
    const m = await member();
    const html = pictureTag(imageSet(m, 'picture'), { variant: 'avatar', alt: 'Ann', store });
    const source = /<source type="image\/webp" srcset="([^"]+)">/.exec(html)?.[1];
    assert.ok(source, html);
    assert.match(
      source,
      /^\S+member-picture\.avatar\.[0-9a-f]{12}\/\S+\.48x48\.webp\?_ts=\d+ 1x, \S+\.96x96\.webp\?_ts=\d+ 2x$/,
    );
    const img = /<img [^>]+>/.exec(html)![0];
    assert.match(
      img,
      /^<img src="\S+\.48x48\.jpe\?_ts=\d+" srcset="\S+\.48x48\.jpe\?_ts=\d+ 1x, \S+\.96x96\.jpe\?_ts=\d+ 2x"/,
    );
    assert.match(img, / width="48" height="48" alt="Ann">$/);
    assert.doesNotMatch(html, /object-fit|sizes=/);
    assert.ok(html.startsWith('<picture><source') && html.endsWith('</picture>'));
  });

  it('imgTag and srcset take the variant too', async function () {
    const m = await member();
    const set = imageSet(m, 'picture');
    assert.match(
      imgTag(set, { variant: 'avatar', alt: '', store }),
      /^<img src="\S+\.48x48\.jpe\?_ts=\d+" srcset="[^"]+ 2x" width="48" height="48" alt="">$/,
    );
    assert.match(
      srcset(set, { variant: 'avatar', type: 'image/webp', store }),
      /\.48x48\.webp\?_ts=\d+ 1x, \S+\.96x96\.webp\?_ts=\d+ 2x$/,
    );
    assert.match(srcset(set, { variant: 'avatar', store }), /\.jpe\?_ts=\d+ 2x$/);
    assert.equal(srcset(set, { variant: 'avatar', type: 'image/avif', store }), '');
  });

  it('refuses a variant the relation does not declare, and a width beside a variant', async function () {
    const set = imageSet(await member(), 'picture');
    assert.throws(
      () => pictureTag(set, { variant: 'avtar', alt: '', store }),
      (e: unknown) =>
        e instanceof InvalidArgumentError && /options\.variant/.test(e.message) && /avatar, card, hero/.test(e.message),
    );
    assert.throws(() => imgTag(set, { variant: 'avatar', width: 48, alt: '', store }), InvalidArgumentError);
    assert.throws(() => srcset(set, { variant: 'nope', store }), InvalidArgumentError);
  });

  it('shows the original in the same box, at the focal point, while nothing of the variant exists', async function () {
    const m = await member();
    await withStore(store, () => imageSet(m, 'picture').setFocalPoint({ x: 0.8, y: 0.2 }));
    await variantRows(m).where({ name: 'avatar' }).delete();
    const html = pictureTag(imageSet(await reload(m), 'picture'), { variant: 'avatar', alt: '', store });
    assert.match(
      html,
      /^<picture><img src="\S+\.800x600\.jpe\?_ts=\d+" width="48" height="48" alt="" style="aspect-ratio: 48 \/ 48; object-fit: cover; object-position: 80% 20%"><\/picture>$/,
    );
  });

  it('emits what exists of a half-made variant, in the same box', async function () {
    const m = await member();
    await variantRows(m).where({ name: 'avatar', format: 'webp' }).delete();
    await variantRows(m).where({ name: 'avatar', format: 'jpeg', descriptor: '2x' }).delete();
    const html = pictureTag(imageSet(await reload(m), 'picture'), { variant: 'avatar', alt: '', store });
    assert.match(html, /^<picture><img src="\S+\.48x48\.jpe\?_ts=\d+" width="48" height="48" alt=""><\/picture>$/);
  });

  it('still emits recipe-stale outputs, and never source-stale ones', async function () {
    const m = await member();
    // Another digest: made by an older recipe of this same original.
    await variantRows(m).where({ name: 'avatar', format: 'webp' }).update({ digest: '0123456789ab' });
    const stale = pictureTag(imageSet(await reload(m), 'picture'), { variant: 'avatar', alt: '', store });
    assert.match(stale, /<source type="image\/webp" srcset="\S+member-picture\.avatar\.0123456789ab\//);
    // Another source: made of an original that is no longer this one.
    await variantRows(m)
      .where({ name: 'avatar' })
      .update({ source_created_at: new Date('2001-01-01T00:00:00Z') });
    const gone = pictureTag(imageSet(await reload(m), 'picture'), { variant: 'avatar', alt: '', store });
    assert.doesNotMatch(gone, /<source|avatar\./);
    assert.match(gone, /\.800x600\.jpe\?_ts=\d+" width="48" height="48"/);
  });

  it('emits variantRoute URLs for demand outputs not made yet, with w descriptors and sizes', async function () {
    const m = await member();
    const set = imageSet(m, 'picture');
    const withoutRoute = pictureTag(set, { variant: 'hero', alt: '', store });
    assert.match(
      withoutRoute,
      /<img src="\S+\.800x600\.jpe\?_ts=\d+" width="160" height="120" alt="" style="aspect-ratio: [0-9]+ \/ [0-9]+; object-fit: cover;/,
    );
    const helpers = htmlHelpers({
      store,
      demandUrl: (s, output) =>
        `/members/${s.owner.$id()}/picture/${output.variant}/${output.descriptor}.${output.format}`,
    });
    assert.equal(
      helpers.pictureTag(set, { variant: 'hero', alt: '' }),
      `<picture><img src="/members/${m.id}/picture/hero/64w.jpeg" srcset="/members/${m.id}/picture/hero/64w.jpeg 64w, /members/${m.id}/picture/hero/160w.jpeg 160w" sizes="160px" width="160" height="120" alt=""></picture>`,
    );
    assert.match(helpers.imgTag(set, { variant: 'hero', alt: '', sizes: '50vw' }), / sizes="50vw" /);
  });

  describe('with a queue', function () {
    useRedis();
    let queue: ThumbnailQueue | undefined;
    afterEach(async function () {
      await disposeQueue(queue);
      queue = undefined;
    });

    it('asks for the outputs a page could not show, and a worker makes them', async function () {
      const m = await member();
      queue = thumbnailQueue({
        connection: REDIS_URL,
        queueName: uniqueQueueName('html-variants'),
        models: { Member },
        stores: { default: store },
      });
      const errors: Error[] = [];
      const helpers = htmlHelpers({ store, queue, onEnqueueError: (e) => errors.push(e) });
      const before = helpers.pictureTag(imageSet(m, 'picture'), { variant: 'card', alt: '' });
      assert.match(
        before,
        /\.800x600\.jpe\?_ts=\d+" width="80" height="60" alt="" style="aspect-ratio: [0-9]+ \/ [0-9]+; object-fit: cover;/,
      );
      // A made variant asks for nothing.
      helpers.pictureTag(imageSet(m, 'picture'), { variant: 'avatar', alt: '' });
      const worker = await recordingWorker(queue);
      const [done] = await worker.completions(1);
      assert.deepEqual(done!.data, { ...done!.data, kind: 'variant', variants: ['card'] });
      assert.deepEqual(done!.result, { status: 'created', variants: ['card'], made: 1 });
      const after = helpers.pictureTag(imageSet(await reload(m), 'picture'), { variant: 'card', alt: '' });
      assert.match(
        after,
        /^<picture><img src="\S+member-picture\.card\.[0-9a-f]{12}\/\S+\.80x60\.jpe\?_ts=\d+" width="80" height="60" alt=""><\/picture>$/,
      );
      assert.deepEqual(errors, []);
      // Asked again (a page cached before), the job finds nothing to make: idempotent.
      await queue.enqueueVariants(m, 'picture', ['card'], { force: true });
      const [, again] = await worker.completions(2);
      assert.deepEqual(again!.result, { status: 'existing', variants: ['card'], made: 0 });
    });
  });
});

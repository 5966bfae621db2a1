/**
 * `migrate()` and `migrateClass()` copy the files of variant rows (`<table>_variants`) with the
 * image rows' files: filesystem → S3 (s3rver) → filesystem, on each database. The rows stay: they
 * are in the same database, and a variant file's key names no store.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Model } from 'objection';
import sharp from 'sharp';
import { FileSystemStore, type ImageKey } from '../src/index.js';
import { migrate, migrateClass, type MigrationEvent } from '../src/migration.js';
import { variantObjectType } from '../src/stores/keys.js';
import { forEachDialect } from './support/db.js';
import { jpeg } from './support/images.js';
import { useS3Server } from './support/s3.js';
import { listTree, removeDir, tempDir } from './support/tmp.js';
import { createVariantSchema, Gallery, Member, MemberPicture, SlotImage } from './entity/variant-models.js';

const BASE_URL = 'http://static.example.com/';
const DIGEST = 'c0ffee123456';

async function snapshot(root: string): Promise<Map<string, string>> {
  const files = (await listTree(root)).filter((f) => !f.endsWith('/') && !path.basename(f).startsWith('.'));
  const hashes = await Promise.all(
    files.map(
      async (f) =>
        [
          f,
          createHash('sha256')
            .update(await readFile(path.join(root, f)))
            .digest('hex'),
        ] as const,
    ),
  );
  return new Map(hashes);
}

forEachDialect('migration of variant files', (db, dialect) => {
  const s3 = useS3Server();
  let sourceRoot: string;
  let source: FileSystemStore;
  let variantKeys: ImageKey[];

  before(async function () {
    Model.knex(db());
    await createVariantSchema(db());
  });

  /**
   * Member 1 with an original and two avatar outputs; gallery 7's slot 2 with an original and one
   * thumb output (its image class computes objectId from two key columns: 7002).
   */
  beforeEach(async function () {
    for (const table of [
      'member_picture_variants',
      'member_picture',
      'members',
      'slot_image_variants',
      'slot_image',
      'galleries',
    ])
      await db()(table).del();
    sourceRoot = await tempDir(`migrate-variants-${dialect}`);
    source = new FileSystemStore({ path: sourceRoot, baseUrl: BASE_URL });
    const photo = await jpeg(400, 300);
    const now = new Date();
    await db()('members').insert({ id: 1, name: 'Ann' });
    await db()('galleries').insert({ id: 7 });
    await db()('member_picture').insert({
      member_id: 1,
      width: 400,
      height: 300,
      mimetype: 'image/jpeg',
      original: true,
      created_at: now,
    });
    await db()('slot_image').insert({
      gallery_id: 7,
      slot: 2,
      width: 400,
      height: 300,
      mimetype: 'image/jpeg',
      original: true,
      created_at: now,
    });
    const originals = [
      { objectType: 'member-picture', objectId: 1 },
      { objectType: 'slot-image', objectId: 7002 },
    ];
    for (const { objectType, objectId } of originals) {
      const key = { objectType, objectId, width: 400, height: 300, mimetype: 'image/jpeg' };
      await source.putFile(key, Readable.from([photo]), { reproducible: false });
    }
    const outputs = [
      {
        table: 'member_picture_variants',
        set: { member_id: 1 },
        base: 'member-picture',
        objectId: 1,
        name: 'avatar',
        descriptor: '1x',
        size: 48,
      },
      {
        table: 'member_picture_variants',
        set: { member_id: 1 },
        base: 'member-picture',
        objectId: 1,
        name: 'avatar',
        descriptor: '2x',
        size: 96,
      },
      {
        table: 'slot_image_variants',
        set: { gallery_id: 7, slot: 2 },
        base: 'slot-image',
        objectId: 7002,
        name: 'thumb',
        descriptor: '1x',
        size: 32,
      },
    ];
    variantKeys = [];
    for (const o of outputs) {
      await db()(o.table).insert({
        ...o.set,
        name: o.name,
        descriptor: o.descriptor,
        format: 'webp',
        width: o.size,
        height: o.size,
        mimetype: 'image/webp',
        digest: DIGEST,
        source_created_at: now,
        created_at: now,
      });
      const key = {
        objectType: variantObjectType(o.base, o.name, DIGEST),
        objectId: o.objectId,
        width: o.size,
        height: o.size,
        mimetype: 'image/webp',
      };
      const bytes = await sharp({ create: { width: o.size, height: o.size, channels: 3, background: '#36c' } })
        .webp()
        .toBuffer();
      await source.putFile(key, Readable.from([bytes]), { reproducible: true });
      variantKeys.push(key);
    }
  });

  afterEach(async function () {
    await removeDir(sourceRoot);
  });

  it('fs → S3 (s3rver) → fs: variant files arrive under their keys (reproducible), with the same bytes', async function () {
    const bucket = await s3.current.createBucket('migrate-variants');
    const middle = s3.current.store(bucket, {
      storageClass: 'STANDARD',
      reproducibleStorageClass: 'REDUCED_REDUNDANCY',
    });
    const events: MigrationEvent[] = [];
    const report = await migrate([Member, Gallery], source, middle, { verify: true }).execute((_p, event) =>
      events.push(event),
    );
    assert.equal(report.total, 5);
    assert.equal(report.copied, 5);
    assert.deepEqual(report.failed, []);
    const variantEvents = events.filter((e) => e.variant !== undefined);
    assert.deepEqual(variantEvents.map((e) => `${e.variant!.name} ${e.variant!.descriptor}`).sort(), [
      'avatar 1x',
      'avatar 2x',
      'thumb 1x',
    ]);
    assert.ok(variantEvents.every((e) => e.image === undefined && e.bytes > 0));
    for (const key of variantKeys) assert.notEqual(await middle.statFile(key), null, `${key.objectType} in S3`);
    const objects = await s3.current.listAll(bucket);
    const avatar = objects.find((k) => k.startsWith(`member-picture.avatar.${DIGEST}/`))!;
    assert.equal((await s3.current.head(bucket, avatar)).StorageClass, 'REDUCED_REDUNDANCY');
    // The rows are left as they were.
    assert.equal(Number((await db()('member_picture_variants').count({ n: '*' }).first())!.n), 2);

    const backRoot = await tempDir('migrate-variants-back');
    try {
      const back = new FileSystemStore({ path: backRoot, baseUrl: BASE_URL });
      assert.equal((await migrate([Member, Gallery], middle, back, { verify: true }).execute()).done, 5);
      assert.deepEqual(await snapshot(backRoot), await snapshot(sourceRoot));
    } finally {
      await removeDir(backRoot);
    }
  });

  it('migrateClass copies one class with its variant files; iterating yields the image rows only', async function () {
    const destinationRoot = await tempDir('migrate-variants-class');
    try {
      const destination = new FileSystemStore({ path: destinationRoot, baseUrl: BASE_URL });
      const plan = migrateClass(SlotImage, source, destination);
      const yielded = [];
      for await (const image of plan) yielded.push(image);
      assert.equal(yielded.length, 1);
      assert.ok(yielded[0] instanceof SlotImage);
      assert.equal(plan.progress!.done, 2);
      assert.notEqual(await destination.statFile(variantKeys[2]!), null);
      assert.equal(await destination.statFile(variantKeys[0]!), null);
    } finally {
      await removeDir(destinationRoot);
    }
  });

  it('variants: false copies the image rows’ files only; a missing variant file fails alone', async function () {
    const destinationRoot = await tempDir('migrate-variants-off');
    try {
      const destination = new FileSystemStore({ path: destinationRoot, baseUrl: BASE_URL });
      const imagesOnly = await migrateClass(MemberPicture, source, destination, { variants: false }).execute();
      assert.equal(imagesOnly.total, 1);
      assert.equal(await destination.statFile(variantKeys[0]!), null);
      await source.deleteFile(variantKeys[1]!);
      const report = await migrateClass(MemberPicture, source, destination, { skipExisting: true }).execute();
      assert.equal(report.total, 3);
      assert.equal(report.skipped, 1);
      assert.equal(report.failed.length, 1);
      assert.equal(report.failed[0]!.variant?.descriptor, '2x');
      assert.equal((report.failed[0]!.error as { code?: string }).code, 'ERR_IMAGE_NOT_FOUND');
      assert.notEqual(await destination.statFile(variantKeys[0]!), null);
    } finally {
      await removeDir(destinationRoot);
    }
  });

  it('refuses a variants option that is not a boolean, naming it', function () {
    assert.throws(
      () =>
        migrateClass(MemberPicture, source, new FileSystemStore({ path: sourceRoot + '-x', baseUrl: BASE_URL }), {
          variants: 'yes' as never,
        }),
      {
        code: 'ERR_INVALID_ARGUMENT',
        message: /options\.variants/,
      },
    );
  });
});

import assert from 'node:assert/strict';
import { imageColumns, InvalidArgumentError, variantTables } from '../src/index.js';
import { variantTableNames } from '../src/schema.js';
import { forEachDialect } from './support/db.js';

forEachDialect('imageColumns', (db) => {
  it('creates an image table with a composite primary key', async function () {
    await db().schema.createTable('user_picture', (table) => {
      table.integer('user_id').notNullable();
      imageColumns(table);
      table.primary(['user_id', 'width', 'height']);
    });
    const createdAt = new Date('2013-09-20T03:08:39.123Z');
    await db()('user_picture').insert({
      user_id: 1,
      width: 10,
      height: 20,
      mimetype: 'image/png',
      original: true,
      created_at: createdAt,
    });
    await assert.rejects(
      db()('user_picture').insert({
        user_id: 1,
        width: 10,
        height: 20,
        mimetype: 'image/png',
        original: false,
        created_at: createdAt,
      }),
    );
    const rows = await db()('user_picture').select();
    assert.equal(rows.length, 1);
    assert.deepEqual(Object.keys(rows[0]).sort(), ['created_at', 'height', 'mimetype', 'original', 'user_id', 'width']);
    assert.equal(Boolean(rows[0].original), true);
  });
});

forEachDialect('variantTables', (db, dialect) => {
  before(async function () {
    await db().schema.createTable('galleries', (t) => {
      t.increments('id');
    });
  });

  it('creates <table>_variants and <table>_meta keyed by the owner and subset columns, cascading owner deletes', async function () {
    await variantTables(db(), 'slot_image', (t) => {
      t.integer('gallery_id').unsigned().notNullable().references('galleries.id').onDelete('CASCADE');
      t.integer('slot').notNullable();
    });
    assert.deepEqual(variantTableNames('slot_image'), { variants: 'slot_image_variants', meta: 'slot_image_meta' });
    const galleryId = 7;
    await db()('galleries').insert({ id: galleryId });
    const stamp = new Date('2031-01-02T03:04:05.678Z');
    const output = {
      gallery_id: galleryId,
      slot: 1,
      name: 'avatar',
      descriptor: '1x',
      format: 'webp',
      width: 96,
      height: 96,
      mimetype: 'image/webp',
      digest: '0123456789ab',
      source_created_at: stamp,
      created_at: stamp,
    };
    await db()('slot_image_variants').insert(output);
    await db()('slot_image_variants').insert({ ...output, slot: 2 });
    await db()('slot_image_variants').insert({ ...output, format: 'jpeg', mimetype: 'image/jpeg' });
    await assert.rejects(
      db()('slot_image_variants').insert(output),
      'the key is owner + subset + name + descriptor + format',
    );
    const meta = { gallery_id: galleryId, slot: 1, source_created_at: stamp, source_width: 10, source_height: 20 };
    await db()('slot_image_meta').insert(meta);
    await db()('slot_image_meta').insert({ ...meta, slot: 2 });
    await assert.rejects(db()('slot_image_meta').insert(meta), 'one meta row per set');
    const columns = Object.keys(await db()('slot_image_meta').columnInfo()).sort();
    assert.deepEqual(columns, [
      'crop_height',
      'crop_left',
      'crop_top',
      'crop_width',
      'focal_x',
      'focal_y',
      'gallery_id',
      'placeholder_alpha',
      'placeholder_color',
      'placeholder_data_uri',
      'placeholder_hash',
      'slot',
      'source_created_at',
      'source_height',
      'source_width',
    ]);
    if (dialect === 'sqlite') await db().raw('PRAGMA foreign_keys = ON');
    try {
      await db()('galleries').where('id', galleryId).delete();
    } finally {
      if (dialect === 'sqlite') await db().raw('PRAGMA foreign_keys = OFF');
    }
    assert.deepEqual(await db()('slot_image_variants'), []);
    assert.deepEqual(await db()('slot_image_meta'), []);
  });

  it('refuses an ownerKey that adds no column', async function () {
    await assert.rejects(
      variantTables(db(), 'nothing', () => {}),
      (e: unknown) => e instanceof InvalidArgumentError && /ownerKey/.test((e as Error).message),
    );
  });
});

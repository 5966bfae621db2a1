import assert from 'node:assert/strict';
import { imageColumns } from '../src/index.js';
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

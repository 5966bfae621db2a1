/**
 * A child process for the cross-process replacement test: makes (or finds) the 200-wide thumbnail
 * of one user's picture in a SQLite file shared with the parent, and prints one JSON line with
 * its size and colour.
 *
 * argv: <database file> <store root> <user id>
 */
import knexFactory from 'knex';
import { Model } from 'objection';
import { imageSet } from '../../../src/entity/image-set.js';
import { FileSystemStore } from '../../../src/stores/fs.js';
import { colourOf } from '../../support/colours.js';
import { User } from '../models.js';

const [database, root, userId] = process.argv.slice(2) as [string, string, string];
const knex = knexFactory({
  client: 'better-sqlite3',
  connection: { filename: database },
  useNullAsDefault: true,
  pool: { min: 1, max: 1 },
});
Model.knex(knex);
const store = new FileSystemStore({ path: root, baseUrl: 'http://static.example.com/' });
const thumbnail = await imageSet(User.fromJson({ id: Number(userId) }), 'picture').findOrCreateThumbnail(
  { width: 200 },
  { store },
);
const colour = await colourOf(await thumbnail.makeBlob({ store }));
process.stdout.write(`${JSON.stringify({ width: thumbnail.width, height: thumbnail.height, colour })}\n`);
await knex.destroy();

/**
 * A child process for the multi-process SQLite test: `findOrCreateThumbnail` on one user's picture,
 * `calls` times over the widths given, against a SQLite file shared with other processes. Prints
 * one JSON line: how many calls succeeded and the messages of those that failed.
 *
 * argv: <database file> <store root> <user id> <calls> <width,width,…>
 */
import knexFactory from 'knex';
import { Model } from 'objection';
import { imageSet } from '../../../src/entity/image-set.js';
import { FileSystemStore } from '../../../src/stores/fs.js';
import { User } from '../models.js';

const [database, root, userId, calls, widths] = process.argv.slice(2) as [string, string, string, string, string];
const knex = knexFactory({
  client: 'better-sqlite3',
  connection: { filename: database },
  useNullAsDefault: true,
  pool: { min: 1, max: 1 },
});
Model.knex(knex);
const store = new FileSystemStore({ path: root, baseUrl: 'http://static.example.com/' });
const sizes = widths.split(',').map(Number);
const failed: string[] = [];
let succeeded = 0;
const user = (await User.query().findById(Number(userId)))!;
for (let i = 0; i < Number(calls); i++) {
  try {
    await imageSet(User.fromJson(user.toJSON()), 'picture').findOrCreateThumbnail(
      { width: sizes[i % sizes.length]! },
      { store },
    );
    succeeded++;
  } catch (error) {
    failed.push(String((error as Error).message));
  }
}
await knex.destroy();
process.stdout.write(`${JSON.stringify({ succeeded, failed })}\n`);

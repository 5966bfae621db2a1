/**
 * A child process for the time-zone tests: runs in the `TZ` its parent gives it, on a PostgreSQL
 * session of another `TimeZone`, and replaces a picture twice on a `created_at` of the given type
 * (`timestamp` or `timestamptz`). Prints what it saw as JSON on stdout.
 *
 * argv: <PG url> <schema> <column type> <session TimeZone> <store root>
 */
import knexFactory from 'knex';
import { Model } from 'objection';
import { withStore } from '../../../src/context.js';
import { imageSet } from '../../../src/entity/image-set.js';
import { committedOutcome, noteForRow } from '../../../src/entity/staged-writes.js';
import { FileSystemStore } from '../../../src/stores/fs.js';
import { jpeg } from '../../support/images.js';
import { User, UserPicture } from '../models.js';

const [url, schema, columnType, sessionZone, root] = process.argv.slice(2) as [string, string, string, string, string];
const knex = knexFactory({
  client: 'pg',
  connection: { connectionString: url, options: `-c TimeZone=${sessionZone}` },
  searchPath: [schema],
  pool: { min: 0, max: 3 },
});
Model.knex(knex);
try {
  await knex.raw('CREATE TABLE users (id SERIAL PRIMARY KEY, name VARCHAR(100) NOT NULL)');
  await knex.raw(
    `CREATE TABLE user_picture (user_id INTEGER NOT NULL REFERENCES users (id), width INTEGER NOT NULL, height INTEGER NOT NULL,
      mimetype VARCHAR(255) NOT NULL, original BOOLEAN NOT NULL, created_at ${columnType} NOT NULL, PRIMARY KEY (user_id, width, height))`,
  );
  const store = new FileSystemStore({ path: root, baseUrl: 'http://static.example.com/' });
  const user = await User.query().insert({ name: 'Zoned' });
  const replacements: Array<{ ms: number; createdAt: number; ts: string }> = [];
  let last: UserPicture | undefined;
  for (let i = 0; i < 3; i++) {
    const bytes = await jpeg(40, 30);
    const started = performance.now();
    const image = (last = await withStore(store, () => imageSet(user, 'picture').fromBlob(bytes)));
    replacements.push({
      ms: performance.now() - started,
      createdAt: image.created_at.getTime(),
      ts: /_ts=(\d+)/.exec(image.locate({ store }))![1]!,
    });
  }
  const row = (await UserPicture.query().where('user_id', user.id))[0]!;
  const [wall] = (
    await knex.raw(`SELECT to_char(created_at, 'YYYYMMDDHH24MISSUS') AS digits FROM user_picture WHERE user_id = ?`, [
      user.id,
    ])
  ).rows;
  process.stdout.write(
    JSON.stringify({
      now: Date.now(),
      replacements,
      read: { createdAt: row.created_at.getTime(), ts: /_ts=(\d+)/.exec(row.locate({ store }))![1]! },
      databaseDigits: wall.digits,
      // As the ledger asks it of the row it inserted, when a COMMIT's answer is lost.
      outcome: await committedOutcome(knex, noteForRow(last! as never)),
    }),
  );
} finally {
  await knex.destroy();
}

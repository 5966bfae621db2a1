/**
 * A child process for the crash tests: replaces a user's picture with a same-size image, then
 * stops at an instant and says so on stdout, for the parent to kill it there (SIGKILL).
 *
 * argv: <knex config JSON> <store root> <user id> <new image file> <instant>
 * instants:
 * - `in-transaction`: the replacement is written in the caller's transaction, not committed yet;
 * - `after-commit`: committed, the swap of the new bytes into place not done yet.
 */
import knexFactory from 'knex';
import { Model } from 'objection';
import { imageSet } from '../../../src/entity/image-set.js';
import { FileSystemStore } from '../../../src/stores/fs.js';
import { User } from '../models.js';

const [config, root, userId, file, instant] = process.argv.slice(2) as [string, string, string, string, string];
const knex = knexFactory(JSON.parse(config));
Model.knex(knex);
const forever = new Promise<never>(() => {});
const say = (word: string) => process.stdout.write(`${word}\n`);

const store = new FileSystemStore({ path: root, baseUrl: 'http://static.example.com/' });
// Stops before swapping staged bytes into place (after the commit).
const staging = store.staging!;
const promote = staging.promote.bind(staging);
staging.promote = async (key, token) => {
  if (instant === 'after-commit') {
    say('committed');
    await forever;
  }
  return promote(key, token);
};
const user = (await User.query().findById(Number(userId)))!;
if (instant === 'in-transaction') {
  await knex.transaction(async (trx) => {
    await imageSet(user, 'picture').fromFile(file, { store, trx, thumbnails: [{ width: 50 }] });
    say('replaced');
    await forever;
  });
} else {
  await imageSet(user, 'picture').fromFile(file, { store, thumbnails: [{ width: 50 }] });
}

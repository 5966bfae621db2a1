/**
 * The body both crash children share: replaces a user's picture in `store` with the image in
 * `file`, stopping for good at `instant` after saying so on stdout, for the parent to kill it.
 * - `in-transaction`: written (staged) in the caller's transaction, not committed yet;
 * - `after-commit`: committed, the move of the new bytes into place not done yet.
 */
import type { Knex } from 'knex';
import { imageSet } from '../../../src/entity/image-set.js';
import type { Store } from '../../../src/stores/store.js';
import { User } from '../models.js';

export async function replaceUntil(
  knex: Knex,
  store: Store,
  userId: string,
  file: string,
  instant: string,
): Promise<void> {
  const forever = new Promise<never>(() => {});
  const say = (word: string) => process.stdout.write(`${word}\n`);
  // Stops before moving staged bytes into place (after the commit).
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
}

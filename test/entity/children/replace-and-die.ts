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
import { FileSystemStore } from '../../../src/stores/fs.js';
import { replaceUntil } from './replace-until.js';

const [config, root, userId, file, instant] = process.argv.slice(2) as [string, string, string, string, string];
const knex = knexFactory(JSON.parse(config));
Model.knex(knex);

const store = new FileSystemStore({ path: root, baseUrl: 'http://static.example.com/' });
await replaceUntil(knex, store, userId, file, instant);

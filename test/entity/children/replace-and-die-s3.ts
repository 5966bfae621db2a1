/**
 * A child process for the S3 crash tests: replaces a user's picture on an S3Store with a same-size
 * image, then stops at an instant and says so on stdout, for the parent to kill it (SIGKILL).
 *
 * argv: <knex config JSON> <S3 endpoint> <bucket> <user id> <new image file> <instant>
 * instants:
 * - `in-transaction`: the replacement is written (staged) in the caller's transaction, not committed yet;
 * - `after-commit`: committed, the copy of the new bytes into place not done yet.
 */
import knexFactory from 'knex';
import { Model } from 'objection';
import { S3Store } from '../../../src/stores/s3.js';
import { TEST_CREDENTIALS } from '../../support/s3.js';
import { replaceUntil } from './replace-until.js';

const [config, endpoint, bucket, userId, file, instant] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string,
];
const knex = knexFactory(JSON.parse(config));
Model.knex(knex);

const store = new S3Store({
  bucket,
  endpoint,
  forcePathStyle: true,
  credentials: TEST_CREDENTIALS,
  requestChecksumCalculation: 'WHEN_REQUIRED',
});
await replaceUntil(knex, store, userId, file, instant);

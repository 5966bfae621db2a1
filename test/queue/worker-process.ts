/**
 * A worker in a process of its own, for the test that kills one mid-job. Its store writes half
 * of each thumbnail and then stalls, so the test knows the worker is mid-write when it kills it.
 *
 * Run: node --import tsx --conditions=objection-imageattach-source test/queue/worker-process.ts DB_FILE STORE_ROOT QUEUE_NAME [MODE]
 * Prints `ready` once its worker runs, and `half-written` when a write has stalled.
 *
 * MODE `graceful`: writes are slowed (300 ms) instead of stalled, and printed as `writing`; the
 * worker closes on SIGTERM, then the process closes the database and exits by itself.
 */
import knexFactory from 'knex';
import { Model } from 'objection';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { FileSystemStore } from '../../src/index.js';
import { thumbnailQueue } from '../../src/queue.js';
import { User } from '../entity/models.js';
import { HookedStore } from '../support/hooked-store.js';
import { REDIS_URL } from './support.js';

const [dbFile, storeRoot, queueName, mode] = process.argv.slice(2);
const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: dbFile! }, useNullAsDefault: true });
Model.knex(knex);

const store = new HookedStore(
  new FileSystemStore({ path: storeRoot!, baseUrl: 'http://static.example.com/' }),
  async (key, stream) => {
    if (key.width !== 100) return;
    if (mode === 'graceful') {
      process.stdout.write('writing\n');
      await new Promise((resolve) => setTimeout(resolve, 300));
      return;
    }
    const bytes = await buffer(stream);
    // Half the bytes, then nothing: the write never ends, and the process is killed in it.
    const stalled = new Readable({ read() {} });
    stalled.push(bytes.subarray(0, Math.ceil(bytes.length / 2)));
    setTimeout(() => process.stdout.write('half-written\n'), 50);
    return stalled;
  },
);

const queue = thumbnailQueue({
  connection: REDIS_URL,
  queueName: queueName!,
  models: { User },
  stores: { default: store },
});
const worker = await queue.worker({ lockDuration: 1000, stalledInterval: 500 });
process.stdout.write('ready\n');
if (mode === 'graceful') {
  worker.closeOnSignals(['SIGTERM']);
  await worker.closed;
  await queue.close();
  await knex.destroy();
  process.stdout.write('closed\n');
}

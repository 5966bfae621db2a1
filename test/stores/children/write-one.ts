/**
 * A child process that writes one file into a filesystem store and prints what happened as JSON
 * (`{ ok: true }` or the error's code and message). Used to run a write as an unprivileged user.
 *
 * argv: <store root>
 */
import { Readable } from 'node:stream';
import { FileSystemStore } from '../../../src/stores/fs.js';

const store = new FileSystemStore({ path: process.argv[2]!, baseUrl: 'http://static.example.com/' });
try {
  await store.putFile(
    { objectType: 'user-picture', objectId: 1, width: 10, height: 10, mimetype: 'image/png' },
    Readable.from([Buffer.from('bytes')]),
    { reproducible: false },
  );
  process.stdout.write(JSON.stringify({ ok: true }));
} catch (error) {
  const e = error as { code?: string; message: string; statusCode?: number };
  process.stdout.write(JSON.stringify({ code: e.code, statusCode: e.statusCode, message: e.message }));
}

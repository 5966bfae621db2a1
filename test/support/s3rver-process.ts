/**
 * s3rver in a process of its own, for tests that measure the client's memory: an in-process
 * server's buffers would count in the same RSS. Prints `{"port":N}` once listening; exits when
 * its stdin closes (the parent test ended or died), removing its folder.
 *
 * Run: node --openssl-legacy-provider --import tsx test/support/s3rver-process.ts
 */
import S3rver from 's3rver';
import { removeDir, tempDir } from './tmp.js';

const directory = await tempDir('s3rver-process');
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory });
const { port } = await server.run();
process.stdout.write(`${JSON.stringify({ port })}\n`);

process.stdin.resume();
process.stdin.on('close', async () => {
  await server.close();
  await removeDir(directory);
  process.exit(0);
});

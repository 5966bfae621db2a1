// The core entry point loads no Express, multer, static-server (etag, fresh, range-parser,
// mime-types, mime-db), AWS SDK or BullMQ module, and sharp only when an
// image is processed: checked in the module cache after a cold import.
import { createRequire } from 'node:module';

await import('objection-imageattach');
const loaded = Object.keys(createRequire(import.meta.url).cache).map(
  (f) => f.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//)?.[1],
);
const forbidden = loaded.filter(
  (name) =>
    name &&
    /^(express|multer|busboy|etag|fresh|range-parser|mime-types|mime-db|@aws-sdk\/.*|bullmq|ioredis|sharp)$/.test(name),
);
if (forbidden.length > 0) {
  console.error(`the root entry point loaded: ${[...new Set(forbidden)].join(', ')}`);
  process.exit(1);
}
console.log(
  'consumer: the root entry point loads no express, multer, static-server packages, AWS SDK, bullmq or sharp',
);

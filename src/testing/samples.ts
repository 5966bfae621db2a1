/** Inputs the store contract uses, exported for a store's own tests. */
import { Readable } from 'node:stream';
import type { ImageKey } from '../stores/keys.js';

/** A valid key: a 405×640 JPEG of object 1234 of type `testing`. Spread it to vary one part. */
export const sampleKey: Readonly<ImageKey> = Object.freeze({
  objectType: 'testing',
  objectId: 1234,
  width: 405,
  height: 640,
  mimetype: 'image/jpeg',
});

/**
 * A stream that yields `chunks` and then fails with `error`, as a client that drops mid-upload
 * would: a store given it must reject and leave nothing behind.
 */
export function failingStream(chunks: Buffer[], error: Error = new Error('client went away')): Readable {
  const left = [...chunks];
  return new Readable({
    read() {
      const next = left.shift();
      if (next) this.push(next);
      else this.destroy(error);
    },
  });
}

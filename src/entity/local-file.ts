/**
 * Opening files on the local disk for the entity layer: inputs to copy, originals to resize.
 */
import { access, open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { ImageNotFoundError } from '../errors.js';
import type { Store } from '../stores/store.js';
import type { ImageEntity } from './image.js';

/**
 * A stream of a local file, opened now: a missing file rejects here, in the transaction, rather
 * than as an 'error' event of a stream no one listens to yet (which would crash the process).
 */
export async function openLocalFile(file: string): Promise<Readable> {
  return (await open(file, 'r')).createReadStream();
}

/** The original for sharp to read: its local path when the store has one, else a stream. */
export async function openForProcessing(store: Store, image: ImageEntity): Promise<Readable | string> {
  const file = store.localPath(image);
  if (file === undefined) return store.open(image);
  try {
    await access(file);
  } catch (error) {
    throw new ImageNotFoundError(`No image file at ${file}`, { cause: error, data: { path: file } });
  }
  return file;
}

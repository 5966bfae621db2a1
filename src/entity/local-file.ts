/**
 * Opening an original on the local disk for the entity layer, to resize.
 */
import { access } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { ImageNotFoundError } from '../errors.js';
import type { Store } from '../stores/store.js';
import type { ImageEntity } from './image.js';
import { checked } from '../stores/checked-calls.js';

/** The original for sharp to read: its local path when the store has one, else a stream. */
export async function openForProcessing(store: Store, image: ImageEntity): Promise<Readable | string> {
  const file = checked(store).localPath(image);
  if (file === undefined) return store.open(image);
  try {
    await access(file);
  } catch (error) {
    // The message may reach a page: it names the image, the full path is in data.
    throw new ImageNotFoundError(`No image file for ${image.objectType}/${image.objectId} ${image.width}x${image.height} ${image.mimetype}`, { cause: error, data: { path: file } });
  }
  return file;
}

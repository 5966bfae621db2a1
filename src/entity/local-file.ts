/**
 * Opening an original on the local disk for the entity layer, to resize.
 */
import { access, open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { ImageNotFoundError } from '../errors.js';
import { toDate } from '../stores/keys.js';
import { noteIsFor, noteKey } from '../stores/staging.js';
import type { Store } from '../stores/store.js';
import type { ImageEntity } from './image.js';
import { checked } from '../stores/checked-calls.js';

/** The original for sharp to read: its local path when the store has one, else a stream. */
export async function openForProcessing(store: Store, image: ImageEntity): Promise<Readable | string> {
  const committed = await committedButStaged(store, image);
  if (committed !== undefined) return committed;
  const file = checked(store).localPath(image);
  if (file === undefined) return store.open(image);
  try {
    await access(file);
  } catch (error) {
    // The message may reach a page: it names the image, the full path is in data.
    throw new ImageNotFoundError(
      `No image file for ${image.objectType}/${image.objectId} ${image.width}x${image.height} ${image.mimetype}`,
      { cause: error, data: { path: file } },
    );
  }
  return file;
}

/**
 * The bytes of `image` when its row is committed but they still wait in the store's staging area:
 * a replacement of the same key whose process has not renamed them in yet (another process, in
 * the moment after its COMMIT, or one that died there). The path still holds the bytes replaced
 * then. They are read from a file opened now, so the rename cannot take them away mid-read.
 * `undefined` when the path holds the image's bytes (nothing is staged for it: one listing of a
 * folder that is nearly always empty).
 */
export async function committedButStaged(store: Store, image: ImageEntity): Promise<Readable | undefined> {
  const staging = store.staging;
  if (staging === undefined) return undefined;
  const entries = await staging.list().catch(() => {
    // A staging area this process cannot list holds nothing it could read either: the path it is.
    return [];
  });
  if (entries.length === 0) return undefined;
  const key = noteKey(image);
  const createdAt = toDate(image.created_at).getTime();
  for (const entry of entries) {
    const note = await staging.readNote(entry.token);
    if (note === undefined || note === 'unreadable' || !noteIsFor(note, key) || note.row.createdAt !== createdAt)
      continue;
    try {
      const staged = await staging.open(entry.token);
      return typeof staged === 'string' ? (await open(staged)).createReadStream() : staged;
    } catch (error) {
      // Moved in meanwhile: the path holds them now.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || error instanceof ImageNotFoundError) return undefined;
      throw error;
    }
  }
  return undefined;
}

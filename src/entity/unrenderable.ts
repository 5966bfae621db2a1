/**
 * Stored originals that cannot be rendered. An original the decoder refuses (damaged on disk, or
 * written by another program) is a fault of the server's data, not of the request that asked for
 * its thumbnail: it answers `ERR_ORIGINAL_UNREADABLE` (422), never a 400 that blames the request
 * nor a store-write 500. Each is remembered, keyed by the original's row (its `created_at`
 * included, so a replacement starts afresh), and its next thumbnails fail at once instead of
 * decoding it again.
 */
import { ImageAttachError, ImageNotFoundError, InvalidImageError } from '../errors.js';
import type { Store } from '../stores/store.js';
import { BoundedMap } from '../util/bounded-map.js';
import type { ImageEntity } from './image.js';
import { storeTag } from '../util/cache-keys.js';

/** The decoder's reason, by original (store, key, `created_at`, pixel limit). */
const unrenderable = new BoundedMap<string, string>(1000);

function keyOf(store: Store, original: ImageEntity, maxPixels: number): string {
  const created = original.created_at instanceof Date ? original.created_at.getTime() : String(original.created_at);
  return `${storeTag(store)}:${original.objectType}/${original.objectId}:${original.width}x${original.height}:${original.mimetype}:${created}:${maxPixels}`;
}

/** @throws ImageAttachError `ERR_ORIGINAL_UNREADABLE` when `original` was found not to render lately */
export function checkRenderable(store: Store, original: ImageEntity, maxPixels: number): void {
  const reason = unrenderable.get(keyOf(store, original, maxPixels));
  if (reason !== undefined) throw unreadableOriginal(original, reason);
}

/**
 * What to throw for `error`, met while rendering a thumbnail of the stored `original`: a missing
 * file is an `ImageNotFoundError` (404); a decoding failure `ERR_ORIGINAL_UNREADABLE` (422),
 * remembered when `remember` (the input was the store's own local file, so no network could have
 * cut it short); anything else (a store's or the system's error) is returned as it is.
 */
export function renderFailure(
  error: unknown,
  store: Store,
  original: ImageEntity,
  maxPixels: number,
  remember: boolean,
): unknown {
  const decoder = error instanceof InvalidImageError ? ((error.cause as Error | undefined) ?? error) : error;
  const message = (decoder as Error | undefined)?.message ?? String(decoder);
  if ((decoder as NodeJS.ErrnoException)?.code === 'ENOENT' || /input file is missing|no such file/i.test(message)) {
    // The message may reach a page: it names the image; the cause keeps the decoder's words.
    return new ImageNotFoundError(`No image file for ${describe(original)}`, { cause: error });
  }
  const fromDecoder =
    error instanceof InvalidImageError ||
    (error instanceof Error &&
      !(error instanceof ImageAttachError) &&
      (error as NodeJS.ErrnoException).code === undefined);
  if (!fromDecoder) return error;
  const reason = withoutPaths(message);
  if (remember) unrenderable.set(keyOf(store, original, maxPixels), reason);
  return unreadableOriginal(original, reason, error);
}

function unreadableOriginal(original: ImageEntity, reason: string, cause?: unknown): ImageAttachError {
  return new ImageAttachError(
    'ERR_ORIGINAL_UNREADABLE',
    `The stored original ${describe(original)} cannot be decoded, so no thumbnail can be made of it (${reason}): replace it, or find such files with \`objection-imageattach verify --deep\``,
    {
      cause,
      statusCode: 422,
      data: {
        objectType: original.objectType,
        objectId: String(original.objectId),
        width: original.width,
        height: original.height,
        mimetype: original.mimetype,
      },
    },
  );
}

function describe(original: ImageEntity): string {
  return `${original.objectType}/${original.objectId} ${original.width}x${original.height} ${original.mimetype}`;
}

/** The decoder's words without the file paths they may hold (a message may reach a page). */
function withoutPaths(message: string): string {
  return message.replace(/(^|[\s('"=:])(?:[A-Za-z]:)?[\\/][^\s'")]+/g, '$1<file>').trim();
}
